"""Housekeeping in AWS: tag edits, and models and configs nothing uses any more."""

from __future__ import annotations

import re
from collections.abc import Callable

from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.requests import tag_changes
from sagemeter.runtime.context import Context
from sagemeter.runtime.workers import Workers


class Cleanup:
    def __init__(self, workers: Workers, event: Callable[[Context, str, str, str], None]) -> None:
        self.workers = workers
        self.event = event

    async def sync_tags(self, ctx: Context, arn: str, desired: dict[str, str]) -> None:
        current = await self.workers.run(ctx.gateway.list_tags, arn)
        removable = set() if ctx.spec.adopt else {k for k in current if not k.startswith("aws:")}
        to_add, to_remove = tag_changes(current, desired, removable)
        if to_add or to_remove:
            await self.workers.run(ctx.gateway.add_tags, arn, to_add)
            await self.workers.run(ctx.gateway.delete_tags, arn, to_remove)
            self.event(
                ctx, "Normal", "TagsUpdated",
                f"tags on {ctx.endpoint_name}: set {sorted(to_add)}, removed {to_remove}",
            )

    async def collect_garbage(self, ctx: Context, keep: set[str]) -> None:
        """Delete models and configs sagemeter made for this endpoint that nothing uses."""
        gw, prefix = ctx.gateway, naming.resource_prefix(ctx.endpoint_name)
        ours = re.compile(rf"^{re.escape(prefix)}-[mc]-[0-9a-f]{{{naming.HASH_LENGTH}}}$")
        configs = await self.workers.run(gw.list_endpoint_config_names, f"{prefix}-c-")
        models = await self.workers.run(gw.list_model_names, f"{prefix}-m-")
        for config in configs:
            if ours.match(config) and config not in keep:
                await self.workers.run(gw.delete_endpoint_config, config)
                self.event(ctx, "Normal", "Cleanup", f"deleted superseded EndpointConfig {config}")
        for model in models:
            if ours.match(model) and model not in keep:
                await self.workers.run(gw.delete_model, model)
                self.event(ctx, "Normal", "Cleanup", f"deleted superseded Model {model}")
