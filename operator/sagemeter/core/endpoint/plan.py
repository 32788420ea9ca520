"""The decision: given what should be and what SageMaker shows, the next step.

Purely computational, like kopf's cause detection and ACK's delta: one step
per pass, so every pass re-observes before acting again and a crash between
steps resumes from what AWS shows, never from memory of what was started.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sagemeter.api.models import Phase

# SageMaker endpoint statuses that end by themselves: wait, never act.
IN_PROGRESS = {
    "Creating": Phase.CREATING,
    "Updating": Phase.UPDATING,
    "SystemUpdating": Phase.UPDATING,
    "RollingBack": Phase.UPDATING,
    "Deleting": Phase.DELETING,
}
SERVING = {"InService", "OutOfService"}


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
    """The endpoint should run on `config_name`."""
    if endpoint is None:
        return Step(Action.CREATE, Phase.CREATING, "Creating", f"creating on {config_name}")
    if endpoint.status in IN_PROGRESS:
        phase = IN_PROGRESS[endpoint.status]
        return Step(Action.WAIT, phase, endpoint.status, f"SageMaker is {endpoint.status}")
    tried_now = attempt.generation is None or attempt.generation == generation
    if endpoint.status == "Failed":
        if endpoint.config_name == config_name and tried_now:
            return Step(
                Action.NOTHING,
                Phase.FAILED,
                "EndpointFailed",
                endpoint.failure_reason or "the endpoint failed",
                failed=True,
            )
        return Step(
            Action.DELETE, Phase.DELETING, "ReplacingFailed", "replacing the failed endpoint"
        )
    if endpoint.status in SERVING:
        if endpoint.config_name == config_name:
            return Step(Action.NOTHING, Phase.IN_SERVICE, "InService", "serving")
        if attempt.config_name == config_name and tried_now:
            return Step(
                Action.NOTHING,
                Phase.IN_SERVICE,
                "UpdateFailed",
                f"update to {config_name} failed: {endpoint.failure_reason or 'rolled back'};"
                " still serving "
                f"{endpoint.config_name}; the next spec change tries again",
                failed=True,
            )
        return Step(
            Action.UPDATE, Phase.UPDATING, "Updating", f"updating to {config_name}"
        )
    # UpdateRollbackFailed and statuses SageMaker may add: report, do not guess.
    return Step(
        Action.NOTHING,
        Phase.FAILED,
        endpoint.status,
        endpoint.failure_reason or f"SageMaker reports {endpoint.status}",
        failed=True,
    )


def plan_parked(endpoint: EndpointView | None, reason: str) -> Step:
    """The endpoint should not exist (parked, or the object is going away)."""
    if endpoint is None:
        return Step(Action.NOTHING, Phase.PARKED, reason, f"parked: {reason}")
    if endpoint.status in IN_PROGRESS:
        # SageMaker refuses to delete an endpoint that is being created or updated.
        phase = IN_PROGRESS[endpoint.status]
        return Step(
            Action.WAIT, phase, endpoint.status, f"waiting for {endpoint.status} to finish"
        )
    return Step(Action.DELETE, Phase.DELETING, reason, f"deleting the endpoint: {reason}")


# -- around the step ------------------------------------------------------------------------


def reuses_kept_config(recorded_config: str | None, target_config: str) -> bool:
    """A config this object ran on before is kept while parked: resuming is then one
    `CreateEndpoint`, with no model or config to create first."""
    return recorded_config is not None and recorded_config == target_config


def recreate_kept_config(kept: bool, config_missing: bool) -> bool:
    """A kept config that vanished (deleted by hand) is made again, and the create retried."""
    return kept and config_missing


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
) -> Settle:
    """Once the endpoint serves the target config: tag edits after a spec change or an arrival
    in service; models and configs superseded by the arrival are collected (only sagemeter's
    own configs, never an existing one named by the spec or an adopted endpoint's).

    An arrival is a first InService, or serving a config status did not record yet (a status
    patch lost to a crash right after an update is an arrival all the same)."""
    arrived = not was_serving or recorded_config != target_config
    return Settle(sync_tags=spec_changed or arrived, collect_garbage=owns_config and arrived)
