"""Desired state: park-reason precedence, the effective expiry, and when the answer next changes."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemeter.api.models import ManagedEndpointSpec, ParkedReason
from sagemeter.core.endpoint.desired import (
    Desired,
    Expiry,
    ExpiryPolicy,
    deleting_state,
    desired_state,
    effective_expiry,
    extended_expiry,
    is_expiring_soon,
    parked_for,
    warn_before,
)
from sagemeter.core.meter.durations import DURATION_PATTERN, format_duration
from sagemeter.core.meter.times import format_time

NO_POLICY = ExpiryPolicy()
MODEL = {"container": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}}

# Wednesday 2026-11-18, 10:00 UTC.
CREATED = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
WEEKDAYS_UTC = "Mon-Fri 09:00-17:00 UTC"
SECOND = timedelta(seconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def spec(**fields: Any) -> ManagedEndpointSpec:
    return ManagedEndpointSpec.model_validate(
        {"model": MODEL, "instanceType": "ml.m5.large", **fields}
    )


def state(
    s: ManagedEndpointSpec,
    now: datetime,
    policy: ExpiryPolicy = NO_POLICY,
    *,
    created: datetime = CREATED,
    idle: bool = False,
) -> Desired:
    return desired_state(s, created, now, policy, idle=idle)


# -- precedence -----------------------------------------------------------------------------

ORDER = [ParkedReason.SUSPENDED, ParkedReason.EXPIRED, ParkedReason.SCHEDULE, ParkedReason.IDLE]


@pytest.mark.parametrize(
    ("suspended", "expired", "outside", "idle"),
    list(itertools.product([False, True], repeat=4)),
)
def test_park_reason_precedence(suspended: bool, expired: bool, outside: bool, idle: bool) -> None:
    # Saturday 2026-11-21 12:00 is outside the weekday window; Thursday 12:00 is inside.
    now = utc(2026, 11, 21, 12) if outside else utc(2026, 11, 19, 12)
    s = spec(
        suspend=suspended,
        expiry={"expiresAt": format_time(now + (-SECOND if expired else timedelta(days=30)))},
        schedule={"uptime": [WEEKDAYS_UTC]},
    )
    desired = state(s, now, idle=idle)
    flags = {
        ParkedReason.SUSPENDED: suspended,
        ParkedReason.EXPIRED: expired,
        ParkedReason.SCHEDULE: outside,
        ParkedReason.IDLE: idle,
    }
    expected = next((reason for reason in ORDER if flags[reason]), None)
    assert desired.reason == expected
    assert desired.running == (expected is None)
    assert desired.schedule_error is None


@pytest.mark.parametrize(
    ("suspended", "outside", "idle", "over_budget"),
    list(itertools.product([False, True], repeat=4)),
)
def test_what_a_pass_learns_later_parks_below_the_meter(
    suspended: bool, outside: bool, idle: bool, over_budget: bool
) -> None:
    now = utc(2026, 11, 21, 12) if outside else utc(2026, 11, 19, 12)
    meter = state(spec(suspend=suspended, schedule={"uptime": [WEEKDAYS_UTC]}), now)
    desired = meter
    if idle:
        desired = parked_for(desired, ParkedReason.IDLE)
    if over_budget:
        desired = parked_for(desired, ParkedReason.OVER_BUDGET, "team budget: $10 of $10")
    flags = {
        ParkedReason.SUSPENDED: suspended,
        ParkedReason.SCHEDULE: outside,
        ParkedReason.IDLE: idle,
        ParkedReason.OVER_BUDGET: over_budget,
    }
    expected = next((reason for reason, on in flags.items() if on), None)
    assert desired.reason == expected
    assert desired.running == (expected is None)
    assert desired.next_transition_at == meter.next_transition_at  # the meter's, still
    assert (desired.budget_message is not None) == (expected == ParkedReason.OVER_BUDGET)


def test_a_deletion_is_not_parked() -> None:
    going = deleting_state(state(spec(), CREATED))
    assert parked_for(going, ParkedReason.IDLE) == going


def test_nothing_set_runs_forever() -> None:
    desired = state(spec(), CREATED + timedelta(days=3650))
    assert desired == Desired(
        running=True, reason=None, expiry=Expiry(at=None), warn_at=None, next_transition_at=None
    )


# -- the effective expiry -------------------------------------------------------------------


DEFAULT_8H = ExpiryPolicy(default_ttl=timedelta(hours=8))
MAX_1D = ExpiryPolicy(max_lifetime=timedelta(days=1))


def after(**delta: float) -> datetime:
    return CREATED + timedelta(**delta)


@pytest.mark.parametrize(
    ("expiry", "policy", "at", "capped"),
    [
        ({"ttl": "90m"}, NO_POLICY, after(minutes=90), False),
        ({"ttl": "1h30m"}, NO_POLICY, after(minutes=90), False),
        # expiresAt wins over ttl, whether it is later or earlier.
        ({"ttl": "90m", "expiresAt": "2026-11-19T10:00:00Z"}, NO_POLICY, after(days=1), False),
        ({"ttl": "9w", "expiresAt": "2026-11-18T10:05:00Z"}, NO_POLICY, after(minutes=5), False),
        # Offsets are honoured.
        ({"expiresAt": "2026-11-22T19:00:00+01:00"}, NO_POLICY, utc(2026, 11, 22, 18), False),
        # The operator default applies only when the spec sets no expiry...
        (None, DEFAULT_8H, after(hours=8), False),
        # ... which an expiry block with only warnBefore does not.
        ({"warnBefore": "5m"}, DEFAULT_8H, after(hours=8), False),
        ({"ttl": "1h"}, DEFAULT_8H, after(hours=1), False),
        ({"ttl": "2d"}, DEFAULT_8H, after(days=2), False),
        ({"expiresAt": "2026-11-19T10:00:00Z"}, DEFAULT_8H, after(days=1), False),
        # The maximum lifetime caps, and says so.
        ({"ttl": "2d"}, MAX_1D, after(days=1), True),
        ({"ttl": "1h"}, MAX_1D, after(hours=1), False),
        ({"ttl": "1d"}, MAX_1D, after(days=1), False),
        ({"expiresAt": "2027-01-01T00:00:00Z"}, MAX_1D, after(days=1), True),
        (None, MAX_1D, after(days=1), True),
        (
            None,
            ExpiryPolicy(default_ttl=timedelta(days=3), max_lifetime=timedelta(days=1)),
            after(days=1),
            True,
        ),
        (None, NO_POLICY, None, False),
    ],
)
def test_effective_expiry(
    expiry: dict[str, str] | None, policy: ExpiryPolicy, at: datetime | None, capped: bool
) -> None:
    s = spec(expiry=expiry) if expiry is not None else spec()
    both = expiry is not None and "ttl" in expiry and "expiresAt" in expiry
    assert effective_expiry(s, CREATED, policy) == Expiry(at=at, capped=capped, over_ttl=both)


def test_ttl_zero_starts_parked_expired() -> None:
    desired = state(spec(expiry={"ttl": "0s"}), CREATED)
    assert not desired.running
    assert desired.reason == ParkedReason.EXPIRED
    assert desired.expiry.at == CREATED
    # Nothing will change by itself: someone has to top it up.
    assert desired.next_transition_at is None


def test_expiry_is_exclusive() -> None:
    s = spec(expiry={"ttl": "1h"})
    assert state(s, CREATED + timedelta(hours=1) - timedelta(microseconds=1)).running
    assert state(s, CREATED + timedelta(hours=1)).reason == ParkedReason.EXPIRED


def test_extending_expires_at_resumes() -> None:
    now = CREATED + timedelta(hours=3)
    assert state(spec(expiry={"ttl": "1h"}), now).reason == ParkedReason.EXPIRED
    extended = spec(expiry={"ttl": "1h", "expiresAt": format_time(now + timedelta(hours=1))})
    assert state(extended, now).running


@pytest.mark.parametrize("ttl", ["999999w", "500000w", "999999w6d23h59m59s"])
def test_longest_admitted_ttl_runs_instead_of_crashing(ttl: str) -> None:
    # Admission accepts these (people write them to mean "never"); the pass must not raise
    # OverflowError past year 9999 on every reconcile.
    assert re.fullmatch(DURATION_PATTERN, ttl)
    desired = state(spec(expiry={"ttl": ttl}), CREATED)
    assert desired.running
    assert desired.expiry.at is None or desired.expiry.at > CREATED + timedelta(days=3650)


def test_zero_time_expires_at_is_expired_not_a_crash() -> None:
    # Go's zero time, as some clients serialize an unset metav1.Time; valid RFC 3339.
    desired = state(spec(expiry={"expiresAt": "0001-01-01T00:00:00Z"}), CREATED)
    assert desired.reason == ParkedReason.EXPIRED
    assert not is_expiring_soon(desired, CREATED)


# -- warnings and the next transition -------------------------------------------------------


def test_warn_time_is_expiry_minus_warn_before() -> None:
    assert state(spec(expiry={"ttl": "2h"}), CREATED).warn_at == CREATED + timedelta(
        hours=1, minutes=50
    )
    custom = spec(expiry={"ttl": "2h", "warnBefore": "30m"})
    assert state(custom, CREATED).warn_at == CREATED + timedelta(hours=1, minutes=30)
    assert warn_before(spec()) == timedelta(minutes=10)
    assert warn_before(custom) == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        # Before the warning: the warning comes next.
        (timedelta(0), timedelta(hours=1, minutes=50)),
        (timedelta(hours=1, minutes=49), timedelta(hours=1, minutes=50)),
        # At and after the warning: the expiry comes next.
        (timedelta(hours=1, minutes=50), timedelta(hours=2)),
        (timedelta(hours=1, minutes=59), timedelta(hours=2)),
        # Expired, no schedule: nothing pending.
        (timedelta(hours=2), None),
        (timedelta(days=9), None),
    ],
)
def test_next_transition_through_the_meter(offset: timedelta, expected: timedelta | None) -> None:
    desired = state(spec(expiry={"ttl": "2h"}), CREATED + offset)
    assert desired.next_transition_at == (CREATED + expected if expected is not None else None)


def test_next_transition_is_the_earliest_of_warning_expiry_and_schedule() -> None:
    # Wednesday 10:00 inside Mon-Fri 09:00-17:00 UTC: the window closes at 17:00.
    windowed = {"schedule": {"uptime": [WEEKDAYS_UTC]}}
    late = spec(expiry={"ttl": "2d"}, **windowed)
    assert state(late, CREATED).next_transition_at == utc(2026, 11, 18, 17)
    # An expiry (and its warning) before the window closes comes first.
    early = spec(expiry={"ttl": "3h", "warnBefore": "1h"}, **windowed)
    assert state(early, CREATED).next_transition_at == utc(2026, 11, 18, 12)
    assert state(early, utc(2026, 11, 18, 12)).next_transition_at == utc(2026, 11, 18, 13)
    # Expired: the schedule edge is still reported (the next instant something changes).
    assert state(early, utc(2026, 11, 18, 14)).next_transition_at == utc(2026, 11, 18, 17)


def test_schedule_edge_alone() -> None:
    s = spec(schedule={"uptime": [WEEKDAYS_UTC]})
    # Saturday noon: parked until Monday 09:00.
    desired = state(s, utc(2026, 11, 21, 12))
    assert desired.reason == ParkedReason.SCHEDULE
    assert desired.next_transition_at == utc(2026, 11, 23, 9)
    assert desired.expiry.at is None


@pytest.mark.parametrize(
    ("window", "now", "running", "next_at"),
    [
        # 2026-03-29: Berlin goes from CET (+01) to CEST (+02) at 02:00 local.
        ("Sun 09:00-17:00 Europe/Berlin", utc(2026, 3, 29, 6, 59), False, utc(2026, 3, 29, 7)),
        ("Sun 09:00-17:00 Europe/Berlin", utc(2026, 3, 29, 7), True, utc(2026, 3, 29, 15)),
        ("Sun 09:00-17:00 Europe/Berlin", utc(2026, 3, 29, 15), False, utc(2026, 4, 5, 7)),
        # The Sunday before, still on CET: one hour later in UTC.
        ("Sun 09:00-17:00 Europe/Berlin", utc(2026, 3, 22, 7, 30), False, utc(2026, 3, 22, 8)),
        ("Sun 09:00-17:00 Europe/Berlin", utc(2026, 3, 22, 15, 30), True, utc(2026, 3, 22, 16)),
        # A window across the change: 01:00 CET = 00:00Z to 04:00 CEST = 02:00Z.
        ("Sun 01:00-04:00 Europe/Berlin", utc(2026, 3, 28, 23, 59), False, utc(2026, 3, 29, 0)),
        ("Sun 01:00-04:00 Europe/Berlin", utc(2026, 3, 29, 1, 30), True, utc(2026, 3, 29, 2)),
        ("Sun 01:00-04:00 Europe/Berlin", utc(2026, 3, 29, 2), False, utc(2026, 4, 4, 23)),
    ],
)
def test_schedule_across_the_berlin_dst_change(
    window: str, now: datetime, running: bool, next_at: datetime
) -> None:
    desired = state(spec(schedule={"uptime": [window]}), now, created=utc(2026, 3, 1))
    assert desired.running == running
    assert desired.reason == (None if running else ParkedReason.SCHEDULE)
    assert desired.next_transition_at == next_at
    assert desired.next_transition_at is not None
    assert desired.next_transition_at.utcoffset() == timedelta(0)


def test_unknown_time_zone_is_reported_not_raised() -> None:
    s = spec(schedule={"uptime": ["Mon-Fri 09:00-17:00 Mars/Olympus"]}, expiry={"ttl": "1h"})
    desired = state(s, CREATED)
    assert desired.schedule_error is not None
    assert "Mars/Olympus" in desired.schedule_error
    # The rest of the policy still applies.
    assert desired.expiry.at == CREATED + timedelta(hours=1)
    assert state(s, CREATED + timedelta(hours=2)).reason == ParkedReason.EXPIRED


# -- expiring soon and extending -----------------------------------------------------------

EXPIRY = utc(2026, 11, 22, 18)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (EXPIRY - timedelta(minutes=10, seconds=1), False),
        (EXPIRY - timedelta(minutes=10), True),
        (EXPIRY - timedelta(seconds=1), True),
        (EXPIRY, False),
        (EXPIRY + timedelta(hours=1), False),
    ],
)
def test_is_expiring_soon_boundaries(now: datetime, expected: bool) -> None:
    desired = state(spec(expiry={"expiresAt": format_time(EXPIRY)}), now)
    assert is_expiring_soon(desired, now) == expected


def test_no_expiry_never_expires_soon() -> None:
    now = CREATED + timedelta(days=1000)
    assert not is_expiring_soon(state(spec(), now), now)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        # Not expired: extend from the current expiry.
        (EXPIRY + timedelta(hours=2), EXPIRY + timedelta(hours=3)),
        # Expired (or exactly now): extend from now, like a parking meter.
        (EXPIRY - timedelta(hours=5), EXPIRY + timedelta(hours=1)),
        (EXPIRY, EXPIRY + timedelta(hours=1)),
        # No expiry yet: from now.
        (None, EXPIRY + timedelta(hours=1)),
    ],
)
def test_extended_expiry(current: datetime | None, expected: datetime) -> None:
    assert extended_expiry(current, EXPIRY, timedelta(hours=1)) == expected


def test_extending_by_the_longest_duration_does_not_crash() -> None:
    # `kubectl sagemeter extend NAME 999999w` must write some far-future expiry, not raise.
    extended = extended_expiry(EXPIRY, EXPIRY, timedelta(weeks=999999))
    assert extended > EXPIRY + timedelta(days=3650)


# -- properties -----------------------------------------------------------------------------

PROPERTY = settings(max_examples=120, deadline=None)
seconds = st.integers(min_value=0, max_value=30 * 86400)
offsets = st.integers(min_value=-30 * 86400, max_value=30 * 86400)
created_times = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))
expiries = st.fixed_dictionaries(
    {},
    optional={
        "ttl": seconds.map(lambda s: format_duration(timedelta(seconds=s))),
        "expiresAt": offsets,  # relative to `created`, made absolute below
        "warnBefore": seconds.map(lambda s: format_duration(timedelta(seconds=s))),
    },
)
policies = st.builds(
    ExpiryPolicy,
    default_ttl=st.none() | seconds.map(lambda s: timedelta(seconds=s)),
    max_lifetime=st.none() | seconds.map(lambda s: timedelta(seconds=s)),
)
schedules = st.none() | st.sampled_from(
    [[WEEKDAYS_UTC], ["Sun 01:00-04:00 Europe/Berlin"], ["Sat-Sun 00:00-24:00 America/New_York"]]
)


@PROPERTY
@given(
    created_times,
    st.none() | expiries,
    policies,
    schedules,
    st.booleans(),
    st.booleans(),
    offsets,
)
def test_running_means_not_expired_and_next_transition_is_ahead(
    created: datetime,
    expiry: dict[str, Any] | None,
    policy: ExpiryPolicy,
    uptime: list[str] | None,
    suspend: bool,
    idle: bool,
    now_offset: int,
) -> None:
    fields: dict[str, Any] = {"suspend": suspend}
    if expiry is not None:
        if "expiresAt" in expiry:
            absolute = created + timedelta(seconds=expiry["expiresAt"])
            expiry = {**expiry, "expiresAt": format_time(absolute)}
        fields["expiry"] = expiry
    if uptime is not None:
        fields["schedule"] = {"uptime": uptime}
    now = created + timedelta(seconds=now_offset)

    desired = desired_state(spec(**fields), created, now, policy, idle=idle)

    at = desired.expiry.at
    if desired.running:
        assert at is None or now < at
    else:
        assert desired.reason is not None
    expired = at is not None and now >= at
    assert (desired.reason == ParkedReason.EXPIRED) == (expired and not suspend)
    if desired.next_transition_at is not None:
        assert desired.next_transition_at > now
    if at is not None:
        assert desired.warn_at == at - warn_before(spec(**fields))
        if policy.max_lifetime is not None:
            assert at <= created + policy.max_lifetime
        # Whatever is still ahead of us bounds the next transition.
        for instant in (at, desired.warn_at):
            if instant is not None and instant > now:
                assert desired.next_transition_at is not None
                assert desired.next_transition_at <= instant
