"""controller.targets keeps one target per object, its latest generation's, and none once the
object is deleted: a thousand objects updated a hundred times hold a thousand targets."""

from __future__ import annotations

import asyncio

from sagemeter.controller.targets import Targets
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import Workers
from tests.contexts import ROLE, context


def test_one_target_per_object_replaced_by_each_generation_and_gone_with_it() -> None:
    targets = Targets(Settings(region="us-east-1"), Workers(threads=1))

    async def run() -> None:
        for generation in range(1, 6):
            for uid in ("a", "b"):
                target = await targets.resolve(
                    context(
                        uid,
                        generation=generation,
                        image=f"image:{generation}",
                        gateway_client=object(),
                    ),
                    None,
                )
                assert f"image:{generation}" in repr(target)
        assert targets.kept() == 2
        kept = await targets.resolve(
            context("a", generation=5, image="image:5", gateway_client=object()), None
        )
        assert (
            await targets.resolve(
                context("a", generation=5, image="image:5", gateway_client=object()), None
            )
            is kept
        )  # not remade
        other_role = await targets.resolve(
            context("a", generation=5, image="image:5", default_role=ROLE, gateway_client=object()),
            None,
        )
        assert other_role is not kept
        assert targets.kept() == 2
        targets.forget("a")
        assert targets.kept() == 1
        targets.forget("a")  # twice is harmless
        targets.forget("b")
        assert targets.kept() == 0

    asyncio.run(run())
