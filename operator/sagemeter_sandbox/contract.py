"""Every botocore request checked against AWS's own contract, in the tests and the operator.

The local AWS is written by the same hands as the operator, so where both share an assumption no
test can disagree. This module is the third party: the service models botocore ships
(``botocore/data/<service>/<version>/service-2.json``, AWS's own description of each API) plus
the limits AWS documents that those models lack (``sagemeter.api.aws_limits``). Every request a
botocore client is about to serialize is checked for:

* required members, and the types of values;
* string lengths (in characters) and numeric ranges (``min``/``max``), list and map sizes;
* enums;
* patterns, as full matches with Java's semantics (AWS validates with Java regular
  expressions): ``\\p{L}``, ``\\p{N}``, ``\\p{Z}``... are Unicode classes (the ``regex``
  package has them; Python's ``re`` does not), ``\\w``, ``\\d``, ``\\s`` and the POSIX classes
  ``\\p{Alnum}``, ``\\p{Print}``, ``\\p{ASCII}`` are ASCII-only, ``\\z`` is the end of input.

``install(sink)`` patches botocore's ``ParamValidationDecorator`` once per process, so every client
is checked however it was made (any Session, any configuration that keeps botocore's own parameter
validation, which is the default). A violation is handed to the sink and the request goes on: it
is the test that fails (the pytest plugin in ``tests/conftest.py`` for the test process, and the
fixtures for the operator processes they start, through ``subprocess_env``), not the call.

Subprocesses: ``subprocess_env(report)`` gives the environment that makes a Python child check
itself: ``PYTHONPATH`` gains ``contract_boot/`` (a ``sitecustomize`` that calls ``install`` when
``SAGEMETER_CONTRACT_CHECK`` names a report file, then runs any other ``sitecustomize``), and the
child appends one JSON line per violation to that file and keeps a count of checked requests in
``<report>.count``. Nothing of this is in the operator: its image does not even hold this module.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import regex
from botocore import validate
from botocore.model import OperationModel, Shape

from sagemeter.api.aws_limits import DOCUMENTED_LIMITS, DocumentedLimit

__all__ = [
    "ENV",
    "Checker",
    "Violation",
    "check_request",
    "install",
    "java_pattern",
    "read_report",
    "read_violations",
    "subprocess_env",
]

ENV = "SAGEMETER_CONTRACT_CHECK"
BOOT = Path(__file__).parent / "contract_boot"
_SHOWN = 120  # characters of a value shown in a violation


@dataclass(frozen=True)
class Violation:
    """One request member AWS would refuse: where, what, and which rule."""

    operation: str  # "sagemaker:CreateModel"
    member: str  # "Tags[2].Value"
    value: str  # repr, cut
    rule: str  # "pattern [\\p{L}...]*", "length 300 > max 256", ...

    def __str__(self) -> str:
        return f"{self.operation} {self.member}={self.value}: {self.rule}"


# --------------------------------------------------------------------------- Java patterns

# Java's POSIX classes are ASCII unless UNICODE_CHARACTER_CLASS is set (java.util.regex.Pattern).
_POSIX = {
    "Alnum": "a-zA-Z0-9",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Upper": "A-Z",
    "Lower": "a-z",
    "Punct": r"!-/:-@\[-`{-~",
    "Graph": r"!-~",
    "Print": r" -~",
    "Blank": r" \t",
    "Space": r" \t\n\x0B\f\r",
    "ASCII": r"\x00-\x7F",
    "XDigit": "0-9a-fA-F",
    "Cntrl": r"\x00-\x1F\x7F",
}
# Java's \w, \d, \s are ASCII too; inside a class a negated one is spelled as its complement.
_SHORTHAND = {
    "w": ("a-zA-Z_0-9", r"\x00-/:-@\[-\^`{-\U0010FFFF"),
    "d": ("0-9", r"\x00-/:-\U0010FFFF"),
    "s": (r" \t\n\x0B\f\r", r"\x00-\x08\x0E-\x1F!-\U0010FFFF"),
}


def _translate(pattern: str) -> str:
    out: list[str] = []
    depth = 0  # inside a character class when > 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in "pP" and pattern.startswith("{", i + 2):
                end = pattern.index("}", i)
                name = pattern[i + 3 : end]
                if name in _POSIX:
                    body = _POSIX[name]
                    negated = nxt == "P"
                    if depth and negated:
                        raise ValueError(f"\\P{{{name}}} inside a class")
                    out.append(body if depth else f"[{'^' if negated else ''}{body}]")
                else:
                    out.append(pattern[i : end + 1])
                i = end + 1
                continue
            if nxt.lower() in _SHORTHAND:
                plain, complement = _SHORTHAND[nxt.lower()]
                negated = nxt.isupper()
                if depth:
                    out.append(complement if negated else plain)
                else:
                    out.append(f"[{'^' if negated else ''}{plain}]")
                i += 2
                continue
            if nxt == "z":
                out.append(r"\Z")
                i += 2
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        out.append(char)
        i += 1
    return "".join(out)


@functools.cache
def java_pattern(pattern: str) -> regex.Pattern[str] | None:
    """``pattern`` (Java syntax, as in botocore's models) compiled for full matches; None when
    it cannot be translated faithfully (the check then says nothing about it: permissive)."""
    try:
        return regex.compile(_translate(pattern), regex.V0)
    except (regex.error, ValueError):
        return None


# --------------------------------------------------------------------------- the check


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _limits(shape: Shape) -> tuple[Any, Any]:
    return shape.metadata.get("min"), shape.metadata.get("max")


def _walk(value: Any, shape: Shape, path: str) -> Iterator[tuple[str, str, Any]]:
    """(member, rule, value) for each constraint of ``shape`` that ``value`` breaks."""
    kind = shape.type_name
    low, high = _limits(shape)
    if kind == "structure":
        if not isinstance(value, Mapping):
            yield path, f"a structure, not {type(value).__name__}", value
            return
        for name in shape.required_members:
            if name not in value:
                yield f"{path}.{name}".lstrip("."), "required", None
        for name, member in value.items():
            if name in shape.members:
                yield from _walk(member, shape.members[name], f"{path}.{name}".lstrip("."))
        return
    if kind == "list":
        if not isinstance(value, list | tuple):
            yield path, f"a list, not {type(value).__name__}", value
            return
        yield from _sizes(len(value), low, high, path, "items", value)
        for index, item in enumerate(value):
            yield from _walk(item, shape.member, f"{path}[{index}]")
        return
    if kind == "map":
        if not isinstance(value, Mapping):
            yield path, f"a map, not {type(value).__name__}", value
            return
        yield from _sizes(len(value), low, high, path, "entries", value)
        for key, item in value.items():
            yield from _walk(key, shape.key, f"{path}<key {key!r}>")
            yield from _walk(item, shape.value, f"{path}[{key!r}]")
        return
    if kind == "string":
        if not isinstance(value, str):
            return  # botocore's own validator refuses the type
        yield from _sizes(len(value), low, high, path, "characters", value)
        if shape.enum and value not in shape.enum:
            yield path, f"not one of the enum {shape.name} ({len(shape.enum)} values)", value
        pattern = shape.metadata.get("pattern")
        if pattern is not None:
            compiled = java_pattern(pattern)
            if compiled is not None and compiled.fullmatch(value) is None:
                yield path, f"does not fully match {shape.name}'s pattern {pattern}", value
        return
    if kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        if low is not None and value < low:
            yield path, f"{value} < min {low}", value
        if high is not None and value > high:
            yield path, f"{value} > max {high}", value
        return
    if kind == "blob" and isinstance(value, str | bytes | bytearray):
        yield from _sizes(len(value), low, high, path, "bytes", value)


def _sizes(
    size: int, low: Any, high: Any, path: str, unit: str, value: Any
) -> Iterator[tuple[str, str, Any]]:
    if low is not None and size < low:
        yield path, f"{size} {unit} < min {low}", value
    if high is not None and size > high:
        yield path, f"{size} {unit} > max {high}", value


def _documented(limit: DocumentedLimit, value: Any) -> Iterator[str]:
    if not isinstance(value, str):
        return
    if limit.min_length is not None and len(value) < limit.min_length:
        yield f"{len(value)} characters < min {limit.min_length} (documented: {limit.source})"
    if limit.max_length is not None and len(value) > limit.max_length:
        yield f"{len(value)} characters > max {limit.max_length} (documented: {limit.source})"
    compiled = java_pattern(limit.pattern) if limit.pattern else None
    if compiled is not None and compiled.fullmatch(value) is None:
        yield f"does not fully match {limit.pattern} (documented: {limit.source})"


def _member(params: Mapping[str, Any], path: str) -> Any:
    value: Any = params
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def check_request(operation: OperationModel, params: Mapping[str, Any]) -> list[Violation]:
    """What AWS would refuse in ``params`` of ``operation``, per its model and its docs."""
    service = operation.service_model.service_name
    name = f"{service}:{operation.name}"
    found: list[Violation] = []
    if operation.input_shape is not None:
        for member, rule, value in _walk(params, operation.input_shape, ""):
            found.append(Violation(name, member, _shown(value), rule))
    for limit in DOCUMENTED_LIMITS:
        if (limit.service, limit.operation) == (service, operation.name):
            value = _member(params, limit.member)
            for rule in _documented(limit, value) if value is not None else ():
                found.append(Violation(name, limit.member, _shown(value), rule))
    return found


# --------------------------------------------------------------------------- the hook


class Checker:
    """Counts checked requests and hands violations to ``sink``; thread-safe."""

    def __init__(self, sink: Callable[[Violation], None]) -> None:
        self.sink = sink
        self.checked = 0
        self.violations: list[Violation] = []
        self._lock = threading.Lock()
        # Requests a test sends on purpose to see AWS refuse them: (operation, member) pairs;
        # what they break is kept apart, in ``expected_seen``.
        self.expected: list[tuple[str, str]] = []
        self.expected_seen: list[Violation] = []

    def check(self, operation: OperationModel, params: Mapping[str, Any]) -> None:
        found = check_request(operation, params)
        with self._lock:
            self.checked += 1
            unexpected = []
            for violation in found:
                if any(
                    violation.operation == op and violation.member.startswith(member)
                    for op, member in self.expected
                ):
                    self.expected_seen.append(violation)
                else:
                    unexpected.append(violation)
            self.violations.extend(unexpected)
        for violation in unexpected:
            self.sink(violation)


_installed: list[Checker] = []
_original = validate.ParamValidationDecorator.serialize_to_request


def _serialize_to_request(
    self: validate.ParamValidationDecorator, parameters: Any, operation_model: OperationModel
) -> Any:
    for checker in _installed:
        checker.check(operation_model, parameters)
    return _original(self, parameters, operation_model)


def install(sink: Callable[[Violation], None]) -> Checker:
    """Checks every botocore request of this process from now on (once; later calls return the
    installed checker)."""
    if _installed:
        return _installed[0]
    checker = Checker(sink)
    _installed.append(checker)
    validate.ParamValidationDecorator.serialize_to_request = _serialize_to_request
    return checker


# --------------------------------------------------------------------------- subprocesses


def subprocess_env(report: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that make a Python child process check its requests into ``report``."""
    environ = os.environ if environ is None else environ
    path = [str(BOOT), *(p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {ENV: str(report), "PYTHONPATH": os.pathsep.join(path)}


def install_from_env() -> Checker | None:
    """For ``contract_boot/sitecustomize.py``: install with a report file when ``ENV`` is set."""
    target = os.environ.get(ENV)
    if not target:
        return None
    report = Path(target)
    lock = threading.Lock()

    def sink(violation: Violation) -> None:
        line = json.dumps({"pid": os.getpid(), **asdict(violation)})
        with lock, report.open("a") as out:
            out.write(line + "\n")

    checker = install(sink)
    counter = report.with_name(f"{report.name}.{os.getpid()}.count")

    def flush() -> None:
        counter.write_text(str(checker.checked))

    def ticker() -> None:
        while True:
            time.sleep(1.0)
            flush()

    threading.Thread(target=ticker, name="contract-check-count", daemon=True).start()
    atexit.register(flush)
    return checker


def read_violations(report: Path) -> list[dict[str, Any]]:
    """Violations a child wrote to ``report`` (none: the file is not there)."""
    try:
        text = report.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line]


def read_report(report: Path) -> tuple[list[dict[str, Any]], int]:
    """Violations a child wrote to ``report`` and how many requests its processes checked."""
    violations = read_violations(report)
    checked = sum(
        int(path.read_text() or 0) for path in report.parent.glob(f"{report.name}.*.count")
    )
    return violations, checked
