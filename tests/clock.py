"""What tests build from "now", made to hold at any time of day.

Cluster tests run against the real clock, so a schedule window they derive from `now` must
be right at 23:59:30 UTC as much as at noon. This takes `now` as a parameter;
tests/unit/test_clock.py runs it (and `sagemeter_sandbox.examples.expected_state`, what the
examples test expects) with clocks around midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta


@dataclass(frozen=True)
class SoonWindow:
    start: datetime  # UTC, on a whole minute
    end: datetime  # UTC; at most the midnight after `start`
    text: str  # "<Day> HH:MM-HH:MM UTC", never crossing midnight


def window_opening_soon(
    now: datetime, lead: timedelta = timedelta(seconds=8), length: timedelta = timedelta(minutes=2)
) -> SoonWindow:
    """A UTC uptime window that opens on the first whole minute at least `lead` after `now`
    and lasts `length`, cut at the midnight after its start (`24:00`) so that it never
    crosses one: at 23:59:30 it is tomorrow's `00:00-00:02`, at 23:58:30 today's `23:59-24:00`.
    """
    now = now.astimezone(UTC)
    start = (now + lead).replace(second=0, microsecond=0)
    if start < now + lead:
        start += timedelta(minutes=1)
    midnight = datetime.combine(start.date() + timedelta(days=1), time(), tzinfo=UTC)
    end = min(start + length, midnight)
    until = "24:00" if end == midnight else f"{end:%H:%M}"
    return SoonWindow(start, end, f"{start:%a} {start:%H:%M}-{until} UTC")
