"""The one reconcile path: observe -> plan -> act -> status.

Every trigger (creation, spec change, a deadline, the periodic sync, a restart)
runs `Reconciler.reconcile`; object deletion runs `Reconciler.finalize`. Each
pass takes at most one step in AWS and then re-observes, so a crash anywhere
resumes from what AWS shows. AWS calls run in a thread pool: a slow call never
holds up the operator's event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from sagemeter.api.models import (
    WAKE_ANNOTATION,
    ConditionType,
    ManagedEndpoint,
    ManagedEndpointStatus,
    Phase,
)
from sagemeter.aws.audit import AWS_CONTEXT
from sagemeter.aws.clients import client
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.sagemaker import EndpointDescription, SageMakerGateway
from sagemeter.controller.cleanup import Cleanup
from sagemeter.controller.directory import EndpointDirectory
from sagemeter.controller.finalizer import finalize
from sagemeter.controller.targets import Targets
from sagemeter.core.conditions import get_condition
from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.desired import Desired, desired_state, idle_record, still_idle_parked
from sagemeter.core.endpoint.plan import Action, Attempt, Step, plan_parked, plan_running
from sagemeter.core.endpoint.requests import (
    ADOPTED,
    Owner,
    Target,
    other_owner,
)
from sagemeter.core.endpoint.status import Problem, Seen, compose_status, newly
from sagemeter.core.meter.pricing import format_usd
from sagemeter.core.meter.times import parse_time
from sagemeter.idle.alarms import IdleAlarms, IdleView
from sagemeter.routes.sync import RouteOutcome, RouteSync
from sagemeter.runtime.context import Context, Degraded, EventSink
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.metrics import FLEET
from sagemeter.runtime.prices import load_prices
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import Workers

log = logging.getLogger("sagemeter")
T = TypeVar("T")
SETTLED = {"InService", "Failed"}
# While a route change waits for its coalesced deployment.
ROUTE_DEPLOY_POLL = 2.0


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        events: EventSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        threads: int = 32,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.events = events
        self.clock = clock
        self.workers = Workers(threads)
        self._gateways: dict[str, SageMakerGateway] = {}
        self._directories: dict[str, EndpointDirectory] = {}
        self.idle = IdleAlarms(settings.sync_seconds)
        self.prices = load_prices(settings.price_file)
        self.targets = Targets(settings, self.workers)
        self.cleanup = Cleanup(self.workers, self.event)
        self.route_sync = RouteSync(settings, kube, self.workers)

    # ------------------------------------------------------------------ plumbing

    def gateway(self, region: str) -> SageMakerGateway:
        if region not in self._gateways:
            self._gateways[region] = SageMakerGateway(region, client("sagemaker", region))
        return self._gateways[region]

    def directory(self, region: str) -> EndpointDirectory:
        if region not in self._directories:
            self._directories[region] = EndpointDirectory(
                self.gateway(region).sweep_endpoints, self.settings.sync_seconds
            )
        return self._directories[region]

    def _context(self, body: Mapping[str, Any]) -> Context:
        meta = body["metadata"]
        obj = ManagedEndpoint.model_validate(
            {"spec": dict(body.get("spec") or {}), "status": dict(body.get("status") or {})}
        )
        region = obj.spec.region or self.settings.region
        namespace, name = meta["namespace"], meta["name"]
        return Context(
            body=body,
            namespace=namespace,
            name=name,
            uid=meta["uid"],
            generation=int(meta.get("generation") or 1),
            created=parse_time(meta["creationTimestamp"]),
            obj=obj,
            owner=Owner(namespace, name, meta["uid"]),
            region=region,
            endpoint_name=obj.spec.endpoint_name or naming.default_endpoint_name(namespace, name),
            gateway=self.gateway(region),
        )

    def event(self, ctx: Context, type_: str, reason: str, message: str) -> None:
        log.info(
            "%s/%s %s: %s", ctx.namespace, ctx.name, reason, message,
            extra={"object": f"{ctx.namespace}/{ctx.name}", "endpoint": ctx.endpoint_name},
        )
        self.events(ctx.body, type_, reason, message)

    # ------------------------------------------------------------------ the pass

    async def reconcile(self, body: Mapping[str, Any]) -> float:
        """One pass; returns seconds until the next one is due."""
        try:
            ctx = self._context(body)
        except ValidationError as error:
            log.error("cannot read %s: %s", body.get("metadata", {}).get("name"), error)
            return self.settings.sync_seconds
        AWS_CONTEXT.set({"object": f"{ctx.namespace}/{ctx.name}", "endpoint": ctx.endpoint_name})
        now = self.clock()
        policy = self.settings.expiry_policy
        wake_token = (body["metadata"].get("annotations") or {}).get(WAKE_ANNOTATION)
        expiry = desired_state(ctx.spec, ctx.created, now, policy).expiry
        idle_parked = still_idle_parked(ctx.status.idle_park, expiry, wake_token)
        step: Step | None = None
        problem: Problem | None = None
        seen = Seen(ctx.endpoint_name, None)
        wake = self.settings.sync_seconds
        dry_run_park = False
        idle_view = IdleView()
        desired = desired_state(ctx.spec, ctx.created, now, policy, idle=idle_parked)
        try:
            endpoint = await self._observe(ctx)
            await self.check_owner(ctx, endpoint)
            # Only an endpoint proven ours (or adopted) is recorded in status.
            seen = self._seen(ctx, endpoint, None)
            if desired.running and endpoint is not None and endpoint.status == "InService":
                idle_view = await self._idle(ctx, now)
                if idle_view.idle:
                    desired = desired_state(ctx.spec, ctx.created, now, policy, idle=True)
            target: Target | None = None
            if desired.running:
                target = await self.targets.resolve(ctx, endpoint)
                seen = self._seen(ctx, endpoint, target)
                attempt = Attempt(ctx.status.attempted_config_name, ctx.status.attempted_generation)
                view = endpoint.view() if endpoint else None
                step = plan_running(target.config_name, view, attempt, ctx.generation)
            else:
                assert desired.reason is not None
                step = plan_parked(endpoint.view() if endpoint else None, desired.reason)
            if step.action == Action.DELETE and self.settings.dry_run and not desired.running:
                dry_run_park = True
            elif step.acts:
                seen = await self._act(ctx, step, target, seen)
            elif step.phase == Phase.IN_SERVICE and target is not None:
                await self._settle(ctx, endpoint, target)
            if step.acts or step.action == Action.WAIT:
                wake = self.settings.poll_seconds
            elif ctx.spec.idle is None and ctx.generation != ctx.status.observed_generation:
                await self.workers.run(self.idle.drop, ctx.region, ctx.endpoint_name)
        except Degraded as degraded:
            problem = Problem(degraded.reason, degraded.message)
        except AwsError as error:
            problem, wake = self._aws_problem(error)
        route = RouteOutcome(ctx.status.invoke_url, ctx.status.api_key_secret)
        try:
            route = await self.route_sync.sync(ctx)
        except AwsError as error:
            route_problem, _ = self._aws_problem(error)
            route = RouteOutcome(ctx.status.invoke_url, ctx.status.api_key_secret, route_problem)
        if route.pending:
            wake = min(wake, ROUTE_DEPLOY_POLL)
        problem = problem or route.problem
        if problem is None and desired.schedule_error:
            problem = Problem("InvalidSchedule", desired.schedule_error)
        if idle_view.armed_at is not None:
            wake = min(wake, max((idle_view.armed_at - now).total_seconds(), 0.0))
        hourly = self.prices.hourly(ctx.spec.instance_type, ctx.spec.instance_count)
        new = compose_status(
            ctx.status,
            desired=desired,
            step=step,
            seen=seen,
            problem=problem,
            generation=ctx.generation,
            now=now,
            dry_run_park=dry_run_park,
            idle_park=idle_record(
                ctx.status.idle_park, desired, idle_parked, expiry, wake_token, now,
                dry_run=self.settings.dry_run,
            ),
            last_invocation_at=idle_view.last_invocation_at,
            hourly_cost_usd=format_usd(hourly),
            invoke_url=route.invoke_url,
            api_key_secret=route.api_key_secret,
        )
        FLEET.update(ctx.uid, new.phase or "Pending", new.parked_reason, hourly)
        self._announce(ctx, new)
        await self._write_status(ctx, new)
        return _next_wake(wake, desired, now)

    async def _idle(self, ctx: Context, now: datetime) -> IdleView:
        """Keep the idle alarm of an InService endpoint; is it idle?"""
        if ctx.spec.idle is None:
            return IdleView()
        ready = get_condition(ctx.status.conditions, "Ready")
        since = (
            parse_time(ready.last_transition_time)
            if ready is not None and ready.status == "True" and ready.last_transition_time
            else now
        )
        return await self.workers.run(
            self.idle.keep,
            ctx.region,
            ctx.endpoint_name,
            ctx.spec.idle.after,
            ctx.spec.idle.grace_period,
            since,
            now,
            self._endpoint_tags(ctx),
        )

    def _announce(self, ctx: Context, new: ManagedEndpointStatus) -> None:
        """One Event per new problem, warning, verdict or park."""
        old = ctx.status
        if (condition := newly(old, new, ConditionType.DEGRADED)) is not None:
            self.event(ctx, "Warning", condition.reason or "Degraded", condition.message or "")
        if (condition := newly(old, new, ConditionType.EXPIRING_SOON)) is not None:
            self.event(ctx, "Normal", "ExpiringSoon", condition.message or "")
        if (condition := newly(old, new, ConditionType.PARKED, "False", "WouldPark")) is not None:
            self.event(ctx, "Normal", "WouldPark", condition.message or "")
        if (condition := newly(old, new, ConditionType.PARKED)) is not None:
            self.event(ctx, "Normal", "Parked", condition.message or "")

    def _aws_problem(self, error: AwsError) -> tuple[Problem, float]:
        if error.kind in (ErrorKind.RETRYABLE, ErrorKind.THROTTLED):
            return Problem("AWSUnavailable", f"{error.operation}: {error.message}"), min(
                self.settings.sync_seconds, self.settings.poll_seconds * 3
            )
        return Problem(_reason_for(error), f"{error.operation}: {error.message}"), (
            self.settings.sync_seconds
        )

    async def _observe(self, ctx: Context) -> EndpointDescription | None:
        """The endpoint as SageMaker shows it; from the sweep while nothing changes."""
        sighting = await self.workers.run(self.directory(ctx.region).lookup, ctx.endpoint_name)
        status = ctx.status
        unchanged = status.observed_generation == ctx.generation
        seen_status = sighting.status
        settled = seen_status in SETTLED and seen_status == status.sagemaker_status
        if unchanged and settled and status.endpoint_arn and status.endpoint_config_name:
            assert seen_status is not None
            return EndpointDescription(
                name=ctx.endpoint_name,
                arn=status.endpoint_arn,
                status=seen_status,
                config_name=status.endpoint_config_name,
                failure_reason=status.failure_reason,
                creation_time=None,
                last_modified_time=None,
                production_variants=[],
            )
        gone = sighting.status is None and status.sagemaker_status is None
        if unchanged and gone and status.phase == Phase.PARKED:
            return None
        described = await self.workers.run(ctx.gateway.describe_endpoint, ctx.endpoint_name)
        self.directory(ctx.region).record(
            ctx.endpoint_name, described.status if described else None
        )
        return described

    async def check_owner(
        self, ctx: Context, endpoint: EndpointDescription | None, *, trust_status: bool = True
    ) -> None:
        """Never touch an endpoint someone else owns; take an adopted one under our tags.

        Status records an ARN only once its tags proved it ours, so a known ARN
        skips the tag lookup; deletion (`trust_status=False`) always looks.
        """
        if endpoint is None or (trust_status and ctx.status.endpoint_arn == endpoint.arn):
            return
        tags = await self.workers.run(ctx.gateway.list_tags, endpoint.arn)
        other = other_owner(tags, ctx.owner)
        if other is None:
            return
        if ctx.spec.adopt and other == "a resource not managed by sagemeter":
            await self.workers.run(
                ctx.gateway.add_tags, endpoint.arn, {**ctx.owner.tags(), ADOPTED: "true"}
            )
            self.event(ctx, "Normal", "Adopted", f"took endpoint {endpoint.name} under management")
            return
        raise Degraded(
            "EndpointNameConflict",
            f"SageMaker endpoint {endpoint.name} already exists and belongs to {other};"
            " sagemeter leaves it alone (set spec.endpointName to another name, or"
            " spec.adopt to manage an endpoint made elsewhere)",
        )

    def _seen(
        self, ctx: Context, endpoint: EndpointDescription | None, target: Target | None
    ) -> Seen:
        return Seen(
            endpoint_name=ctx.endpoint_name,
            sagemaker_status=endpoint.status if endpoint else None,
            endpoint_arn=endpoint.arn if endpoint else None,
            config_name=(endpoint.config_name if endpoint else None)
            or (target.config_name if target else None),
            model_name=target.model_name if target else None,
            failure_reason=endpoint.failure_reason if endpoint else None,
        )

    # ------------------------------------------------------------------ acting

    async def _ensure_config(self, ctx: Context, target: Target) -> None:
        """Create the target's Model and EndpointConfig (idempotent: names are derived)."""
        if target.model_request is not None and target.config_request is not None:
            await self.workers.run(ctx.gateway.create_model, target.model_request)
            await self.workers.run(ctx.gateway.create_endpoint_config, target.config_request)

    def _endpoint_tags(self, ctx: Context) -> dict[str, str]:
        tags = {**ctx.owner.tags(), **(ctx.spec.tags or {})}
        if ctx.spec.adopt:
            tags[ADOPTED] = "true"
        return tags

    async def _act(self, ctx: Context, step: Step, target: Target | None, seen: Seen) -> Seen:
        gw, name = ctx.gateway, ctx.endpoint_name
        if step.action in (Action.CREATE, Action.UPDATE):
            assert target is not None
            # A config this object ran on before is kept while parked: resuming is then
            # one CreateEndpoint. Otherwise (or if it vanished) make model and config first.
            kept = ctx.status.endpoint_config_name == target.config_name
            if not kept:
                await self._ensure_config(ctx, target)
            arn: str | None
            if step.action == Action.CREATE:
                tags = self._endpoint_tags(ctx)
                try:
                    arn = await self.workers.run(gw.create_endpoint, name, target.config_name, tags)
                except AwsError as error:
                    if not kept or error.kind != ErrorKind.NOT_FOUND:
                        raise
                    await self._ensure_config(ctx, target)
                    arn = await self.workers.run(gw.create_endpoint, name, target.config_name, tags)
                status, verb = "Creating", "creating"
            else:
                await self.workers.run(gw.update_endpoint, name, target.config_name)
                arn, status, verb = seen.endpoint_arn, "Updating", "updating"
            self.directory(ctx.region).record(name, status)
            message = f"{verb} endpoint {name} on {target.config_name}"
            resuming = step.action == Action.CREATE and ctx.status.phase == Phase.PARKED
            self.event(ctx, "Normal", "Resuming" if resuming else step.reason, message)
            # The attempt goes into status with this pass; were that patch lost, a
            # failed deployment would be tried once more, never in a loop.
            return Seen(
                name, status, arn, target.config_name, target.model_name, None,
                attempt=Attempt(target.config_name, ctx.generation),
            )
        await self.workers.run(gw.delete_endpoint, name)
        await self.workers.run(self.idle.drop, ctx.region, name)
        self.directory(ctx.region).record(name, "Deleting")
        self.event(ctx, "Normal", _delete_reason(step), f"deleting endpoint {name}: {step.message}")
        return Seen(name, "Deleting", seen.endpoint_arn, seen.config_name, seen.model_name, None)

    async def _settle(
        self, ctx: Context, endpoint: EndpointDescription | None, target: Target
    ) -> None:
        """Once serving the desired config: apply tag edits, remove superseded resources."""
        spec_changed = ctx.status.observed_generation != ctx.generation
        arrived = ctx.status.phase != Phase.IN_SERVICE
        if endpoint is not None and (spec_changed or arrived):
            await self.cleanup.sync_tags(ctx, endpoint.arn, self._endpoint_tags(ctx))
        if target.owns_config and arrived:
            keep = {target.config_name, target.model_name or ""}
            await self.cleanup.collect_garbage(ctx, keep=keep)

    async def _write_status(self, ctx: Context, new: Any) -> None:
        old_wire = ctx.status.model_dump(by_alias=True, exclude_none=True, mode="json")
        new_wire = new.model_dump(by_alias=True, exclude_none=True, mode="json")
        if old_wire == new_wire:
            return
        patch: dict[str, Any] = {key: None for key in old_wire if key not in new_wire}
        patch.update(new_wire)
        await self.workers.run(self.kube.patch_status, ctx.namespace, ctx.name, patch)

    # ------------------------------------------------------------------ deletion

    async def finalize(self, body: Mapping[str, Any]) -> float | None:
        """Clean up AWS for a deleted object; None when done, else seconds to wait."""
        ctx = self._context(body)
        AWS_CONTEXT.set({"object": f"{ctx.namespace}/{ctx.name}", "endpoint": ctx.endpoint_name})
        return await finalize(self, ctx)


def _delete_reason(step: Step) -> str:
    return "Replacing" if step.reason == "ReplacingFailed" else "Parking"


def _reason_for(error: AwsError) -> str:
    if error.kind == ErrorKind.NOT_FOUND:
        return "NotFound"
    if error.code.startswith("AccessDenied"):
        return "AccessDenied"
    if error.code == "ResourceLimitExceeded":
        return "ResourceLimitExceeded"
    return "InvalidRequest"


def _next_wake(wake: float, desired: Desired, now: datetime) -> float:
    if desired.next_transition_at is not None:
        until = (desired.next_transition_at - now).total_seconds()
        wake = min(wake, max(until, 0.0))
    return max(wake, 0.0)
