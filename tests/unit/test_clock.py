"""The times cluster tests build from the real clock (tests/clock.py), run with clocks
around midnight UTC: no test may fail because it ran at 23:59:30."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.cli.actions import still_parked_note
from sagemeter.cli.table import format_time_left
from sagemeter.core.meter.schedule import in_any_window, next_edge, parse_window
from sagemeter.core.meter.times import format_time
from sagemeter_sandbox.examples import Expectation, expected_state
from tests.clock import window_opening_soon

EXAMPLES = Path(__file__).parents[2] / "examples"
# Friday 27 November 2026, 30 s before midnight UTC (00:59:30 on Saturday in Berlin).
FRIDAY_NIGHT = datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC)


def check_window(now: datetime) -> None:
    window = window_opening_soon(now)
    parsed = parse_window(window.text)  # valid syntax: never crosses midnight
    assert timedelta(seconds=8) <= window.start - now <= timedelta(seconds=68)
    assert window.start.second == 0 and window.end - window.start >= timedelta(minutes=1)
    assert not in_any_window([parsed], now)
    assert next_edge([parsed], now) == window.start  # the nextTransitionAt a test expects
    assert in_any_window([parsed], window.start)
    assert next_edge([parsed], window.start) == window.end


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (FRIDAY_NIGHT, "Sat 00:00-00:02 UTC"),  # the next minute is tomorrow's
        (FRIDAY_NIGHT - timedelta(minutes=1), "Fri 23:59-24:00 UTC"),  # cut at midnight
        (FRIDAY_NIGHT - timedelta(seconds=25), "Sat 00:00-00:02 UTC"),  # 5 s is too soon
        (datetime(2026, 11, 29, 23, 59, 30, tzinfo=UTC), "Mon 00:00-00:02 UTC"),  # a new week
        (datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC), "Fri 12:01-12:03 UTC"),
    ],
)
def test_window_opening_soon_never_crosses_midnight(now: datetime, text: str) -> None:
    assert window_opening_soon(now).text == text
    check_window(now)


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    )
)
def test_window_opening_soon_at_any_instant(now: datetime) -> None:
    check_window(now)


def example_spec(name: str) -> dict:  # type: ignore[type-arg]
    spec = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())["spec"]
    return dict(spec)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Friday 23:59:30 UTC is Saturday in Berlin: parked until Monday 09:00 Berlin.
        (FRIDAY_NIGHT, Expectation("Parked", "Schedule", datetime(2026, 11, 30, 8, tzinfo=UTC))),
        # Thursday 23:59:30 UTC is Friday 00:59:30 in Berlin: parked until 09:00 that day.
        (
            FRIDAY_NIGHT - timedelta(days=1),
            Expectation("Parked", "Schedule", datetime(2026, 11, 27, 8, tzinfo=UTC)),
        ),
        # Berlin office hours, in UTC: 08:00-16:00 in winter.
        (
            datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
            Expectation("InService", None, datetime(2026, 11, 26, 16, tzinfo=UTC)),
        ),
        (
            datetime(2026, 11, 26, 7, 59, 59, tzinfo=UTC),
            Expectation("Parked", "Schedule", datetime(2026, 11, 26, 8, tzinfo=UTC)),
        ),
    ],
)
def test_office_hours_expectation_is_computed_from_the_schedule(
    now: datetime, expected: Expectation
) -> None:
    assert expected_state(example_spec("office-hours"), now - timedelta(minutes=1), now) == expected


def test_meter_expectations_across_midnight() -> None:
    created = FRIDAY_NIGHT - timedelta(seconds=20)
    assert expected_state(example_spec("starts-parked"), created, FRIDAY_NIGHT) == Expectation(
        "Parked", "Expired", None
    )
    falcon = expected_state(example_spec("realtime-jumpstart-api"), created, FRIDAY_NIGHT)
    assert falcon == Expectation("InService", None, created + timedelta(minutes=90))
    spec = {"expiry": {"expiresAt": "2026-11-28T00:00:00Z"}, "suspend": False}
    assert expected_state(spec, created, FRIDAY_NIGHT).phase == "InService"
    assert expected_state(spec, created, FRIDAY_NIGHT + timedelta(seconds=30)).reason == "Expired"


def test_plugin_time_left_and_wake_note_across_midnight() -> None:
    assert format_time_left(FRIDAY_NIGHT + timedelta(minutes=1), FRIDAY_NIGHT) == "1m"
    assert format_time_left(FRIDAY_NIGHT - timedelta(days=1), FRIDAY_NIGHT) == "expired 1d ago"
    obj = {
        "spec": {
            "model": {"container": {"image": "repo/m:1"}},
            "instanceType": "ml.m5.large",
            "schedule": {"uptime": ["Mon-Fri 09:00-17:00 UTC"]},
        }
    }
    ManagedEndpointSpec.model_validate(obj["spec"])
    note = still_parked_note(obj, "falcon", FRIDAY_NIGHT)
    assert note is not None and format_time(datetime(2026, 11, 30, 9, tzinfo=UTC)) in note
    assert still_parked_note(obj, "falcon", FRIDAY_NIGHT - timedelta(hours=12)) is None
