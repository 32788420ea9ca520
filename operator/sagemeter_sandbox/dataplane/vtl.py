"""The subset of Velocity (VTL) that API Gateway mapping templates of sagemeter's routes use.

Supported, and nothing else:

* literal text (``#`` and ``$`` that start no construct are literal, as in Velocity);
* references, written ``$ref``, ``${ref}`` or quiet ``$!ref`` / ``$!{ref}``:
  ``$input.body``, ``$input.json('$')``, ``$util.urlEncode(x)``, ``$util.escapeJavaScript(x)``,
  and ``$context.<name>`` for the names in ``CONTEXT_NAMES`` (``requestId``,
  ``requestTimeEpoch``, ``stage``, ``resourcePath``, ``identity.sourceIp``, ...);
* call arguments: a reference, a single-quoted literal, or a double-quoted string whose
  references are rendered; a quote inside is doubled (``"{""uid"":""$context.requestId""}"``),
  as in Velocity 1.7, which has no backslash escapes.

Directives (``#set``, ``#if``, ``#foreach``, comments), other references (``$input.params``,
``$input.path``, ``$stageVariables``, ``$util.base64Encode``, ...), JSONPath other than ``$``
and unknown ``$context`` names raise ``TemplateError``: the data plane answers 500 with the
message instead of rendering something API Gateway would not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

__all__ = ["CONTEXT_NAMES", "TemplateError", "TemplateInput", "escape_javascript", "render"]

CONTEXT_NAMES = (
    "requestId",
    "requestTimeEpoch",
    "stage",
    "resourcePath",
    "identity.sourceIp",
    "httpMethod",
    "path",
    "apiId",
    "accountId",
    "resourceId",
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_DIRECTIVE = re.compile(r"#(?:[A-Za-z{]|#|\*)")


class TemplateError(Exception):
    """A template the local data plane cannot render; ``status`` is what it answers."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TemplateInput:
    """What a template sees: the body (``$input``) and ``$context`` values by dotted name."""

    body: str
    context: Mapping[str, Any]


def render(template: str, given: TemplateInput) -> str:
    return _Renderer(template, given).text(stop=None)


def escape_javascript(value: str) -> str:
    """``$util.escapeJavaScript``: Java's ``StringEscapeUtils.escapeJavaScript``."""
    out = []
    for char in value:
        if char in "'\"\\/":
            out.append("\\" + char)
        elif char in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif ord(char) < 32 or ord(char) > 0x7E:
            out.append("".join(f"\\u{unit:04X}" for unit in _utf16(char)))
        else:
            out.append(char)
    return "".join(out)


def _utf16(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _url_encode(value: str) -> str:
    # Java's URLEncoder: like quote_plus, but '*' stays and '~' is encoded.
    return quote_plus(value, safe="*").replace("~", "%7E")


class _Renderer:
    def __init__(self, template: str, given: TemplateInput) -> None:
        self.src = template
        self.pos = 0
        self.given = given

    def fail(self, what: str) -> TemplateError:
        line = self.src.count("\n", 0, self.pos) + 1
        snippet = self.src[self.pos : self.pos + 30].split("\n")[0]
        return TemplateError(
            f"mapping template: {what} at line {line} ({snippet!r}); the local data plane "
            "supports only the VTL subset in sagemeter_sandbox.dataplane.vtl"
        )

    def text(self, stop: str | None) -> str:
        out: list[str] = []
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if stop is not None and char == stop:
                if self.src.startswith(stop * 2, self.pos):  # Velocity 1.7: "" inside "..."
                    out.append(stop)
                    self.pos += 2
                    continue
                return "".join(out)
            if char == "#" and _DIRECTIVE.match(self.src, self.pos):
                raise self.fail("VTL directives and comments are not supported")
            if char == "$" and self._starts_reference():
                out.append(self.reference())
                continue
            out.append(char)
            self.pos += 1
        if stop is not None:
            raise self.fail(f"missing closing {stop}")
        return "".join(out)

    def _starts_reference(self) -> bool:
        after = self.src[self.pos + 1 : self.pos + 2]
        return after.isalpha() or after in ("{", "!")

    def reference(self) -> str:
        self.pos += 1  # '$'
        if self.src.startswith("!", self.pos):
            self.pos += 1
        braced = self.src.startswith("{", self.pos)
        if braced:
            self.pos += 1
        start = self.pos
        parts: list[str] = []
        args: list[str] | None = None
        while True:
            match = _NAME.match(self.src, self.pos)
            if match is None:
                raise self.fail("malformed reference")
            parts.append(match.group())
            self.pos = match.end()
            if self.src.startswith("(", self.pos):
                self.pos += 1
                args = self.arguments()
                break
            if not (self.src.startswith(".", self.pos) and _NAME.match(self.src, self.pos + 1)):
                break
            self.pos += 1
        if braced:
            if not self.src.startswith("}", self.pos):
                raise self.fail("missing closing }")
            self.pos += 1
        return self.evaluate(parts, args, start)

    def arguments(self) -> list[str]:
        values: list[str] = []
        while True:
            self.skip_spaces()
            if self.src.startswith(")", self.pos):
                self.pos += 1
                return values
            values.append(self.argument())
            self.skip_spaces()
            if self.src.startswith(",", self.pos):
                self.pos += 1

    def argument(self) -> str:
        char = self.src[self.pos : self.pos + 1]
        if char == "'":
            match = re.compile(r"'((?:[^']|'')*)'").match(self.src, self.pos)
            if match is None:
                raise self.fail("unterminated string")
            self.pos = match.end()
            return match.group(1).replace("''", "'")
        if char == '"':
            self.pos += 1
            value = self.text(stop='"')
            self.pos += 1
            return value
        if char == "$":
            return self.reference()
        raise self.fail("unsupported argument (only references and string literals)")

    def skip_spaces(self) -> None:
        while self.src[self.pos : self.pos + 1].isspace():
            self.pos += 1

    def evaluate(self, parts: list[str], args: list[str] | None, start: int) -> str:
        name = ".".join(parts)
        self.pos, here = start, self.pos  # error messages point at the reference
        value = self._value(name, args)
        self.pos = here
        return value

    def _value(self, name: str, args: list[str] | None) -> str:
        if name == "input.body" and args is None:
            return self.given.body
        if name == "input.json" and args is not None:
            if args != ["$"]:
                raise self.fail("$input.json supports only the JSONPath '$'")
            return _whole_json(self.given.body)
        if name in ("util.urlEncode", "util.escapeJavaScript") and args is not None:
            if len(args) != 1:
                raise self.fail(f"${name} takes one argument")
            return _url_encode(args[0]) if name == "util.urlEncode" else escape_javascript(args[0])
        if name.startswith("context.") and args is None:
            key = name.removeprefix("context.")
            if key in CONTEXT_NAMES and key in self.given.context:
                return str(self.given.context[key])
        raise self.fail(f"unsupported reference ${name}{'(...)' if args is not None else ''}")


def _whole_json(body: str) -> str:
    if not body.strip():
        return "{}"
    try:
        return json.dumps(json.loads(body), separators=(",", ":"))
    except ValueError as error:
        raise TemplateError(f"Could not parse request body into json: {error}", 400) from error
