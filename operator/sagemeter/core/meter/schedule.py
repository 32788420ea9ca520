"""Schedule windows: the `schedule.uptime` syntax and when an endpoint is inside one.

This module owns the window syntax `<Day>[-<Day>] HH:MM-HH:MM <IANA zone>`
(`WINDOW_PATTERN` for the CRD, `parse_window` for the operator), the question
"is this instant inside any window" and "when does that answer next change",
which the operator turns into `status.nextTransitionAt`.

Syntax. Days are `Mon Tue Wed Thu Fri Sat Sun`; a range is inclusive and may
wrap (`Fri-Mon` is Fri, Sat, Sun, Mon; `Mon-Mon` is just Mon). Times are
`00:00`..`23:59`; the end may also be `24:00`; the end must be after the start,
so a window never crosses midnight (write two windows instead). Fields are
separated by exactly one space. The zone is any IANA name the tz database
knows, such as `UTC` or `America/Argentina/Buenos_Aires`.

Daylight saving time. On each selected local day a window is the interval of
real time [open, close), where open and close are the window's wall-clock times
on that day resolved to instants like this: a wall-clock time that happens
twice (the hour repeated when clocks go back) means its first occurrence
(`fold=0`); a wall-clock time that does not exist (the hour skipped when clocks
go forward) means the first instant that does exist after it, i.e. the moment
of the change. So `Sun 01:00-04:00 Europe/Berlin` lasts 2 hours on the day
clocks go forward, 4 hours on the day they go back, and 3 hours otherwise; a
window that lies entirely inside the skipped hour is empty on that day.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, available_timezones

from sagemeter.api.patterns import DAY_NAMES, WINDOW_PATTERN
from sagemeter.api.patterns import ZONE_PATTERN as _ZONE

EXAMPLE_WINDOW: Final = "Mon-Fri 09:00-17:00 Europe/Berlin"

# A week and a day: weekly windows repeat, so if in_any_window changes at all
# it changes within a week, plus slack for a day lengthened by DST.
SEARCH_HORIZON: Final = timedelta(days=8)

_MINUTES_PER_DAY: Final = 24 * 60
_WINDOW = re.compile(WINDOW_PATTERN)
_ZONE_NAME = re.compile(_ZONE)
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
_TIME_RANGE = re.compile(r"([^-]*)-([^-]*)")
# In the tz database, but their meaning depends on the host the operator runs on.
_HOST_DEPENDENT_ZONES: Final = frozenset({"localtime", "posixrules"})

_Invalid = Callable[[str], ValueError]


@dataclass(frozen=True)
class Window:
    """One parsed uptime window. Minutes count from local midnight; `end_minute` may be 1440."""

    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start_minute: int
    end_minute: int
    zone: ZoneInfo
    text: str

    def contains(self, instant: datetime) -> bool:
        """Whether the aware `instant` lies in this window: start inclusive, end exclusive."""
        utc = _as_utc(instant)
        local_day = utc.astimezone(self.zone).date()
        # Neighbouring days too: a DST change near midnight can move a day's
        # open or close across the local date line.
        return any(
            opened <= utc < closed
            for opened, closed in self.intervals(
                local_day - timedelta(days=1), local_day + timedelta(days=1)
            )
        )

    def intervals(self, first_day: date, last_day: date) -> list[tuple[datetime, datetime]]:
        """The window's non-empty [open, close) UTC intervals on local days first_day..last_day."""
        result = []
        day = first_day
        while day <= last_day:
            if day.weekday() in self.days:
                midnight = datetime.combine(day, datetime.min.time())
                opened = _resolve(midnight + timedelta(minutes=self.start_minute), self.zone)
                closed = _resolve(midnight + timedelta(minutes=self.end_minute), self.zone)
                if opened < closed:
                    result.append((opened, closed))
            day += timedelta(days=1)
        return result


def parse_window(text: str) -> Window:
    """Parse `text` (e.g. `Mon-Fri 09:00-17:00 Europe/Berlin`); ValueError names the fault."""

    def invalid(reason: str) -> ValueError:
        return ValueError(
            f"invalid schedule window {text!r}: {reason}; expected"
            f" '<Day>[-<Day>] HH:MM-HH:MM <IANA zone>', e.g. {EXAMPLE_WINDOW!r}"
        )

    fields = text.split(" ")
    if len(fields) != 3:
        raise invalid("expected three fields separated by single spaces")
    day_field, time_field, zone_name = fields
    days = _parse_days(day_field, invalid)
    time_range = _TIME_RANGE.fullmatch(time_field)
    if time_range is None:
        raise invalid(f"bad time range {time_field!r}")
    start = _parse_minute(time_range.group(1), invalid)
    end = _parse_minute(time_range.group(2), invalid)
    if start == _MINUTES_PER_DAY:
        raise invalid("the start time must be before 24:00")
    if _ZONE_NAME.fullmatch(zone_name) is None:
        raise invalid(f"bad time zone name {zone_name!r}")
    if _WINDOW.fullmatch(text) is None:
        # The checks above are for precise messages; this keeps parse_window
        # exactly as strict as the CRD pattern.
        raise invalid("it does not match the window syntax")
    # Syntax is settled; what follows is what the CRD pattern cannot check.
    if end <= start:
        raise invalid(
            f"the end {time_range.group(2)} is not after the start {time_range.group(1)};"
            " a window cannot cross midnight, write two windows"
        )
    zone = _load_zone(zone_name)
    if zone is None:
        raise invalid(f"unknown time zone {zone_name!r}")
    return Window(days=days, start_minute=start, end_minute=end, zone=zone, text=text)


