"""Report: Events, log lines and the status patch a pass ends with.

One Event per AWS action (written by whoever acts, through `event`), and one per new problem,
warning, dry-run verdict or park (`announce`, from the status the pass composed). The status
patch carries only what changed and removes what the new status drops.
"""

from __future__ import annotations

import logging
from typing import Any

from sagemeter.api.models import ManagedEndpointStatus, RefusedDeployment
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.core.endpoint.plan import remembered_refusal
from sagemeter.core.endpoint.status import Problem, announcements
from sagemeter.runtime.context import Context, EventSink
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import Workers

log = logging.getLogger("sagemeter")


class Reporter:
    def __init__(self, events: EventSink, kube: Kube, workers: Workers) -> None:
        self._events = events
        self._kube = kube
        self._workers = workers

    def event(self, ctx: Context, type_: str, reason: str, message: str) -> None:
        log.info(
            "%s/%s %s: %s",
            ctx.namespace,
            ctx.name,
            reason,
            message,
            extra={"object": f"{ctx.namespace}/{ctx.name}", "endpoint": ctx.endpoint_name},
        )
        self._events(ctx.body, type_, reason, message)

    def announce(self, ctx: Context, new: ManagedEndpointStatus) -> None:
        """One Event per new problem, warning, verdict or park (`core...announcements`)."""
        for said in announcements(ctx.status, new):
            self.event(ctx, said.type, said.reason, said.message)

    async def write_status(self, ctx: Context, new: ManagedEndpointStatus) -> str | None:
        """The object's resourceVersion once `new` is written (None: nothing was written)."""
        old_wire = ctx.status.model_dump(by_alias=True, exclude_none=True, mode="json")
        new_wire = new.model_dump(by_alias=True, exclude_none=True, mode="json")
        if old_wire == new_wire:
            return None
        patch: dict[str, Any] = {key: None for key in old_wire if key not in new_wire}
        patch.update(new_wire)
        return await self._workers.run(self._kube.patch_status, ctx.namespace, ctx.name, patch)


def aws_problem(error: AwsError, settings: Settings) -> tuple[Problem, float]:
    """The Degraded reason of a failed AWS call, and when to look again."""
    message = f"{error.operation}: {error.message}"
    if error.kind in (ErrorKind.RETRYABLE, ErrorKind.THROTTLED):
        return Problem("AWSUnavailable", f"{message}; sagemeter tries again by itself"), min(
            settings.sync_seconds, settings.poll_seconds * 3
        )
    reason = _reason_for(error)
    return Problem(reason, f"{message}{_HINTS[reason]}"), settings.sync_seconds


# What a person does about each kind of refusal; sagemeter tries again at every sync.
_HINTS = {
    "NotFound": "; create what AWS names, or change the spec field that names it",
    "AccessDenied": (
        "; grant that action to the operator's IAM role (deploy/iam/policy.json) or, for a"
        " namespace an EndpointPolicy places in another account, to its aws.roleArn"
    ),
    "ResourceLimitExceeded": (
        "; ask for a higher quota in Service Quotas, or lower spec.instanceCount or choose"
        " another spec.instanceType"
    ),
    "InvalidRequest": "; change the spec field AWS refuses (a spec change tries again)",
}


def _reason_for(error: AwsError) -> str:
    if error.kind == ErrorKind.NOT_FOUND:
        return "NotFound"
    if error.code.startswith("AccessDenied"):
        return "AccessDenied"
    if error.code == "ResourceLimitExceeded":
        return "ResourceLimitExceeded"
    return "InvalidRequest"


def refused_deployment(
    ctx: Context, error: AwsError, config_name: str, wake_token: str | None, settings: Settings
) -> RefusedDeployment | None:
    """A deployment SageMaker refused for good (ResourceLimitExceeded, ...), to keep in status
    and report in SageMaker's words: it is sent again only once the object changes
    (``core.endpoint.plan.refusal_holds``), never in a loop. None for any other error."""
    if not remembered_refusal(error.code, error.kind is ErrorKind.TERMINAL):
        return None
    problem, _ = aws_problem(error, settings)
    return RefusedDeployment(
        operation=error.operation or "CreateEndpoint",
        config_name=config_name,
        generation=ctx.generation,
        wake=wake_token,
        reason=problem.reason,
        message=error.message[:3000],
    )
