"""IdleAlarms.drop asks CloudWatch once per object whether its alarm is there: a parked
endpoint's every pass asked again (DescribeAlarms per pass). What it remembers is per account,
region, endpoint and object, so another team's endpoint of the same name (in another account,
or a new object of the same name) still has its own alarm deleted: an endpoint-only key let
one team's drop stand for the other's and left the other's alarm (and its bill) behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sagemeter.aws.calls import CALLS
from sagemeter.aws.clients import Identity
from sagemeter.core.endpoint.naming import alarm_name
from sagemeter.core.idle import build_idle_alarm_request
from sagemeter.idle.alarms import IdleAlarms
from sagemeter.runtime.context import Context
from tests.contexts import context

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("aws_env")]

TENANT = Identity("arn:aws:iam::111111111111:role/sagemeter-tenant", namespace="team-b")
SHARED = "shared-name"
VARIANTS = ["AllTraffic"]


def describes() -> int:
    return CALLS.snapshot().get("cloudwatch:DescribeAlarms", 0)


def put_alarm(alarms: IdleAlarms, ctx: Context) -> None:
    request = build_idle_alarm_request(
        ctx.endpoint_name, timedelta(minutes=30), ctx.owner.tags(), VARIANTS
    )
    alarms.gateway(ctx).put_alarm(request)


def alarm_there(alarms: IdleAlarms, ctx: Context) -> bool:
    name = alarm_name(ctx.endpoint_name)
    return name in alarms.gateway(ctx).describe_alarms([name])


def test_a_drop_that_found_no_alarm_asks_no_more() -> None:
    alarms = IdleAlarms(max_age=3.0)
    ours = context("a", endpoint_name=SHARED)
    assert alarms.drop(ours) is False
    asked = describes()
    assert asked >= 1
    for _ in range(5):
        assert alarms.drop(ours) is False
    assert describes() == asked
    assert alarms.kept() == 1
    alarms.forget(ours.uid)  # the object is deleted
    assert alarms.kept() == 0
    assert alarms.drop(ours) is False
    assert describes() == asked + 1


def test_another_accounts_endpoint_of_the_same_name_still_loses_its_alarm() -> None:
    alarms = IdleAlarms(max_age=3.0)
    ours = context("a", endpoint_name=SHARED)
    theirs = context("b", namespace="team-b", endpoint_name=SHARED, identity=TENANT)
    put_alarm(alarms, theirs)
    assert alarms.drop(ours) is False  # nothing of ours in our account
    assert alarm_there(alarms, theirs)  # theirs is untouched by our drop
    assert alarms.drop(theirs) is True
    assert not alarm_there(alarms, theirs)


def test_a_new_object_of_the_same_name_still_loses_its_alarm() -> None:
    alarms = IdleAlarms(max_age=3.0)
    first = context("a", endpoint_name=SHARED)
    assert alarms.drop(first) is False
    again = context("a2", endpoint_name=SHARED)  # deleted and made again: another uid
    put_alarm(alarms, again)
    assert alarms.drop(again) is True
    assert not alarm_there(alarms, again)


def test_an_alarm_put_after_a_drop_is_dropped_again() -> None:
    alarms = IdleAlarms(max_age=3.0)
    ours = context("a", endpoint_name=SHARED)
    assert alarms.drop(ours) is False
    now = datetime.now(UTC)
    view = alarms.keep(
        ours, "30m", "1m", now - timedelta(hours=1), now, ours.owner.tags(), VARIANTS
    )
    assert view.alarm_set
    assert alarm_there(alarms, ours)
    assert alarms.drop(ours) is True
    assert not alarm_there(alarms, ours)


def test_an_alarm_put_elsewhere_is_still_dropped_with_its_object() -> None:
    """Another replica (or a previous process) put the alarm after this one found none: the
    object's deletion asks again, and an alarm a pass sees is not taken for absent."""
    alarms = IdleAlarms(max_age=3.0)
    ours = context("a", endpoint_name=SHARED)
    assert alarms.drop(ours) is False
    put_alarm(alarms, ours)  # not through this IdleAlarms
    assert alarms.drop(ours) is False  # a parked pass trusts what it knows
    assert alarm_there(alarms, ours)
    assert alarms.drop(ours, remembered=False) is True  # the deletion does not
    assert not alarm_there(alarms, ours)

    assert alarms.drop(ours) is False
    put_alarm(alarms, ours)
    now = datetime.now(UTC)
    view = alarms.keep(
        ours, "30m", "1m", now - timedelta(hours=1), now, ours.owner.tags(), VARIANTS
    )
    assert not view.alarm_set  # the same alarm: nothing to put, but it is there
    assert alarms.kept() == 0
    assert alarms.drop(ours) is True


def test_a_drop_without_a_call_stands_only_for_what_is_known_absent() -> None:
    """`dropped` is the thread-free path of a pass's drop: it answers True only where `drop`
    would have asked nothing, for this object, account, region and endpoint name."""
    alarms = IdleAlarms(max_age=3.0)
    ours = context("a", endpoint_name=SHARED)
    theirs = context("b", namespace="team-b", endpoint_name=SHARED, identity=TENANT)
    again = context("a2", endpoint_name=SHARED)
    assert alarms.dropped(ours) is False  # never asked: CloudWatch is
    assert alarms.drop(ours) is False
    asked = describes()
    assert alarms.dropped(ours) is True
    assert describes() == asked
    # Another account's endpoint of the same name, and a new object of the name, are not.
    put_alarm(alarms, theirs)
    assert alarms.dropped(theirs) is False
    assert alarms.dropped(again) is False
    assert alarms.drop(theirs) is True
    assert not alarm_there(alarms, theirs)
    # An alarm this process put is not known absent any more.
    now = datetime.now(UTC)
    alarms.keep(ours, "30m", "1m", now - timedelta(hours=1), now, ours.owner.tags(), VARIANTS)
    assert alarms.dropped(ours) is False
    assert alarms.drop(ours) is True
    assert not alarm_there(alarms, ours)
