"""Deletion: what a ManagedEndpoint takes with it, and what it leaves.

`deletionPolicy: Delete` deletes the endpoint (never one someone else owns), the
models and configs sagemeter made for it, its alarm and its route; then kopf
releases the finalizer. `Retain` (and dry run) leave AWS as it is; an adopted
endpoint is handed back (ownership tags dropped, opted out if it was discovered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sagemeter.api.models import GROUP, Phase
from sagemeter.core.endpoint.plan import Action, plan_parked
from sagemeter.discovery.sweeper import DISCOVERED, OPT_OUT
from sagemeter.runtime.context import Context, Degraded
from sagemeter.runtime.metrics import FLEET

if TYPE_CHECKING:
    from sagemeter.controller.reconciler import Reconciler


async def finalize(rec: Reconciler, ctx: Context) -> float | None:
    """Clean up AWS for a deleted object; None when done, else seconds to wait."""
    FLEET.forget(ctx.uid)
    if ctx.spec.deletion_policy == "Retain" or rec.settings.dry_run:
        reason = "Retained" if ctx.spec.deletion_policy == "Retain" else "WouldDelete"
        if ctx.spec.adopt:
            await _release(rec, ctx)
        rec.event(ctx, "Normal", reason, f"leaving endpoint {ctx.endpoint_name} in AWS")
        return None
    endpoint = await rec.workers.run(ctx.gateway.describe_endpoint, ctx.endpoint_name)
    if endpoint is not None:
        try:
            await rec.check_owner(ctx, endpoint, trust_status=False)
        except Degraded as conflict:
            rec.event(ctx, "Warning", conflict.reason, conflict.message + "; not deleted")
            endpoint = None
    if endpoint is not None:
        step = plan_parked(endpoint.view(), "Deleting")
        if step.action == Action.DELETE:
            await rec.workers.run(ctx.gateway.delete_endpoint, ctx.endpoint_name)
            rec.event(ctx, "Normal", "Deleting", f"deleting endpoint {ctx.endpoint_name}")
        await rec.workers.run(
            rec.kube.patch_status,
            ctx.namespace,
            ctx.name,
            {"phase": Phase.DELETING.value, "sagemakerStatus": "Deleting"},
        )
        return rec.settings.poll_seconds
    await rec.workers.run(rec.idle.drop, ctx.region, ctx.endpoint_name)
    if not ctx.spec.adopt:
        await rec.cleanup.collect_garbage(ctx, keep=set())
    if ctx.spec.api is not None or ctx.status.invoke_url:
        await rec.route_sync.remove(ctx)
    rec.event(ctx, "Normal", "Deleted", f"removed endpoint {ctx.endpoint_name} from AWS")
    return None


async def _release(rec: Reconciler, ctx: Context) -> None:
    """Hand an adopted endpoint back: drop ownership tags and the alarm.

    An object made by tag discovery also opts the endpoint out, so the next
    discovery sweep does not adopt it again.
    """
    endpoint = await rec.workers.run(ctx.gateway.describe_endpoint, ctx.endpoint_name)
    await rec.workers.run(rec.idle.drop, ctx.region, ctx.endpoint_name)
    if endpoint is None:
        return
    tags = await rec.workers.run(ctx.gateway.list_tags, endpoint.arn)
    if not ctx.owner.owns(tags):
        return
    labels = ctx.body["metadata"].get("labels") or {}
    if labels.get(DISCOVERED) == "true":
        await rec.workers.run(ctx.gateway.add_tags, endpoint.arn, {OPT_OUT: "true"})
    ours = [key for key in tags if key.startswith(f"{GROUP}/") and key != OPT_OUT]
    await rec.workers.run(ctx.gateway.delete_tags, endpoint.arn, ours)
    rec.event(ctx, "Normal", "Released", f"released endpoint {ctx.endpoint_name}")
