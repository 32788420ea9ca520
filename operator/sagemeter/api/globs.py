"""Globs in EndpointPolicy allow-lists: their syntax, their meaning in Python and in CEL.

A glob is a literal, or a literal followed by one `*` (SPEC §5: "a trailing *
only"): `ml.g5.*` matches every string that starts with `ml.g5.`, `ml.m5.large`
matches only itself, and `*` alone matches everything. There is no other
wildcard and no escaping, so a glob is a prefix test or an equality test.

The API owns both readings of this rule, side by side, so they cannot drift:
`glob_matches` is what the operator runs (`sagemeter.core.tenancy`), and
`cel_glob_match` is the same test as a CEL expression, used by the CRD (an
execution-role default must be allowed by its own policy) and by the shipped
ValidatingAdmissionPolicy (`sagemeter.api.admission`). A test evaluates a
shared case table through both, the CEL one on a real API server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

WILDCARD: Final = "*"


def glob_matches(glob: str, value: str) -> bool:
    """`value` matches `glob`: a prefix test when the glob ends in `*`, else equality."""
    if glob.endswith(WILDCARD):
        return value.startswith(glob[: -len(WILDCARD)])
    return value == glob


def matches_any(globs: Iterable[str], value: str) -> bool:
    return any(glob_matches(glob, value) for glob in globs)


def cel_glob_match(glob: str, value: str) -> str:
    """CEL for `glob_matches(glob, value)`; both arguments are CEL expressions."""
    return (
        f"({glob}.endsWith('*') ? {value}.startsWith({glob}.substring(0, {glob}.size() - 1))"
        f" : {value} == {glob})"
    )


def cel_matches_any(globs: str, value: str, variable: str = "g") -> str:
    """CEL for `matches_any(globs, value)`; `globs` is a CEL list expression."""
    return f"{globs}.exists({variable}, {cel_glob_match(variable, value)})"


def glob_pattern(literal: str, last: str, max_last: int) -> str:
    """An anchored pattern for `literal` followed by a last part that may end in `*`.

    `last` is a character class (e.g. `[A-Za-z0-9_-]`): the full form is 1 to
    `max_last` such characters; the glob form is 0 to `max_last - 1` of them and a `*`.
    """
    return f"^{literal}({last}{{1,{max_last}}}|{last}{{0,{max_last - 1}}}\\*)$"
