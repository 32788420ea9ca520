"""The one reconcile path: observe -> plan -> act -> status.

Every trigger (creation, spec change, a deadline, the periodic sync, a restart)
runs `Reconciler.reconcile`; object deletion runs `Reconciler.finalize`. Each
pass takes at most one step in AWS and then re-observes, so a crash anywhere
resumes from what AWS shows. AWS calls run in a thread pool: a slow call never
holds up the operator's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from sagemeter.api.models import ManagedEndpoint, Phase
from sagemeter.aws.clients import client
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.jumpstart import resolve_jumpstart
from sagemeter.aws.sagemaker import EndpointDescription, SageMakerGateway
from sagemeter.core import naming
from sagemeter.core.desired import Desired, desired_state
from sagemeter.core.plan import Action, Attempt, EndpointView, Step, plan_parked, plan_running
from sagemeter.core.requests import (
    ADOPTED,
    ModelContainer,
    Owner,
    Target,
    container_from_spec,
    other_owner,
    own_target,
    tag_changes,
)
from sagemeter.core.status import Problem, Seen, compose_status, degraded_changed
from sagemeter.core.times import parse_time
from sagemeter.directory import EndpointDirectory
from sagemeter.kube import Kube
from sagemeter.settings import Settings

log = logging.getLogger("sagemeter")
T = TypeVar("T")
SETTLED = {"InService", "Failed"}


class EventSink(Protocol):
    def __call__(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None: ...


class Degraded(Exception):
    """A problem only the operator can see; reported, retried at the sync interval."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Context:
    body: Mapping[str, Any]
    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    obj: ManagedEndpoint
    owner: Owner
    region: str
    endpoint_name: str
    gateway: SageMakerGateway

    @property
    def spec(self) -> Any:
        return self.obj.spec

    @property
    def status(self) -> Any:
        return self.obj.status


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
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="aws")
        self._gateways: dict[str, SageMakerGateway] = {}
        self._directories: dict[str, EndpointDirectory] = {}
        self._targets: dict[tuple[str, int], Target] = {}
        self._models: dict[tuple[str, str, str, str | None, bool], ModelContainer] = {}

    # ------------------------------------------------------------------ plumbing

    async def _aws(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

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
        now = self.clock()
        desired = desired_state(ctx.spec, ctx.created, now, self.settings.expiry_policy)
        step: Step | None = None
        problem: Problem | None = None
        seen = Seen(ctx.endpoint_name, None)
        wake = self.settings.sync_seconds
        dry_run_park = False
        try:
            endpoint = await self._observe(ctx)
            await self._check_owner(ctx, endpoint)
            # Only an endpoint proven ours (or adopted) is recorded in status.
            seen = self._seen(ctx, endpoint, None)
            target: Target | None = None
            if desired.running:
                target = await self._target(ctx, endpoint)
                seen = self._seen(ctx, endpoint, target)
                attempt = Attempt(ctx.status.attempted_config_name, ctx.status.attempted_generation)
                step = plan_running(target.config_name, _view(endpoint), attempt, ctx.generation)
            else:
                assert desired.reason is not None
                step = plan_parked(_view(endpoint), desired.reason)
            if step.action == Action.DELETE and self.settings.dry_run and not desired.running:
                dry_run_park = True
                self._would_park(ctx, desired)
            elif step.acts:
                seen = await self._act(ctx, step, target, seen)
            elif step.phase == Phase.IN_SERVICE and target is not None:
                await self._settle(ctx, endpoint, target)
            if step.acts or step.action == Action.WAIT:
                wake = self.settings.poll_seconds
        except Degraded as degraded:
            problem = Problem(degraded.reason, degraded.message)
        except AwsError as error:
            problem, wake = self._aws_problem(error)
        if problem is None and desired.schedule_error:
            problem = Problem("InvalidSchedule", desired.schedule_error)
        new = compose_status(
            ctx.status,
            desired=desired,
            step=step,
            seen=seen,
            problem=problem,
            generation=ctx.generation,
            now=now,
            dry_run_park=dry_run_park,
        )
        if degraded_changed(ctx.status, new):
            condition = next(c for c in new.conditions if c.type == "Degraded")
            self.event(ctx, "Warning", condition.reason or "Degraded", condition.message or "")
        await self._write_status(ctx, new)
        return _next_wake(wake, desired, now)

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
        sighting = await self._aws(self.directory(ctx.region).lookup, ctx.endpoint_name)
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
        described = await self._aws(ctx.gateway.describe_endpoint, ctx.endpoint_name)
        self.directory(ctx.region).record(
            ctx.endpoint_name, described.status if described else None
        )
        return described

    async def _check_owner(
        self, ctx: Context, endpoint: EndpointDescription | None, *, trust_status: bool = True
    ) -> None:
        """Never touch an endpoint someone else owns; take an adopted one under our tags.

        Status records an ARN only once its tags proved it ours, so a known ARN
        skips the tag lookup; deletion (`trust_status=False`) always looks.
        """
        if endpoint is None or (trust_status and ctx.status.endpoint_arn == endpoint.arn):
            return
        tags = await self._aws(ctx.gateway.list_tags, endpoint.arn)
        other = other_owner(tags, ctx.owner)
        if other is None:
            return
        if ctx.spec.adopt and other == "a resource not managed by sagemeter":
            await self._aws(
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

    async def _target(self, ctx: Context, endpoint: EndpointDescription | None) -> Target:
        spec = ctx.spec
        if spec.adopt:
            config = (endpoint.config_name if endpoint else None) or ctx.status.endpoint_config_name
            if not config:
                raise Degraded(
                    "EndpointNotFound",
                    f"endpoint {ctx.endpoint_name} does not exist and no EndpointConfig is"
                    " known to recreate it",
                )
            return Target(ctx.endpoint_name, config)
        if spec.model.endpoint_config_name:
            return Target(ctx.endpoint_name, spec.model.endpoint_config_name)
        key = (ctx.uid, ctx.generation)
        if key not in self._targets:
            role = spec.model.execution_role_arn or self.settings.execution_role_arn
            if not role:
                raise Degraded(
                    "ExecutionRoleMissing",
                    "no execution role: set spec.model.executionRoleArn or the operator's"
                    " SAGEMETER_EXECUTION_ROLE_ARN",
                )
            container = container_from_spec(spec) or await self._jumpstart(ctx)
            tags = {**ctx.owner.tags(), **(spec.tags or {})}
            self._targets[key] = own_target(ctx.endpoint_name, spec, container, role, tags)
        return self._targets[key]

    async def _jumpstart(self, ctx: Context) -> ModelContainer:
        js = ctx.spec.model.jump_start
        key = (ctx.region, js.model_id, js.version, ctx.spec.instance_type, js.accept_eula)
        if key not in self._models:
            try:
                resolved = await self._aws(
                    resolve_jumpstart,
                    client("sagemaker", ctx.region),
                    js.model_id,
                    js.version,
                    ctx.region,
                    ctx.spec.instance_type,
                )
            except AwsError as error:
                if error.kind == ErrorKind.NOT_FOUND or error.kind == ErrorKind.TERMINAL:
                    raise Degraded(
                        "ModelNotFound",
                        f"JumpStart model {js.model_id} version {js.version} not found in"
                        f" SageMakerPublicHub ({ctx.region}): {error.message}",
                    ) from error
                raise
            source = resolved.model_data_source
            if resolved.eula_uri:
                if not js.accept_eula:
                    raise Degraded(
                        "EulaNotAccepted",
                        f"JumpStart model {js.model_id} is gated by a license: read"
                        f" {resolved.eula_uri} and set spec.model.jumpStart.acceptEula: true",
                    )
                if source is not None:
                    s3 = {**source["S3DataSource"], "ModelAccessConfig": {"AcceptEula": True}}
                    source = {**source, "S3DataSource": s3}
            self._models[key] = ModelContainer(
                image=resolved.image,
                model_data_url=resolved.model_data_url,
                model_data_source=source,
                environment=dict(resolved.environment),
                enable_network_isolation=resolved.enable_network_isolation,
            )
        return self._models[key]

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

    def _endpoint_tags(self, ctx: Context) -> dict[str, str]:
        tags = {**ctx.owner.tags(), **(ctx.spec.tags or {})}
        if ctx.spec.adopt:
            tags[ADOPTED] = "true"
        return tags

    async def _act(self, ctx: Context, step: Step, target: Target | None, seen: Seen) -> Seen:
        gw, name = ctx.gateway, ctx.endpoint_name
        if step.action in (Action.CREATE, Action.UPDATE):
            assert target is not None
            if target.model_request is not None and target.config_request is not None:
                await self._aws(gw.create_model, target.model_request)
                await self._aws(gw.create_endpoint_config, target.config_request)
            arn: str | None
            if step.action == Action.CREATE:
                arn = await self._aws(gw.create_endpoint, name, target.config_name,
                                      self._endpoint_tags(ctx))
                status, verb = "Creating", "creating"
            else:
                await self._aws(gw.update_endpoint, name, target.config_name)
                arn, status, verb = seen.endpoint_arn, "Updating", "updating"
            self.directory(ctx.region).record(name, status)
            message = f"{verb} endpoint {name} on {target.config_name}"
            self.event(ctx, "Normal", step.reason, message)
            # The attempt goes into status with this pass; were that patch lost, a
            # failed deployment would be tried once more, never in a loop.
            return Seen(
                name, status, arn, target.config_name, target.model_name, None,
                attempt=Attempt(target.config_name, ctx.generation),
            )
        await self._aws(gw.delete_endpoint, name)
        self.directory(ctx.region).record(name, "Deleting")
        self.event(ctx, "Normal", _delete_reason(step), f"deleting endpoint {name}: {step.message}")
        return Seen(name, "Deleting", seen.endpoint_arn, seen.config_name, seen.model_name, None)

    def _would_park(self, ctx: Context, desired: Desired) -> None:
        if ctx.status.parked_reason != desired.reason or ctx.status.phase != Phase.IN_SERVICE:
            self.event(ctx, "Normal", "WouldPark", f"would park ({desired.reason}); dry run")

    async def _settle(
        self, ctx: Context, endpoint: EndpointDescription | None, target: Target
    ) -> None:
        """Once serving the desired config: apply tag edits, remove superseded resources."""
        spec_changed = ctx.status.observed_generation != ctx.generation
        arrived = ctx.status.phase != Phase.IN_SERVICE
        if endpoint is not None and (spec_changed or arrived):
            await self._sync_tags(ctx, endpoint.arn)
        if target.owns_config and arrived:
            await self._collect_garbage(ctx, keep={target.config_name, target.model_name or ""})

    async def _sync_tags(self, ctx: Context, arn: str) -> None:
        current = await self._aws(ctx.gateway.list_tags, arn)
        desired = self._endpoint_tags(ctx)
        removable = set() if ctx.spec.adopt else {k for k in current if not k.startswith("aws:")}
        to_add, to_remove = tag_changes(current, desired, removable)
        if to_add or to_remove:
            await self._aws(ctx.gateway.add_tags, arn, to_add)
            await self._aws(ctx.gateway.delete_tags, arn, to_remove)
            self.event(
                ctx, "Normal", "TagsUpdated",
                f"tags on {ctx.endpoint_name}: set {sorted(to_add)}, removed {to_remove}",
            )

    async def _collect_garbage(self, ctx: Context, keep: set[str]) -> None:
        """Delete models and configs sagemeter made for this endpoint that nothing uses."""
        gw, prefix = ctx.gateway, naming.resource_prefix(ctx.endpoint_name)
        ours = re.compile(rf"^{re.escape(prefix)}-[mc]-[0-9a-f]{{{naming.HASH_LENGTH}}}$")
        configs = await self._aws(gw.list_endpoint_config_names, f"{prefix}-c-")
        models = await self._aws(gw.list_model_names, f"{prefix}-m-")
        for config in configs:
            if ours.match(config) and config not in keep:
                await self._aws(gw.delete_endpoint_config, config)
                self.event(ctx, "Normal", "Cleanup", f"deleted superseded EndpointConfig {config}")
        for model in models:
            if ours.match(model) and model not in keep:
                await self._aws(gw.delete_model, model)
                self.event(ctx, "Normal", "Cleanup", f"deleted superseded Model {model}")

    async def _write_status(self, ctx: Context, new: Any) -> None:
        old_wire = ctx.status.model_dump(by_alias=True, exclude_none=True, mode="json")
        new_wire = new.model_dump(by_alias=True, exclude_none=True, mode="json")
        if old_wire == new_wire:
            return
        patch: dict[str, Any] = {key: None for key in old_wire if key not in new_wire}
        patch.update(new_wire)
        await self._aws(self.kube.patch_status, ctx.namespace, ctx.name, patch)

    # ------------------------------------------------------------------ deletion

    async def finalize(self, body: Mapping[str, Any]) -> float | None:
        """Clean up AWS for a deleted object; None when done, else seconds to wait."""
        ctx = self._context(body)
        if ctx.spec.deletion_policy == "Retain" or self.settings.dry_run:
            reason = "Retained" if ctx.spec.deletion_policy == "Retain" else "WouldDelete"
            self.event(ctx, "Normal", reason, f"leaving endpoint {ctx.endpoint_name} in AWS")
            return None
        endpoint = await self._aws(ctx.gateway.describe_endpoint, ctx.endpoint_name)
        if endpoint is not None:
            try:
                await self._check_owner(ctx, endpoint, trust_status=False)
            except Degraded as conflict:
                self.event(ctx, "Warning", conflict.reason, conflict.message + "; not deleted")
                endpoint = None
        if endpoint is not None:
            step = plan_parked(_view(endpoint), "Deleting")
            if step.action == Action.DELETE:
                await self._aws(ctx.gateway.delete_endpoint, ctx.endpoint_name)
                self.event(ctx, "Normal", "Deleting", f"deleting endpoint {ctx.endpoint_name}")
            await self._aws(
                self.kube.patch_status, ctx.namespace, ctx.name,
                {"phase": Phase.DELETING.value, "sagemakerStatus": "Deleting"},
            )
            return self.settings.poll_seconds
        if not ctx.spec.adopt:
            await self._collect_garbage(ctx, keep=set())
        self.event(ctx, "Normal", "Deleted", f"removed endpoint {ctx.endpoint_name} from AWS")
        return None


def _view(endpoint: EndpointDescription | None) -> EndpointView | None:
    if endpoint is None:
        return None
    return EndpointView(endpoint.status, endpoint.config_name, endpoint.failure_reason)


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
