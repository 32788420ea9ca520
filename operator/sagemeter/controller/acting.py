"""Act: the one step a pass takes on the endpoint itself (create, update or delete).

Only called once the endpoint is proven the object's own (or absent). Model and EndpointConfig
names are derived from the spec, so re-creating them after a crash is harmless; the endpoint's
own `CreateEndpoint` never claims an endpoint that already exists (`NameTaken`): the next pass
proves from its tags whose it is.
"""

from __future__ import annotations

from collections.abc import Callable

from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.controller.observer import Observer
from sagemeter.core.endpoint.plan import (
    Action,
    Attempt,
    Step,
    recreate_kept_config,
    resumes,
    reuses_kept_config,
)
from sagemeter.core.endpoint.requests import Target
from sagemeter.core.endpoint.status import Seen
from sagemeter.core.endpoint.tags import resource_tags
from sagemeter.idle.keeper import AlarmKeeper
from sagemeter.runtime.context import Context, Degraded
from sagemeter.runtime.workers import Workers

Event = Callable[[Context, str, str, str], None]
ENDPOINT_CONFIG_NOT_FOUND = "EndpointConfigNotFound"


class NameTaken(Exception):
    """CreateEndpoint found the name taken: by our own earlier attempt, or by someone else."""


class Actor:
    def __init__(self, workers: Workers, observer: Observer, alarms: AlarmKeeper, event: Event):
        self.workers = workers
        self.observer = observer
        self.alarms = alarms
        self.event = event

    async def act(
        self,
        ctx: Context,
        step: Step,
        target: Target | None,
        seen: Seen,
        waited: float | None = None,
    ) -> Seen:
        """`waited`: how long a park had to wait for SageMaker to allow the delete (billed)."""
        if step.action in (Action.CREATE, Action.UPDATE):
            assert target is not None
            try:
                return await self._deploy(ctx, step, target, seen)
            except AwsError as error:
                if error.kind == ErrorKind.NOT_FOUND and not target.owns_config:
                    raise config_missing(ctx, target.config_name) from error
                raise
        gw, name = ctx.gateway, ctx.endpoint_name
        await self.workers.run(gw.delete_endpoint, name)
        self.observer.record(ctx, "Deleting")
        reason = (
            "Replacing"
            if step.reason == "ReplacingFailed"
            else ("Deleting" if step.reason == "Deleting" else "Parking")
        )
        billed = (
            f"; SageMaker allowed it only after {waited:.0f} s, billed meanwhile"
            if waited is not None
            else ""
        )
        self.event(ctx, "Normal", reason, f"deleting endpoint {name}: {step.message}{billed}")
        await self.alarms.drop(ctx)
        return Seen(name, "Deleting", seen.endpoint_arn, seen.config_name, seen.model_name, None)

    async def _deploy(self, ctx: Context, step: Step, target: Target, seen: Seen) -> Seen:
        gw, name = ctx.gateway, ctx.endpoint_name
        kept = reuses_kept_config(ctx.status.endpoint_config_name, target.config_name)
        if not kept:
            await self._ensure_config(ctx, target)
        arn: str | None
        if step.action == Action.CREATE:
            tags = resource_tags(ctx.owner, ctx.spec.tags, adopted=ctx.spec.adopt)
            try:
                arn = await self._create(ctx, target, tags)
            except AwsError as error:
                if not recreate_kept_config(kept, error.kind == ErrorKind.NOT_FOUND):
                    raise
                await self._ensure_config(ctx, target)
                arn = await self._create(ctx, target, tags)
            status, verb = "Creating", "creating"
        else:
            await self.workers.run(gw.update_endpoint, name, target.config_name)
            arn, status, verb = seen.endpoint_arn, "Updating", "updating"
        self.observer.record(ctx, status)
        resuming = resumes(step.action, ctx.status.phase)
        message = f"{verb} endpoint {name} on {target.config_name}"
        self.event(ctx, "Normal", "Resuming" if resuming else step.reason, message)
        # The attempt goes into status with this pass; were that patch lost, a failed
        # deployment would be tried once more, never in a loop.
        return Seen(
            name,
            status,
            arn,
            target.config_name,
            target.model_name,
            None,
            attempt=Attempt(target.config_name, ctx.generation),
        )

    async def _create(self, ctx: Context, target: Target, tags: dict[str, str]) -> str:
        try:
            return await self.workers.run(
                ctx.gateway.create_endpoint, ctx.endpoint_name, target.config_name, tags
            )
        except AwsError as error:
            if error.kind == ErrorKind.ALREADY_EXISTS:
                raise NameTaken(ctx.endpoint_name) from error
            raise

    async def _ensure_config(self, ctx: Context, target: Target) -> None:
        """Create the target's Model and EndpointConfig (idempotent: names are derived)."""
        if target.model_request is not None and target.config_request is not None:
            await self.workers.run(ctx.gateway.create_model, target.model_request)
            await self.workers.run(ctx.gateway.create_endpoint_config, target.config_request)


def config_missing(ctx: Context, config: str) -> Degraded:
    """SageMaker does not know the EndpointConfig the object runs on and sagemeter does not make
    (CreateEndpoint and UpdateEndpoint answer ValidationException "Could not find endpoint
    configuration"): the object reports it and how to fix it, never a Creating that never ends."""
    where = f"EndpointConfig {config} does not exist in {ctx.region}"
    if ctx.spec.adopt:
        return Degraded(
            ENDPOINT_CONFIG_NOT_FOUND,
            f"{where}, so the adopted endpoint cannot be re-created: create an EndpointConfig"
            f" named {config} again, or delete this object",
        )
    return Degraded(
        ENDPOINT_CONFIG_NOT_FOUND,
        f"{where}: create it, or set spec.model.endpointConfigName to one that exists",
    )
