"""Schedule windows: parsing, containment at the edges, DST days, and next_edge properties."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemeter.api.patterns import DAY_NAMES, WINDOW_MAX_LENGTH, WINDOW_PATTERN
from sagemeter.core.meter.schedule import (
    SEARCH_HORIZON,
    Window,
    in_any_window,
    next_edge,
    parse_window,
)

PROPERTY = settings(max_examples=150, deadline=None)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MICROSECOND = timedelta(microseconds=1)


def matches(text: str) -> bool:
    return re.fullmatch(WINDOW_PATTERN, text) is not None


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def windows(*texts: str) -> list[Window]:
    return [parse_window(text) for text in texts]


def lengths(text: str, day: date) -> list[timedelta]:
    """How long the window is open in real time on local `day`."""
    return [closed - opened for opened, closed in parse_window(text).intervals(day, day)]


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "start", "end", "zone"),
    [
        ("Mon-Fri 09:00-17:00 Europe/Berlin", {0, 1, 2, 3, 4}, 540, 1020, "Europe/Berlin"),
        ("Sat 10:00-14:00 UTC", {5}, 600, 840, "UTC"),
        ("Fri-Mon 08:00-18:00 America/New_York", {4, 5, 6, 0}, 480, 1080, "America/New_York"),
        ("Sun-Sat 00:00-24:00 UTC", set(range(7)), 0, 1440, "UTC"),
        ("Mon-Sun 00:00-00:01 Etc/GMT+5", set(range(7)), 0, 1, "Etc/GMT+5"),
        ("Mon-Mon 23:59-24:00 Asia/Kolkata", {0}, 1439, 1440, "Asia/Kolkata"),
        ("Wed 12:30-12:31 America/Argentina/Buenos_Aires", {2}, 750, 751, None),
        ("Tue 06:00-07:00 America/Port-au-Prince", {1}, 360, 420, None),
    ],
)
def test_parse_valid(text: str, days: set[int], start: int, end: int, zone: str | None) -> None:
    window = parse_window(text)
    assert window.days == frozenset(days)
    assert (window.start_minute, window.end_minute) == (start, end)
    assert window.zone.key == (zone or text.rsplit(" ", 1)[1])
    assert window.text == text
    assert matches(text)
    assert len(text) <= WINDOW_MAX_LENGTH


@pytest.mark.parametrize(
    ("text", "reason", "pattern_matches"),
    [
        ("Mon 17:00-09:00 UTC", "not after the start", True),  # CEL's job in the CRD
        ("Mon 09:00-09:00 UTC", "not after the start", True),
        ("Mon 09:00-00:00 UTC", "not after the start", True),
        ("Mon 09:00-10:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'", True),
        ("Mon 09:00-10:00 Europe/berlin", "unknown time zone", True),
        ("Mon 09:00-10:00 localtime", "unknown time zone", True),  # depends on the host
        ("Mon 09:00-10:00 Europe//Berlin", "bad time zone name", False),
        ("Mon 09:00-10:00 /UTC", "bad time zone name", False),
        ("Mon 09:00-10:00 UTC/", "bad time zone name", False),
        ("Mon 17:00-09:00 Mars/", "bad time zone name", False),
        ("Xyz 09:00-10:00 UTC", "unknown day 'Xyz'", False),
        ("mon 09:00-10:00 UTC", "unknown day 'mon'", False),
        ("Mon-Xyz 09:00-10:00 UTC", "unknown day 'Xyz'", False),
        ("Mon- 09:00-10:00 UTC", "unknown day ''", False),
        ("Mon-Tue-Wed 09:00-10:00 UTC", "unknown day", False),
        ("Mon 9:00-10:00 UTC", "bad time '9:00'", False),
        ("Mon 09:00-10:0 UTC", "bad time '10:0'", False),
        ("Mon 09:60-10:00 UTC", "bad time '09:60'", False),
        ("Mon 09:00-24:01 UTC", "bad time '24:01'", False),
        ("Mon 24:00-24:00 UTC", "before 24:00", False),
        ("Mon 09:00 UTC", "bad time range", False),
        ("Mon 09:00-10:00-11:00 UTC", "bad time range", False),
        ("Mon 09:00-10:00", "three fields", False),
        ("Mon  09:00-10:00 UTC", "three fields", False),
        (" Mon 09:00-10:00 UTC", "three fields", False),
        ("Mon 09:00-10:00 UTC ", "three fields", False),
        ("Mon\t09:00-10:00 UTC", "three fields", False),
        ("", "three fields", False),
    ],
)
def test_parse_rejects(text: str, reason: str, pattern_matches: bool) -> None:
    with pytest.raises(ValueError) as error:
        parse_window(text)
    message = str(error.value)
    assert reason in message
    assert repr(text) in message
    assert "Mon-Fri 09:00-17:00 Europe/Berlin" in message  # an example to copy
    assert matches(text) == pattern_matches


def test_pattern_is_re2_compatible_and_anchored() -> None:
    for construct in ("(?=", "(?!", "(?<", "\\1", "\\d", "\\"):
        assert construct not in WINDOW_PATTERN
    assert WINDOW_PATTERN.startswith("^")
    assert WINDOW_PATTERN.endswith("$")


def test_every_zone_in_the_database_is_accepted() -> None:
    longest = ""
    for name in available_timezones() - {"localtime"}:
        text = f"Mon-Sun 00:00-24:00 {name}"
        assert parse_window(text).zone.key == name
        assert matches(text)
        longest = max(longest, text, key=len)
    assert len(longest) <= WINDOW_MAX_LENGTH


time_text = st.one_of(
    st.integers(0, 25).map(lambda hour: f"{hour:02d}"),
    st.sampled_from(["9", "x1", "", "007"]),
).flatmap(
    lambda hour: st.one_of(
        st.integers(0, 61).map(lambda minute: f"{hour}:{minute:02d}"),
        st.sampled_from([f"{hour}:0", f"{hour}", f"{hour}:00:00"]),
    )
)
day_text = st.sampled_from([*DAY_NAMES, "Xyz", "mon", ""])
zone_text = st.sampled_from(["UTC", "Europe/Berlin", "Etc/GMT-14", "Mars/Olympus", "a//b", "x/"])
window_text = st.builds(
    lambda first, last, start, end, zone, separator: (
        f"{first}{'-' + last if last else ''}{separator}{start}-{end}{separator}{zone}"
    ),
    day_text,
    st.none() | day_text,
    time_text,
    time_text,
    zone_text,
    st.sampled_from([" ", " ", " ", "  ", "\t"]),
)


@PROPERTY
@given(window_text)
def test_parse_agrees_with_the_pattern(text: str) -> None:
    try:
        parse_window(text)
    except ValueError as error:
        # The pattern cannot see semantics: the order of the times, the zone database.
        semantic = "not after the start" in str(error) or "unknown time zone" in str(error)
        assert matches(text) == semantic
    else:
        assert matches(text)


# -- contains --------------------------------------------------------------------------------


def test_contains_start_inclusive_end_exclusive() -> None:
    window = parse_window("Mon-Fri 09:00-17:00 Europe/Berlin")
    monday = datetime(2026, 11, 23, tzinfo=BERLIN)
    assert not window.contains(monday.replace(hour=8, minute=59, second=59, microsecond=999999))
    assert window.contains(monday.replace(hour=9))
    assert window.contains(monday.replace(hour=16, minute=59, second=59, microsecond=999999))
    assert not window.contains(monday.replace(hour=17))
    assert window.contains(monday.replace(day=27, hour=12))  # Friday
    assert not window.contains(monday.replace(day=28, hour=12))  # Saturday
    # The same instant written in another zone: 08:00 UTC is 09:00 in Berlin in winter.
    assert window.contains(utc(2026, 11, 23, 8))
    assert not window.contains(utc(2026, 11, 23, 16))


def test_contains_until_midnight_with_24_00() -> None:
    window = parse_window("Mon 22:00-24:00 UTC")
    assert window.contains(utc(2026, 11, 23, 23, 59, 59))
    assert not window.contains(utc(2026, 11, 24, 0, 0))
    assert not window.contains(utc(2026, 11, 23, 0, 0))


def test_contains_wrapping_day_range() -> None:
    window = parse_window("Fri-Mon 08:00-18:00 America/New_York")
    sunday_noon = datetime(2026, 11, 29, 12, tzinfo=NEW_YORK)
    assert window.contains(sunday_noon)
    assert window.contains(sunday_noon + timedelta(days=1))  # Monday
    assert not window.contains(sunday_noon + timedelta(days=2))  # Tuesday
    assert not window.contains(sunday_noon - timedelta(days=3))  # Thursday


def test_naive_instants_are_refused() -> None:
    window = parse_window("Mon 09:00-17:00 UTC")
    with pytest.raises(ValueError, match="no time zone"):
        window.contains(datetime(2026, 11, 23, 10))
    with pytest.raises(ValueError, match="no time zone"):
        next_edge([window], datetime(2026, 11, 23, 10))


# -- daylight saving time ----------------------------------------------------------------------

# Europe/Berlin: clocks go 02:00 -> 03:00 on 2026-03-29 and 03:00 -> 02:00 on 2026-10-25.
# America/New_York: 02:00 -> 03:00 on 2026-03-08 and 02:00 -> 01:00 on 2026-11-01.


@pytest.mark.parametrize(
    ("text", "day", "hours"),
    [
        ("Sun 01:00-04:00 Europe/Berlin", date(2026, 3, 29), 2),
        ("Sun 01:00-04:00 Europe/Berlin", date(2026, 10, 25), 4),
        ("Sun 01:00-04:00 Europe/Berlin", date(2026, 6, 7), 3),
        ("Sun 00:00-24:00 Europe/Berlin", date(2026, 3, 29), 23),
        ("Sun 00:00-24:00 Europe/Berlin", date(2026, 10, 25), 25),
        ("Sun 00:00-06:00 America/New_York", date(2026, 3, 8), 5),
        ("Sun 00:00-06:00 America/New_York", date(2026, 11, 1), 7),
        ("Sun 09:00-17:00 America/New_York", date(2026, 3, 8), 8),
    ],
)
def test_window_length_on_dst_days(text: str, day: date, hours: int) -> None:
    assert lengths(text, day) == [timedelta(hours=hours)]


def test_window_follows_local_time_across_a_dst_change() -> None:
    window = parse_window("Sun 09:00-17:00 America/New_York")
    assert window.intervals(date(2026, 3, 1), date(2026, 3, 1)) == [
        (utc(2026, 3, 1, 14), utc(2026, 3, 1, 22))
    ]
    assert window.intervals(date(2026, 3, 8), date(2026, 3, 8)) == [
        (utc(2026, 3, 8, 13), utc(2026, 3, 8, 21))
    ]


def test_skipped_start_opens_when_clocks_jump() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin: the window opens at 03:00 CEST.
    window = parse_window("Sun 02:30-05:00 Europe/Berlin")
    assert window.intervals(date(2026, 3, 29), date(2026, 3, 29)) == [
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 3))
    ]
    assert next_edge([window], utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)


def test_window_inside_the_skipped_hour_is_empty_that_day() -> None:
    window = parse_window("Sun 02:00-02:30 Europe/Berlin")
    assert window.intervals(date(2026, 3, 29), date(2026, 3, 29)) == []
    assert not window.contains(utc(2026, 3, 29, 1))
    # So the next opening is a week later, at 02:00 CEST.
    assert next_edge([window], utc(2026, 3, 28, 12)) == utc(2026, 4, 5, 0)


def test_repeated_times_mean_their_first_occurrence() -> None:
    # 02:00-03:00 happens twice on 2026-10-25 in Berlin (00:00-01:00 and 01:00-02:00 UTC).
    window = parse_window("Sun 02:15-02:45 Europe/Berlin")
    assert window.intervals(date(2026, 10, 25), date(2026, 10, 25)) == [
        (utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 45))
    ]
    assert window.contains(utc(2026, 10, 25, 0, 20))
    assert not window.contains(utc(2026, 10, 25, 1, 20))  # 02:20 again, second time round
    # A window from inside the repeated hour to after it stays one piece.
    assert lengths("Sun 02:30-03:30 Europe/Berlin", date(2026, 10, 25)) == [timedelta(hours=2)]


def test_a_skipped_local_day_has_no_window() -> None:
    # Samoa moved across the date line: Friday 2011-12-30 never happened in Apia.
    window = parse_window("Fri 09:00-17:00 Pacific/Apia")
    assert window.intervals(date(2011, 12, 30), date(2011, 12, 30)) == []
    assert next_edge([window], utc(2011, 12, 29, 12)) == datetime(2012, 1, 6, 9, tzinfo=window.zone)


def test_next_edges_through_a_dst_day() -> None:
    schedule = windows("Sun 01:00-04:00 Europe/Berlin")
    assert next_edge(schedule, utc(2026, 10, 24, 12)) == utc(2026, 10, 24, 23)
    assert next_edge(schedule, utc(2026, 10, 24, 23)) == utc(2026, 10, 25, 3)
    assert next_edge(schedule, utc(2026, 3, 29, 0)) == utc(2026, 3, 29, 2)


# -- next_edge -------------------------------------------------------------------------------


def test_next_edge_is_strictly_after_and_in_utc() -> None:
    schedule = windows("Mon-Fri 09:00-17:00 Europe/Berlin")
    monday_open = datetime(2026, 11, 23, 9, tzinfo=BERLIN)
    edge = next_edge(schedule, monday_open)
    assert edge == utc(2026, 11, 23, 16)
    assert edge is not None and edge.tzinfo is UTC
    assert next_edge(schedule, monday_open - MICROSECOND) == monday_open
    # Friday evening to Monday morning.
    assert next_edge(schedule, utc(2026, 11, 27, 16)) == utc(2026, 11, 30, 8)


@pytest.mark.parametrize(
    "texts",
    [
        ["Mon 09:00-12:00 UTC", "Mon 12:00-17:00 UTC"],
        ["Mon 09:00-13:00 UTC", "Mon 12:00-17:00 UTC"],
        ["Mon 09:00-17:00 UTC", "Mon 10:00-11:00 UTC"],
        # Touching across zones: 13:00 in Berlin is 12:00 UTC in winter.
        ["Mon 09:00-12:00 UTC", "Mon 13:00-18:00 Europe/Berlin"],
    ],
)
def test_touching_or_overlapping_windows_have_no_edge_between(texts: list[str]) -> None:
    schedule = windows(*texts)
    assert next_edge(schedule, utc(2026, 11, 23, 10)) == utc(2026, 11, 23, 17)
    assert in_any_window(schedule, utc(2026, 11, 23, 12))


def test_windows_touching_at_midnight_merge() -> None:
    schedule = windows("Mon 22:00-24:00 UTC", "Tue 00:00-02:00 UTC")
    assert next_edge(schedule, utc(2026, 11, 23, 23)) == utc(2026, 11, 24, 2)


@pytest.mark.parametrize(
    "texts",
    [
        ["Mon-Sun 00:00-24:00 UTC"],
        ["Mon-Fri 00:00-24:00 UTC", "Sat-Sun 00:00-24:00 UTC"],
        ["Mon-Sun 00:00-24:00 Europe/Berlin"],  # 23- and 25-hour days included
        ["Mon-Sun 00:00-12:00 Asia/Tokyo", "Mon-Sun 12:00-24:00 Asia/Tokyo"],
    ],
)
def test_whole_week_has_no_edge(texts: list[str]) -> None:
    schedule = windows(*texts)
    for instant in (utc(2026, 3, 28, 12), utc(2026, 10, 24, 12), utc(2026, 11, 23)):
        assert in_any_window(schedule, instant)
        assert next_edge(schedule, instant) is None


def test_no_windows() -> None:
    assert next_edge([], utc(2026, 11, 23)) is None
    assert not in_any_window([], utc(2026, 11, 23))


# -- properties --------------------------------------------------------------------------------

# Zones with the awkward cases: DST in either hemisphere, a 30-minute DST shift
# (Lord_Howe), transitions at midnight (Santiago), a skipped day (Apia, 2011),
# offsets not whole hours (Kolkata, Chatham).
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Apia",
    "Asia/Kolkata",
    "Pacific/Chatham",
]


@st.composite
def random_windows(draw: st.DrawFn) -> Window:
    first, last = draw(st.sampled_from(DAY_NAMES)), draw(st.none() | st.sampled_from(DAY_NAMES))
    start = draw(st.integers(0, 1439))
    end = draw(st.integers(start + 1, 1440))
    days = f"{first}-{last}" if last else first
    return parse_window(
        f"{days} {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
        f" {draw(st.sampled_from(ZONES))}"
    )


instants = st.datetimes(
    min_value=datetime(2011, 12, 20), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@PROPERTY
@given(st.lists(random_windows(), min_size=1, max_size=3), instants)
def test_next_edge_is_the_first_change(schedule: list[Window], instant: datetime) -> None:
    edge = next_edge(schedule, instant)
    inside = in_any_window(schedule, instant)
    end = edge if edge is not None else instant + SEARCH_HORIZON
    # in_any_window can only change where some window opens or closes, so
    # checking at (and just before) every such point is checking everywhere.
    for window in schedule:
        local = [instant.astimezone(window.zone).date(), end.astimezone(window.zone).date()]
        for interval in window.intervals(local[0] - timedelta(days=1), local[1]):
            for point in interval:
                for probe in (point - MICROSECOND, point):
                    if instant <= probe < end:
                        assert in_any_window(schedule, probe) == inside
    if edge is not None:
        assert instant < edge <= instant + SEARCH_HORIZON
        assert edge.tzinfo is UTC
        assert in_any_window(schedule, edge) != inside
        assert in_any_window(schedule, edge - MICROSECOND) == inside


@PROPERTY
@given(random_windows(), instants)
def test_contains_is_the_wall_clock_rule_away_from_offset_changes(
    window: Window, instant: datetime
) -> None:
    local = instant.astimezone(window.zone)
    midnight = datetime.combine(local.date(), datetime.min.time())
    offsets = {
        (midnight + timedelta(hours=hours)).replace(tzinfo=window.zone).utcoffset()
        for hours in range(-24, 49)
    }
    if len(offsets) > 1:
        return  # an offset change nearby: the DST rules in the module docstring apply
    minute = local.hour * 60 + local.minute
    expected = local.weekday() in window.days and (
        window.start_minute <= minute < window.end_minute
    )
    assert window.contains(instant) == expected
