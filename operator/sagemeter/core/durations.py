"""Duration strings: the syntax users type in `expiry.ttl`, `idle.after`, etc.

This module owns the one definition of that syntax, shared by the CRD
(`DURATION_PATTERN`, checked by the API server) and the operator
(`parse_duration`, `format_duration`), so the two can never disagree.

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

_MAX_DIGITS: Final = 6

# Largest unit first; the order is the order the syntax requires.
_UNIT_SECONDS: Final[tuple[tuple[str, int], ...]] = (
    ("w", 7 * 24 * 3600),
    ("d", 24 * 3600),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
)


def _build_pattern() -> str:
    # `[0-9]`, not `\d`: Python's `\d` also matches non-ASCII digits, RE2's
    # does not, and the pattern must mean the same in both engines.
    # RE2 has no lookahead, so "at least one component" is spelled as an
    # alternation on the first component present, followed by optional
    # smaller units: `[0-9]{1,6}(w(...d)?(...h)?(...m)?(...s)?|d(...)?...|s)`.
    number = f"[0-9]{{1,{_MAX_DIGITS}}}"
    units = [unit for unit, _ in _UNIT_SECONDS]
    branches = [
        first + "".join(f"({number}{smaller})?" for smaller in units[index + 1 :])
        for index, first in enumerate(units)
    ]
    return f"^{number}({'|'.join(branches)})$"


DURATION_PATTERN: Final[str] = _build_pattern()
"""Anchored regex for a duration, valid in Python `re` and Go RE2 (CRD `pattern`).

Use it with `re.fullmatch` in Python: `$` alone would also match before a
trailing newline under `re.match`.
"""

DURATION_MIN_LENGTH: Final = 2
"""Shortest valid duration (`0s`); the CRD sets it as `minLength` for a clearer message."""

DURATION_MAX_LENGTH: Final = len(_UNIT_SECONDS) * (_MAX_DIGITS + 1)
"""Longest valid duration; the CRD sets it as `maxLength`, which CEL cost estimation needs."""

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
