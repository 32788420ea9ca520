"""The decision: given what should be and what SageMaker shows, the next step.

Purely computational, like kopf's cause detection and ACK's delta: one step
per pass, so every pass re-observes before acting again and a crash between
steps resumes from what AWS shows, never from memory of what was started.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sagemeter.api.models import Phase, RefusedDeployment

# Every EndpointStatus SageMaker has, and what SageMaker accepts in it. The statuses that make
# a client wait are the ACK SageMaker controller's `modifyingStatuses`
# (aws-controllers-k8s/sagemaker-controller, pkg/resource/endpoint/hooks.go: Creating, Updating,
# SystemUpdating, RollingBack, Deleting: requeue, "cannot be modified or deleted"). Failed takes
# only a delete (SageMaker API reference, DescribeEndpoint's EndpointStatus: "DeleteEndpoint is
# the only operation that can be performed on a failed endpoint"). No AWS source restricts
# DeleteEndpoint or UpdateEndpoint in OutOfService or UpdateRollbackFailed (API_DeleteEndpoint,
# API_UpdateEndpoint; ACK acts there), and an OutOfService endpoint is still billed.
IN_PROGRESS = {
    "Creating": Phase.CREATING,
    "Updating": Phase.UPDATING,
    "SystemUpdating": Phase.UPDATING,
    "RollingBack": Phase.UPDATING,
    "Deleting": Phase.DELETING,
}
SERVING = {"InService"}
ALL_STATUSES = (
    *IN_PROGRESS,
    "InService",
    "OutOfService",
    "Failed",
    "UpdateRollbackFailed",
)


class Action(StrEnum):
    NOTHING = "Nothing"
    WAIT = "Wait"
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


@dataclass(frozen=True)
class EndpointView:
    """The parts of a SageMaker endpoint the decision reads."""

    status: str
    config_name: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class Attempt:
    """The last deployment sagemeter started: which config, for which spec generation."""

    config_name: str | None
    generation: int | None


@dataclass(frozen=True)
class Step:
    action: Action
    phase: Phase
    reason: str
    message: str
    # A deployment that failed and waits for a spec change.
    failed: bool = False

    @property
    def acts(self) -> bool:
        return self.action in (Action.CREATE, Action.UPDATE, Action.DELETE)


def plan_running(
    config_name: str, endpoint: EndpointView | None, attempt: Attempt, generation: int
) -> Step:
    """The endpoint should run on `config_name`.

    | SageMaker shows                          | step                                       |
    |------------------------------------------|--------------------------------------------|
    | nothing                                  | Create                                     |
    | Creating, Updating, SystemUpdating,      | Wait (SageMaker takes no call meanwhile)   |
    | RollingBack, Deleting                    |                                            |
    | OutOfService on the target config, or    | Wait, reported (not Ready): SageMaker's to |
    | the target tried                         | recover                                    |
    | OutOfService, a new target               | Update (SageMaker accepts it there)        |
    | InService on the target config           | nothing                                    |
    | InService elsewhere, target tried and    | nothing, reported UpdateFailed             |
    | rolled back (a FailureReason)            |                                            |
    | InService elsewhere otherwise (a new     | Update                                     |
    | target, or an update made behind         |                                            |
    | sagemeter's back)                        |                                            |
    | Failed on the target config, tried       | nothing, reported EndpointFailed           |
    | Failed otherwise                         | Delete, to create it again                 |
    | UpdateRollbackFailed, target tried       | nothing, reported                          |
    | UpdateRollbackFailed, a new target       | Update (SageMaker accepts it there)        |
    | a status SageMaker may add               | nothing, reported                          |

    A deployment that failed is tried again only when the target configuration changes,
    never because the spec's generation moved (an expiry top-up changes nothing to deploy).
    """
    del generation  # the attempt is judged by its configuration alone
    tried = attempt.config_name == config_name
    if endpoint is None:
        return Step(Action.CREATE, Phase.CREATING, "Creating", f"creating on {config_name}")
    status = endpoint.status
    if status in IN_PROGRESS:
        return Step(Action.WAIT, IN_PROGRESS[status], status, f"SageMaker is {status}")
    if status == "OutOfService":
        if endpoint.config_name != config_name and not tried:
            return Step(Action.UPDATE, Phase.UPDATING, "Updating", f"updating to {config_name}")
        return Step(
            Action.WAIT,
            Phase.PENDING,
            "OutOfService",
            endpoint.failure_reason
            or "SageMaker reports the endpoint out of service; waiting for it to recover",
            failed=True,
        )
    if status in SERVING:
        if endpoint.config_name == config_name:
            return Step(Action.NOTHING, Phase.IN_SERVICE, "InService", "serving")
        if tried and endpoint.failure_reason:
            return Step(
                Action.NOTHING,
                Phase.IN_SERVICE,
                "UpdateFailed",
                f"update to {config_name} failed: {endpoint.failure_reason}; still serving"
                f" {endpoint.config_name}; a change of the configuration tries again",
                failed=True,
            )
        return Step(Action.UPDATE, Phase.UPDATING, "Updating", f"updating to {config_name}")
    if status == "Failed":
        if endpoint.config_name == config_name and tried:
            return Step(
                Action.NOTHING,
                Phase.FAILED,
                "EndpointFailed",
                f"{(endpoint.failure_reason or 'the endpoint failed').rstrip('.')}; a change of"
                " the model or capacity in the spec creates it again",
                failed=True,
            )
        return Step(
            Action.DELETE, Phase.DELETING, "ReplacingFailed", "replacing the failed endpoint"
        )
    if status == "UpdateRollbackFailed" and not tried:
        return Step(Action.UPDATE, Phase.UPDATING, "Updating", f"updating to {config_name}")
    return Step(
        Action.NOTHING,
        Phase.FAILED,
        status,
        f"{(endpoint.failure_reason or f'SageMaker reports {status}').rstrip('.')}; a change"
        " of the model or capacity in the spec tries again"
        if status == "UpdateRollbackFailed"
        else endpoint.failure_reason or f"SageMaker reports {status}",
        failed=True,
    )


def plan_parked(endpoint: EndpointView | None, reason: str) -> Step:
    """The endpoint should not exist (parked, or the object is going away).

    Nothing there: done. InService, OutOfService, Failed, UpdateRollbackFailed: Delete (an
    OutOfService endpoint is billed all the same). The in-progress statuses, where SageMaker
    refuses a delete: Wait, and delete as soon as it allows.
    """
    if endpoint is None:
        return Step(Action.NOTHING, Phase.PARKED, reason, f"parked: {reason}")
    status = endpoint.status
    if status in IN_PROGRESS:
        return Step(Action.WAIT, IN_PROGRESS[status], status, f"waiting for {status} to finish")
    return Step(Action.DELETE, Phase.DELETING, reason, f"deleting the endpoint: {reason}")


# -- around the step ------------------------------------------------------------------------


def reuses_kept_config(recorded_config: str | None, target_config: str) -> bool:
    """A config this object ran on before is kept while parked: resuming is then one
    `CreateEndpoint`, with no model or config to create first."""
    return recorded_config is not None and recorded_config == target_config


def recreate_kept_config(kept: bool, config_missing: bool) -> bool:
    """A kept config that vanished (deleted by hand) is made again, and the create retried."""
    return kept and config_missing


def resumes(action: Action, phase: Phase | None) -> bool:
    """A create brings back a parked endpoint (Event "Resuming"), also when it comes right after
    the park's delete, before the status has said Parked (a create follows a delete only after
    a park: a failed endpoint is never replaced by a new one)."""
    return action == Action.CREATE and phase in (Phase.PARKED, Phase.DELETING)


# -- a deployment SageMaker refused -----------------------------------------------------------


def remembered_refusal(code: str, terminal: bool) -> bool:
    """Whether SageMaker's refusal of a deployment (CreateModel, CreateEndpointConfig,
    CreateEndpoint, UpdateEndpoint) is remembered, so that the same deployment is not sent
    again in a loop (ACK's lesson: "never re-apply a failed update in a loop";
    sagemaker-controller ``hooks.go``). Terminal refusals are: ``ResourceLimitExceeded`` (a
    new account has no GPU quota; an increase takes AWS support days) and
    ``ValidationException``. ``AccessDenied*`` is not: permissions are fixed outside the object
    and cost nothing to try again at the sync interval; throttling and 5xx are retried anyway.
    """
    return terminal and not code.startswith("AccessDenied")


def refusal_holds(
    refused: RefusedDeployment | None, config_name: str, generation: int, wake: str | None
) -> bool:
    """The deployment to make is the one SageMaker refused, and nothing about the object
    changed since: neither its spec (a new generation: a smaller instanceCount, another
    instanceType, an expiry top-up after a quota increase) nor its ``sagemeter.io/wake``
    annotation (``kubectl sagemeter wake``: "try again now"). Then it is not sent again."""
    return (
        refused is not None
        and refused.config_name == config_name
        and refused.generation == generation
        and refused.wake == wake
    )


def refusal_message(refused: RefusedDeployment, object_name: str) -> str:
    """The Degraded message of a refused deployment: SageMaker's words, then what retries."""
    return (
        f"{refused.operation}: {refused.message} sagemeter does not send it again until the"
        f" object changes: edit its spec, or run `kubectl sagemeter wake {object_name}` once"
        " the cause is gone (e.g. a quota increase)"
    )


def dry_run_holds_back(step: Step, dry_run: bool, running: bool) -> bool:
    """In dry run, a park is reported and never carried out."""
    return dry_run and not running and step.action == Action.DELETE


@dataclass(frozen=True)
class Settle:
    sync_tags: bool
    collect_garbage: bool


def settle_work(
    spec_changed: bool,
    was_serving: bool,
    recorded_config: str | None,
    target_config: str,
    owns_config: bool,
    cleanup_pending: bool = False,
) -> Settle:
    """Once the endpoint serves the target config: tag edits after a spec change or an arrival
    in service; models and configs superseded by the arrival are collected (only sagemeter's
    own configs, never an existing one named by the spec or an adopted endpoint's).

    An arrival is a first InService, or serving a config status did not record yet (a status
    patch lost to a crash right after an update is an arrival all the same). Models and
    configs are collected when something was superseded: an update or a replaced endpoint
    left `cleanup_pending` (also when a collection AWS refused is still to be done), or the
    recorded config is not the one served now; a first create supersedes nothing."""
    arrived = not was_serving or recorded_config != target_config
    superseded = cleanup_pending or recorded_config != target_config
    return Settle(sync_tags=spec_changed or arrived, collect_garbage=owns_config and superseded)
