"""Housekeeping in AWS on resources proven the object's own: tag edits, adoption and release,
and models and configs nothing uses any more.

Every write here follows a proof: the endpoint's ownership was decided by the pass before these
run, and each model or config is deleted only when its own tags name the object (a name that
merely looks like ours proves nothing: another object may use the same endpoint name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sagemeter.api.models import Phase
from sagemeter.aws.sagemaker import SageMakerGateway
from sagemeter.core.discovery import OPT_OUT
from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.ownership import ADOPTED, RELEASED, Owner
from sagemeter.core.endpoint.plan import settle_work
from sagemeter.core.endpoint.requests import Target
from sagemeter.core.endpoint.tags import released_keys, resource_tags, spec_tag_keys, tag_changes
from sagemeter.runtime.context import Context
from sagemeter.runtime.workers import Workers

Event = Callable[[Context, str, str, str], None]


class Cleanup:
    def __init__(self, workers: Workers, event: Event) -> None:
        self.workers = workers
        self.event = event

    async def sync_tags(
        self, ctx: Context, arn: str, desired: Mapping[str, str], previously_set: list[str]
    ) -> None:
        """Bring the endpoint's tags to `desired`, removing only keys sagemeter set before."""
        current = await self.workers.run(ctx.gateway.list_tags, arn)
        to_add, to_remove = tag_changes(current, desired, previously_set)
        if to_add or to_remove:
            await self.workers.run(ctx.gateway.add_tags, arn, to_add)
            await self.workers.run(ctx.gateway.delete_tags, arn, to_remove)
            self.event(
                ctx,
                "Normal",
                "TagsUpdated",
                f"tags on {ctx.endpoint_name}: set {sorted(to_add)}, removed {to_remove}",
            )

    async def settle(
        self, ctx: Context, arn: str, target: Target, recorded_phase: Phase | None
    ) -> list[str] | None:
        """Once serving the target config: tag edits, superseded models and configs removed.
        The spec tag keys now set, when tags were synced (None: untouched)."""
        work = settle_work(
            spec_changed=ctx.status.observed_generation != ctx.generation,
            was_serving=recorded_phase == Phase.IN_SERVICE,
            recorded_config=ctx.status.endpoint_config_name,
            target_config=target.config_name,
            owns_config=target.owns_config,
            cleanup_pending=bool(ctx.status.cleanup_pending),
        )
        applied = None
        if work.sync_tags:
            desired = resource_tags(ctx.owner, ctx.spec.tags, adopted=ctx.spec.adopt)
            await self.sync_tags(ctx, arn, desired, ctx.status.applied_tag_keys or [])
            applied = spec_tag_keys(ctx.spec.tags)
        if work.collect_garbage:
            await self.collect_garbage(ctx, keep={target.config_name, target.model_name or ""})
        return applied

    async def adopt(
        self, ctx: Context, arn: str, tags: Mapping[str, str], released: bool = False
    ) -> None:
        await self.workers.run(ctx.gateway.add_tags, arn, {**tags, ADOPTED: "true"})
        if released:  # taken under management again (by the adoption rule): ours now
            await self.workers.run(ctx.gateway.delete_tags, arn, [RELEASED])
        self.event(ctx, "Normal", "Adopted", f"took endpoint {ctx.endpoint_name} under management")

    async def release(self, ctx: Context, arn: str, adopted: bool, discovered: bool) -> None:
        """Hand the endpoint back (`Retain`, or an adopted one let go): tag it
        `sagemeter.io/released=true`, so it is nobody's in sagemeter any more. An adopted one
        also loses its ownership tags; one found by tag discovery is also opted out, so the next
        discovery sweep does not adopt it again."""
        tags = await self.workers.run(ctx.gateway.list_tags, arn)
        if not ctx.owner.owns(tags):
            return
        marks = {RELEASED: "true", **({OPT_OUT: "true"} if discovered else {})}
        await self.workers.run(ctx.gateway.add_tags, arn, marks)
        if adopted:
            await self.workers.run(
                ctx.gateway.delete_tags, arn, released_keys(tags, keep={OPT_OUT, RELEASED})
            )
        self.event(
            ctx,
            "Normal",
            "Released",
            f"released endpoint {ctx.endpoint_name}: tagged {RELEASED}=true, it is no longer"
            " sagemeter's (not counted, not parked, adopted again only by the adoption rule)",
        )

    async def collect_garbage(self, ctx: Context, keep: set[str]) -> None:
        """Delete the models and configs this object made that nothing uses any more."""
        gw, prefix = ctx.gateway, naming.resource_prefix(ctx.endpoint_name)
        configs = await self.workers.run(gw.list_endpoint_configs, f"{prefix}-c-")
        models = await self.workers.run(gw.list_models, f"{prefix}-m-")
        for kind, found, delete in (
            ("EndpointConfig", configs, gw.delete_endpoint_config),
            ("Model", models, gw.delete_model),
        ):
            for name, arn in found.items():
                candidate = naming.is_resource_of(ctx.endpoint_name, name) and name not in keep
                if candidate and await self._owned(gw, arn, ctx.owner):
                    await self.workers.run(delete, name)
                    self.event(ctx, "Normal", "Cleanup", f"deleted superseded {kind} {name}")

    async def _owned(self, gateway: SageMakerGateway, arn: str, owner: Owner) -> bool:
        return owner.owns(await self.workers.run(gateway.list_tags, arn))
