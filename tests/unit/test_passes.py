"""The rules a pass follows beside its step (`core.endpoint.passes`): what it does to the
route, when a policy violation blocks, when superseded configs are pending or settle, when the
idle alarm goes after a spec change, when the next pass polls."""

from __future__ import annotations

import pytest

from sagemeter.api.models import ParkedReason, Phase
from sagemeter.core.endpoint.passes import (
    RouteAction,
    drops_idle_alarm,
    held_for_budget,
    polls,
    route_action,
    settles,
    supersedes_config,
    violation_blocks,
)
from sagemeter.core.endpoint.plan import Action, Step


def step(action: Action, phase: Phase = Phase.IN_SERVICE, reason: str = "Ready") -> Step:
    return Step(action, phase, reason, "")


@pytest.mark.parametrize(
    ("foreign", "planned", "violation", "expected"),
    [
        (False, None, False, RouteAction.SKIP),  # nothing proven: the route stays
        (False, Action.CREATE, False, RouteAction.SKIP),  # the next pass proves the create
        (False, Action.NOTHING, False, RouteAction.SYNC),
        (False, Action.WAIT, False, RouteAction.SYNC),
        (False, Action.UPDATE, False, RouteAction.SYNC),
        (False, Action.DELETE, False, RouteAction.SYNC),  # a parked endpoint keeps its route
        (True, None, False, RouteAction.REMOVE),  # someone else's endpoint
        (True, None, True, RouteAction.SKIP),
        (False, Action.NOTHING, True, RouteAction.SKIP),  # a violation leaves it as it is
    ],
)
def test_route_action(
    foreign: bool, planned: Action | None, violation: bool, expected: RouteAction
) -> None:
    assert route_action(foreign=foreign, planned=planned, policy_violation=violation) == expected


@pytest.mark.parametrize(
    ("violation", "action", "blocks"),
    [
        (True, Action.CREATE, True),
        (True, Action.UPDATE, True),
        (True, Action.DELETE, False),  # parks still happen
        (True, Action.WAIT, False),
        (True, Action.NOTHING, False),
        (False, Action.CREATE, False),
        (False, Action.UPDATE, False),
    ],
)
def test_a_violation_blocks_what_starts_or_changes_spending(
    violation: bool, action: Action, blocks: bool
) -> None:
    assert violation_blocks(violation, action) == blocks


@pytest.mark.parametrize(
    ("planned", "superseded"),
    [
        (step(Action.UPDATE, Phase.UPDATING), True),
        (step(Action.CREATE, Phase.CREATING, "ReplacingFailed"), True),
        (step(Action.CREATE, Phase.CREATING), False),
        (step(Action.DELETE, Phase.DELETING), False),
    ],
)
def test_which_steps_leave_a_config_to_collect(planned: Step, superseded: bool) -> None:
    assert supersedes_config(planned) == superseded


@pytest.mark.parametrize(
    ("planned", "endpoint_config", "target_config", "settled"),
    [
        (step(Action.NOTHING), "cfg-2", "cfg-2", True),
        (step(Action.NOTHING), "cfg-1", "cfg-2", False),  # a rollback serves the old config
        (step(Action.NOTHING), None, "cfg-2", False),
        (step(Action.NOTHING), "cfg-2", None, False),  # parked: no target
        (step(Action.WAIT, Phase.UPDATING), "cfg-2", "cfg-2", False),
        (step(Action.UPDATE, Phase.UPDATING), "cfg-2", "cfg-2", False),
    ],
)
def test_superseded_configs_settle_once_the_target_serves(
    planned: Step, endpoint_config: str | None, target_config: str | None, settled: bool
) -> None:
    assert settles(planned, endpoint_config, target_config) == settled


@pytest.mark.parametrize(
    ("planned", "idle_set", "observed", "generation", "drops"),
    [
        (step(Action.NOTHING), False, 1, 2, True),  # the change took the idle policy away
        (step(Action.NOTHING), True, 1, 2, False),
        (step(Action.NOTHING), False, 2, 2, False),  # no change
        (step(Action.NOTHING), False, None, 1, False),  # a first pass never had one
        (step(Action.UPDATE, Phase.UPDATING), False, 1, 2, False),  # a later pass does it
        (step(Action.WAIT, Phase.CREATING), False, 1, 2, False),
    ],
)
def test_the_idle_alarm_goes_when_a_change_removed_the_policy(
    planned: Step, idle_set: bool, observed: int | None, generation: int, drops: bool
) -> None:
    assert drops_idle_alarm(planned, idle_set, observed, generation) == drops


def test_sagemaker_at_work_means_polling() -> None:
    assert polls(step(Action.CREATE, Phase.CREATING))
    assert polls(step(Action.WAIT, Phase.UPDATING))
    assert not polls(step(Action.NOTHING))


def test_an_update_a_budget_has_no_room_for_is_not_sent() -> None:
    update = step(Action.UPDATE, Phase.UPDATING)
    held = held_for_budget(update, "team budget: $10 of $10")
    assert held.action == Action.NOTHING and held.phase == Phase.IN_SERVICE
    assert held.reason == ParkedReason.OVER_BUDGET and held.failed
    assert held_for_budget(update, None) == update
    create = step(Action.CREATE, Phase.CREATING)
    assert held_for_budget(create, "team budget: $10 of $10") == create  # the book parks those
