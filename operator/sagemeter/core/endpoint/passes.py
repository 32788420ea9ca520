"""What one pass does beside its step in SageMaker, as pure rules the reconcile pass carries out
(`controller/reconciler.py`):

* `route_action`: what the pass may do to the object's route;
* `violation_blocks`: when a policy violation stops the step;
* `held_for_budget`: an update a budget has no room for is not sent;
* `supersedes_config` and `settles`: when superseded models and configs are still to be
  collected (`status.cleanupPending`), and when they can go;
* `drops_idle_alarm`: when a spec change took the idle policy away, so its alarm goes;
* `polls`: when the next pass comes at the poll interval rather than the periodic sync.
"""

from __future__ import annotations

from enum import StrEnum

from sagemeter.api.models import ParkedReason, Phase
from sagemeter.core.endpoint.plan import Action, Step

__all__ = [
    "RouteAction",
    "drops_idle_alarm",
    "held_for_budget",
    "polls",
    "route_action",
    "settles",
    "supersedes_config",
    "violation_blocks",
]


class RouteAction(StrEnum):
    """What a pass may do to the object's route."""

    SYNC = "sync"  # the endpoint is proven the object's own, or parked: the route follows it
    REMOVE = "remove"  # the endpoint is someone else's: the object's own route goes
    SKIP = "skip"  # nothing is proven yet (a create not yet seen, a refusal): the route stays


def route_action(*, foreign: bool, planned: Action | None, policy_violation: bool) -> RouteAction:
    """`foreign`: the endpoint under the object's name is someone else's; `planned`: the step
    the pass planned (None: it got no further); `policy_violation`: the object breaks its
    EndpointPolicy (its spec, or a config it uses as is).

    A route goes with a proven endpoint, or stays with a parked one; a brand-new endpoint gets
    it once the next pass has proven the create was ours. A violation leaves the route as it
    is, whatever else holds."""
    if policy_violation:
        return RouteAction.SKIP
    if foreign:
        return RouteAction.REMOVE
    if planned is None or planned == Action.CREATE:
        return RouteAction.SKIP
    return RouteAction.SYNC


def violation_blocks(policy_violation: bool, action: Action) -> bool:
    """A violation stops whatever would start or change spending; parks still happen."""
    return policy_violation and action in (Action.CREATE, Action.UPDATE)


def held_for_budget(step: Step, update_waits: str | None) -> Step:
    """`update_waits` (the book's message) when a budget has no room for the updated fleet
    beside the running one: the update is not sent and the running fleet stays, reported as
    OverBudget. Any other step goes ahead."""
    if step.action != Action.UPDATE or update_waits is None:
        return step
    return Step(
        Action.NOTHING, Phase.IN_SERVICE, ParkedReason.OVER_BUDGET, update_waits, failed=True
    )


def supersedes_config(step: Step) -> bool:
    """The step leaves the config the endpoint ran on superseded (an update, or the
    replacement of a failed endpoint): it is still to be collected from now on."""
    return step.action == Action.UPDATE or step.reason == "ReplacingFailed"


def settles(step: Step, endpoint_config: str | None, target_config: str | None) -> bool:
    """The endpoint serves the target (InService on the target's config), so what it
    superseded can go. A failed update's rollback serves the config before it: that stays."""
    return (
        not step.acts
        and step.phase == Phase.IN_SERVICE
        and target_config is not None
        and endpoint_config == target_config
    )


def polls(step: Step) -> bool:
    """SageMaker works on the endpoint (a step was sent, or it waits): the next pass comes at
    the poll interval."""
    return step.acts or step.action == Action.WAIT


def drops_idle_alarm(
    step: Step, idle_set: bool, observed_generation: int | None, generation: int
) -> bool:
    """A spec change may have removed the idle policy: without one in the spec, a pass of a
    new generation drops the alarm (a first pass never had one; a pass that acts or waits
    leaves it to a later one)."""
    return (
        not polls(step)
        and not idle_set
        and observed_generation is not None
        and observed_generation != generation
    )