def in_any_window(windows: Iterable[Window], instant: datetime) -> bool:
    """Whether `instant` (timezone-aware) lies in at least one of `windows`."""
    return any(window.contains(instant) for window in windows)


def next_edge(windows: Iterable[Window], instant: datetime) -> datetime | None:
    """The first instant after `instant` at which in_any_window changes, in UTC.

    None when there are no windows, or when the answer does not change within
    SEARCH_HORIZON (the windows cover the whole week). Windows that overlap or
    touch (`Mon 09:00-12:00` and `Mon 12:00-17:00`) have no edge between them.
    """
    windows = list(windows)
    if not windows:
        return None
    utc = _as_utc(instant)
    horizon = utc + SEARCH_HORIZON
    intervals = sorted(
        interval
        for window in windows
        # One local day of margin on each side so that an interval covering
        # `instant` or the horizon is seen whole and merged correctly.
        for interval in window.intervals(
            utc.astimezone(window.zone).date() - timedelta(days=1),
            horizon.astimezone(window.zone).date() + timedelta(days=1),
        )
    )
    for edge in _merged_edges(intervals):
        if edge > horizon:
            return None
        if edge > utc:
            return edge
    return None


def _merged_edges(intervals: list[tuple[datetime, datetime]]) -> list[datetime]:
    """Boundaries of the union of sorted [open, close) intervals, where membership really flips."""
    edges: list[datetime] = []
    for opened, closed in intervals:
        if edges and opened <= edges[-1]:
            edges[-1] = max(edges[-1], closed)
        else:
            edges += [opened, closed]
    return edges


def _parse_days(field: str, invalid: _Invalid) -> frozenset[int]:
    first_name, dash, last_name = field.partition("-")
    names = [first_name, last_name] if dash else [first_name]
    for name in names:
        if name not in DAY_NAMES:
            raise invalid(f"unknown day {name!r} (days are {', '.join(DAY_NAMES)})")
    first = DAY_NAMES.index(first_name)
    last = DAY_NAMES.index(names[-1])
    span = (last - first) % 7  # ranges wrap around the week end
    return frozenset((first + offset) % 7 for offset in range(span + 1))


def _parse_minute(field: str, invalid: _Invalid) -> int:
    match = _TIME.fullmatch(field)
    hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59) and field != "24:00":
        raise invalid(f"bad time {field!r} (use HH:MM from 00:00 to 23:59, or 24:00 as the end)")
    return hours * 60 + minutes


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _HOST_DEPENDENT_ZONES


def _load_zone(name: str) -> ZoneInfo | None:
    if name not in _known_zones():
        return None
    return ZoneInfo(name)


def _as_utc(instant: datetime) -> datetime:
    if instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} has no time zone")
    return instant.astimezone(UTC)


def _wall_clock(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _resolve(wall_clock: datetime, zone: ZoneInfo) -> datetime:
    """The first instant whose wall-clock time in `zone` is at or after `wall_clock`, in UTC.

    That is the instant itself when the time exists, its first occurrence when
    it is repeated, and the moment clocks jump past it when it is skipped.
    """
    earlier = wall_clock.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall_clock(earlier, zone) == wall_clock:
        return earlier
    # Skipped: the jump lies between the two readings of the time (one with
    # the offset before it, one with the offset after). Offsets and the jump
    # are whole seconds, so a binary search over seconds finds it exactly.
    other = wall_clock.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low = min(earlier, other)
    # Invariant: the jump is within (low, low + high_offset] seconds.
    low_offset, high_offset = 0, int(abs(earlier - other).total_seconds())
    while high_offset - low_offset > 1:
        middle = (low_offset + high_offset) // 2
        if _wall_clock(low + timedelta(seconds=middle), zone) >= wall_clock:
            high_offset = middle
        else:
            low_offset = middle
    return low + timedelta(seconds=high_offset)
