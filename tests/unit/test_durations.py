"""Duration syntax: parse/format tables, the CRD pattern, and round-trip properties."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemeter.api.patterns import DURATION_MAX_LENGTH, DURATION_MIN_LENGTH, DURATION_PATTERN
from sagemeter.core.meter.durations import (
    MAX_DURATION,
    format_duration,
    parse_duration,
)

PROPERTY = settings(max_examples=300, deadline=None)
UNITS = "wdhms"


def matches(text: str) -> bool:
    return re.fullmatch(DURATION_PATTERN, text) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("0s", timedelta(0)),
        ("1w2d", timedelta(days=9)),
        ("36h", timedelta(hours=36)),
        ("0w0d", timedelta(0)),
        ("007m", timedelta(minutes=7)),
        ("1w1d1h1m1s", timedelta(weeks=1, days=1, hours=1, minutes=1, seconds=1)),
        ("999999w", timedelta(weeks=999999)),
        ("999999s", timedelta(seconds=999999)),
    ],
)
def test_parse_valid(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert matches(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "10",
        "m",
        "1.5h",
        "-1m",
        "+1m",
        "1x",
        "1m1h",  # units out of order
        "1h1h",  # unit repeated
        "1d1w",
        " 1m",
        "1m ",
        "1h 30m",
        "1 m",
        "1m\n",
        "1H",
        "1M",
        "1234567m",  # more than six digits
        "\u0663m",  # ARABIC-INDIC DIGIT THREE: Python's \d would take it, RE2's would not
        "1h-30m",
        "P1D",
        "1ms",
    ],
)
def test_parse_rejects(text: str) -> None:
    assert not matches(text)
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    message = str(error.value)
    assert repr(text) in message
    assert '"1h30m"' in message


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=1), "1s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=7), "1w"),
        (timedelta(days=2, seconds=1), "2d1s"),
        (timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5), "1w2d3h4m5s"),
        (timedelta(hours=1, seconds=59), "1h59s"),
        (MAX_DURATION, "999999w6d23h59m59s"),
    ],
)
def test_format(duration: timedelta, expected: str) -> None:
    assert format_duration(duration) == expected


@pytest.mark.parametrize(
    "duration", [timedelta(seconds=-1), timedelta(milliseconds=1500), timedelta(microseconds=1)]
)
def test_format_rejects_what_the_syntax_cannot_express(duration: timedelta) -> None:
    with pytest.raises(ValueError):
        format_duration(duration)


def test_max_duration_is_the_largest_canonical_duration_the_pattern_accepts() -> None:
    assert matches(format_duration(MAX_DURATION))
    assert format_duration(MAX_DURATION + timedelta(seconds=1)) == "1000000w"
    assert not matches("1000000w")
    # Non-canonical input may add up to more; it parses, its canonical form is too long.
    assert format_duration(parse_duration("999999w7d")) == "1000000w"


def test_pattern_is_re2_compatible_and_anchored() -> None:
    # Kubernetes evaluates CRD patterns with Go RE2: no lookaround, no
    # backreferences; and `\d` means different things in Python and RE2.
    for construct in ("(?=", "(?!", "(?<", "\\1", "\\d"):
        assert construct not in DURATION_PATTERN
    assert DURATION_PATTERN.startswith("^")
    assert DURATION_PATTERN.endswith("$")


def test_length_bounds() -> None:
    assert parse_duration("0s") == timedelta(0)
    assert len("0s") == DURATION_MIN_LENGTH
    longest = "".join(f"999999{unit}" for unit in UNITS)
    assert len(longest) == DURATION_MAX_LENGTH
    assert matches(longest)


# Valid durations, built from the grammar rather than the regex under test:
# each unit in order, present or not, at least one present, 1-6 digits (with
# leading zeros allowed).
valid_durations = (
    st.lists(
        st.tuples(st.booleans(), st.text("0123456789", min_size=1, max_size=6)),
        min_size=len(UNITS),
        max_size=len(UNITS),
    )
    .map(
        lambda parts: "".join(
            digits + unit for (present, digits), unit in zip(parts, UNITS, strict=True) if present
        )
    )
    .filter(bool)
)

whole_seconds = st.integers(0, int(MAX_DURATION.total_seconds())).map(
    lambda seconds: timedelta(seconds=seconds)
)


@PROPERTY
@given(whole_seconds)
def test_format_then_parse_round_trips(duration: timedelta) -> None:
    text = format_duration(duration)
    assert matches(text)
    assert parse_duration(text) == duration


@PROPERTY
@given(valid_durations)
def test_parse_then_format_is_canonical(text: str) -> None:
    assert matches(text)
    duration = parse_duration(text)
    canonical = format_duration(duration)
    if duration > MAX_DURATION:
        # Only sums like 999999w999999d get here: their canonical form needs a
        # seventh week digit, which no per-component digit bound can avoid.
        assert not matches(canonical)
        return
    assert matches(canonical)
    assert parse_duration(canonical) == duration
    assert format_duration(parse_duration(canonical)) == canonical


@PROPERTY
@given(valid_durations)
def test_valid_durations_fit_the_length_bounds(text: str) -> None:
    assert DURATION_MIN_LENGTH <= len(text) <= DURATION_MAX_LENGTH


@PROPERTY
@given(st.text("0123456789wdhmsx .-+\n", max_size=12) | valid_durations)
def test_parse_accepts_exactly_what_the_pattern_accepts(text: str) -> None:
    try:
        parse_duration(text)
    except ValueError:
        assert not matches(text)
    else:
        assert matches(text)


@PROPERTY
@given(valid_durations, st.sampled_from([" ", "\n", "x", "-", ".", "1"]), st.booleans())
def test_surrounding_garbage_is_rejected(text: str, garbage: str, before: bool) -> None:
    # A bare number is never a complete duration, so "1" is garbage at the end;
    # at the front it would just add a digit, hence the exception below.
    candidate = garbage + text if before else text + garbage
    if before and garbage == "1":
        return
    assert not matches(candidate)
    with pytest.raises(ValueError):
        parse_duration(candidate)
