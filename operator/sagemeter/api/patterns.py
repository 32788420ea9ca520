"""The syntax of what users type as text: durations and schedule windows.

The API owns these patterns: the CRD checks them at admission, and the operator's
parsers in `sagemeter.core.meter` build on the same definitions, so the two can
never disagree. Every pattern is anchored and valid in both Python `re` and Go RE2
(the API server's engine); use them with `re.fullmatch` in Python (`$` alone
would also match before a trailing newline under `re.match`).
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------------------- durations

DURATION_MAX_DIGITS: Final = 6

# Largest unit first; the order is the order the syntax requires.
DURATION_UNIT_SECONDS: Final[tuple[tuple[str, int], ...]] = (
    ("w", 7 * 24 * 3600),
    ("d", 24 * 3600),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
)


def _duration_pattern() -> str:
    # `[0-9]`, not `\d`: Python's `\d` also matches non-ASCII digits, RE2's
    # does not, and the pattern must mean the same in both engines.
    # RE2 has no lookahead, so "at least one component" is spelled as an
    # alternation on the first component present, followed by optional
    # smaller units: `[0-9]{1,6}(w(...d)?(...h)?(...m)?(...s)?|d(...)?...|s)`.
    number = f"[0-9]{{1,{DURATION_MAX_DIGITS}}}"
    units = [unit for unit, _ in DURATION_UNIT_SECONDS]
    branches = [
        first + "".join(f"({number}{smaller})?" for smaller in units[index + 1 :])
        for index, first in enumerate(units)
    ]
    return f"^{number}({'|'.join(branches)})$"


DURATION_PATTERN: Final[str] = _duration_pattern()
"""A duration: one or more `<int><unit>`, units w, d, h, m, s, largest first, each once."""

DURATION_MIN_LENGTH: Final = 2
"""Shortest valid duration (`0s`); the CRD sets it as `minLength` for a clearer message."""

DURATION_MAX_LENGTH: Final = len(DURATION_UNIT_SECONDS) * (DURATION_MAX_DIGITS + 1)
"""Longest valid duration; the CRD sets it as `maxLength`, which CEL cost estimation needs."""


def cel_duration_seconds(value: str) -> str:
    """CEL for the seconds of the duration `value` (a CEL string expression that matches
    `DURATION_PATTERN`): each `<int><unit>` component found (Kubernetes' regex library) and
    multiplied out. A unit appears at most once and is one letter, so each find is exact.
    CEL's `duration()` cannot be used: Go durations have no `d` or `w`."""
    terms = []
    for unit, seconds in DURATION_UNIT_SECONDS:
        found = f"{value}.find('[0-9]+{unit}')"
        number = f"int({found}.substring(0, {found}.size() - 1))"
        terms.append(f"({found} == '' ? 0 : {number} * {seconds})")
    return f"({' + '.join(terms)})"


# ---------------------------------------------------------------------------- windows

DAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_DAY = f"({'|'.join(DAY_NAMES)})"
_START = "([01][0-9]|2[0-3]):[0-5][0-9]"
_END = f"({_START}|24:00)"
# Syntax only: whether the name is in the tz database is checked by the operator
# (`sagemeter.core.meter.schedule.parse_window`), since the API server cannot know.
ZONE_PATTERN: Final = "[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*"

WINDOW_PATTERN: Final[str] = f"^{_DAY}(-{_DAY})? {_START}-{_END} {ZONE_PATTERN}$"
"""A schedule window `<Day>[-<Day>] HH:MM-HH:MM <IANA zone>`.

It cannot check that the end is after the start, nor that the zone exists; the
first is left to a CEL rule in the CRD, `parse_window` checks both.
"""

WINDOW_MAX_LENGTH: Final = 80
"""Longest window the CRD accepts (`maxLength`); the longest zone name is 32 characters."""
