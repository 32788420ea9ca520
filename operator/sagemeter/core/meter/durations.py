"""Duration strings: the syntax users type in `expiry.ttl`, `idle.after`, etc.

The pattern (`DURATION_PATTERN`) belongs to the API (`sagemeter.api.patterns`),
which the API server checks; this module parses and formats on the same
definition (`parse_duration`, `format_duration`), so the two can never disagree.

A duration is one or more `<integer><unit>` components, units `w` (week),
`d`, `h`, `m`, `s`: `90m`, `1h30m`, `2d`, `0s`, `1w2d`. Units appear in
descending order, each at most once, so `1m1h` and `1h1h` are rejected: a
string has one obvious reading. Each component has at most six digits, which
bounds every value to a few thousand years and keeps typos like
`99999999999h` out of the cluster. Components need not be normalised
(`90m` and `36h` are fine); `format_duration` writes the canonical form.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from sagemeter.api.patterns import DURATION_MAX_DIGITS as _MAX_DIGITS
from sagemeter.api.patterns import DURATION_PATTERN
from sagemeter.api.patterns import DURATION_UNIT_SECONDS as _UNIT_SECONDS

__all__ = [
    "MAX_DURATION",
    "format_duration",
    "parse_duration",
]

# 999999w6d23h59m59s: the largest duration whose canonical form has a
# six-digit week count. Non-canonical input can exceed it (`999999w999999d`).
MAX_DURATION: Final = timedelta(weeks=10**_MAX_DIGITS) - timedelta(seconds=1)
"""Largest duration `format_duration` renders in a form `DURATION_PATTERN` accepts."""

_EXAMPLE: Final = 'e.g. "90m", "1h30m" or "2d"'
_COMPONENT: Final = re.compile(r"([0-9]+)([wdhms])")
_DURATION: Final = re.compile(DURATION_PATTERN)


def parse_duration(text: str) -> timedelta:
    """Parse `text` (e.g. `1h30m`) into a timedelta; raise ValueError when it is not a duration."""
    if _DURATION.fullmatch(text) is None:
        raise ValueError(
            f"invalid duration {text!r}: expected one or more <integer><unit> with units"
            f" w, d, h, m, s in that order, each at most once and up to {_MAX_DIGITS} digits,"
            f" {_EXAMPLE}"
        )
    seconds_per_unit = dict(_UNIT_SECONDS)
    total = sum(
        int(match.group(1)) * seconds_per_unit[match.group(2)]
        for match in _COMPONENT.finditer(text)
    )
    return timedelta(seconds=total)


def format_duration(duration: timedelta) -> str:
    """Render `duration` canonically: largest units first, zero components left out, zero as `0s`.

    Raises ValueError for negative durations and fractions of a second, which
    the syntax cannot express: the caller decides how to round or clamp.
    Durations above MAX_DURATION render with more week digits than
    DURATION_PATTERN allows.
    """
    if duration < timedelta(0):
        raise ValueError(f"cannot format negative duration {duration!r}")
    if duration.microseconds:
        raise ValueError(f"cannot format fractional seconds in {duration!r}; round it first")
    remaining = duration.days * 24 * 3600 + duration.seconds
    parts: list[str] = []
    for unit, seconds in _UNIT_SECONDS:
        count, remaining = divmod(remaining, seconds)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
