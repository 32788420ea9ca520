"""The subset of Velocity (VTL) that API Gateway mapping templates of sagemeter's routes use.

Supported, and nothing else:

* literal text (``#`` and ``$`` that start no construct are literal, as in Velocity);
* references, written ``$ref``, ``${ref}`` or quiet ``$!ref`` / ``$!{ref}``:
  ``$input.body``, ``$input.json('$')``, ``$input.path('$')`` and ``$input.path('$.a.b')``
  (dotted JSONPath only: a string comes out as is, anything else as JSON, a missing path as
  nothing), ``$util.urlEncode(x)``, ``$util.escapeJavaScript(x)``, ``$util.base64Encode(x)``,
  ``$context.<name>`` for the names in ``CONTEXT_NAMES`` and, when the request has them,
  ``$context.identity.<name>`` and ``$context.authorizer.<name>`` (``principalId``, a custom
  authorizer's context, a user pool's ``claims.<claim>``), variables ``#set`` made, and a
  value's ``.contains('text')``;
* call arguments and operands: a reference, a single-quoted literal, a double-quoted string
  whose references are rendered (a quote inside is doubled, ``"{""uid"":""$context.requestId""}"``,
  as in Velocity 1.7, which has no backslash escapes), or an integer;
* ``#set($name = operand)``, and ``#set($context.responseOverride.status = 429)`` /
  ``#set($context.responseOverride.header.<Name> = '...')``, which override the status and
  headers of the response a response template renders ("Use a mapping template to override an
  API's request and response parameters and status codes", API Gateway developer guide);
* ``#if(condition) ... #else ... #end``, a condition being an operand (true unless empty or
  ``false``) or ``operand == operand`` / ``operand != operand``. A line that holds only a
  directive leaves no line break behind.

Other directives (``#foreach``, ``#elseif``, comments, ...), other references
(``$input.params``, ``$stageVariables``, ...), other JSONPath and unknown ``$context`` names
raise ``TemplateError``: the data plane answers 500 with the message instead of rendering
something API Gateway would not.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
# Context names that exist only for some requests (the caller's key, IAM identity, authorizer).
CONTEXT_PREFIXES = ("identity.", "authorizer.")
OVERRIDE = "context.responseOverride."
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_DIRECTIVE = re.compile(r"#(?:[A-Za-z{]|#|\*)")
_KEYWORD = re.compile(r"#\{?([A-Za-z]+)\}?")
_INTEGER = re.compile(r"-?[0-9]+")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_PATH = re.compile(r"^\$(\.[A-Za-z0-9_]+)*$")


class TemplateError(Exception):
    """A template the local data plane cannot render; ``status`` is what it answers."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TemplateInput:
    """What a template sees: the body (``$input``) and ``$context`` values by dotted name.
    ``overrides`` collects what ``#set($context.responseOverride.<x> = ...)`` set."""

    body: str
    context: Mapping[str, Any]
    overrides: dict[str, str] = field(default_factory=dict)


def render(template: str, given: TemplateInput) -> str:
    return _Renderer(template, given).document()


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


def _truthy(value: str) -> bool:
    return value not in ("", "false")


class _Renderer:
    def __init__(self, template: str, given: TemplateInput) -> None:
        self.src = template
        self.pos = 0
        self.given = given
        self.vars: dict[str, str] = {}
        self.skip = False  # inside a branch not taken: parse, evaluate nothing
        self.depth = 0
        self.ended_with = ""

    def fail(self, what: str) -> TemplateError:
        line = self.src.count("\n", 0, self.pos) + 1
        snippet = self.src[self.pos : self.pos + 30].split("\n")[0]
        return TemplateError(
            f"mapping template: {what} at line {line} ({snippet!r}); the local data plane "
            "supports only the VTL subset in sagemeter_sandbox.dataplane.vtl"
        )

    def document(self) -> str:
        text = self.text(stop=None)
        if self.ended_with:
            raise self.fail(f"#{self.ended_with} without #if")
        return text

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
            if char == "#" and stop is None and _DIRECTIVE.match(self.src, self.pos):
                word = self._directive(out)
                if word in ("else", "end"):
                    self.ended_with = word
                    return "".join(out)
                continue
            if char == "$" and self._starts_reference():
                out.append(self.reference())
                continue
            out.append(char)
            self.pos += 1
        if stop is not None:
            raise self.fail(f"missing closing {stop}")
        return "".join(out)

    # ------------------------------------------------------------------ directives

    def _directive(self, out: list[str]) -> str:
        match = _KEYWORD.match(self.src, self.pos)
        word = match.group(1) if match else ""
        if match is None or word not in ("set", "if", "else", "end"):
            raise self.fail("this VTL directive or comment is not supported")
        line_start = "".join(out).rsplit("\n", 1)[-1].strip() == ""
        self.pos = match.end()
        if word == "if":
            out.append(self._if(line_start, out))
            return word
        if word == "set":
            self._set()
        elif self.depth == 0:
            raise self.fail(f"#{word} without #if")
        if line_start:
            self._gobble_line_end(out)
        return word

    def _gobble_line_end(self, out: list[str]) -> None:
        """A directive alone on its line leaves no blank line behind (Velocity does the same)."""
        rest = re.compile(r"[ \t]*\r?\n").match(self.src, self.pos)
        if rest is not None:
            self.pos = rest.end()
            out[:] = ["".join(out).rstrip(" \t")]

    def _open(self) -> None:
        self.skip_spaces()
        if not self.src.startswith("(", self.pos):
            raise self.fail("expected (")
        self.pos += 1
        self.skip_spaces()

    def _close(self) -> None:
        self.skip_spaces()
        if not self.src.startswith(")", self.pos):
            raise self.fail("expected )")
        self.pos += 1

    def _set(self) -> None:
        self._open()
        if not self.src.startswith("$", self.pos):
            raise self.fail("#set needs a $reference to set")
        self.pos += 1
        target = self._dotted_name()
        self.skip_spaces()
        if not self.src.startswith("=", self.pos):
            raise self.fail("expected = in #set")
        self.pos += 1
        self.skip_spaces()
        value = self.operand()
        self._close()
        if self.skip:
            return
        if target.startswith(OVERRIDE):
            key = target.removeprefix(OVERRIDE)
            if key != "status" and not key.startswith("header."):
                raise self.fail(f"unsupported response override ${target}")
            self.given.overrides[key] = value
        elif "." in target:
            raise self.fail(f"#set of ${target} is not supported")
        else:
            self.vars[target] = value

    def _if(self, line_start: bool, out: list[str]) -> str:
        self._open()
        holds = self._condition()
        self._close()
        if line_start:
            self._gobble_line_end(out)
        taken = not self.skip and holds
        outer = self.skip
        self.skip = outer or not holds
        then = self._branch()
        otherwise = ""
        if self.ended_with == "else":
            self.skip = outer or holds
            otherwise = self._branch()
        if self.ended_with != "end":
            raise self.fail("#if without #end")
        self.ended_with, self.skip = "", outer
        if outer:
            return ""
        return then if taken else otherwise

    def _branch(self) -> str:
        self.depth += 1
        self.ended_with = ""
        text = self.text(stop=None)
        self.depth -= 1
        if not self.ended_with:
            raise self.fail("#if without #end")
        return text

    def _condition(self) -> bool:
        left = self.operand()
        self.skip_spaces()
        for op in ("==", "!="):
            if self.src.startswith(op, self.pos):
                self.pos += 2
                self.skip_spaces()
                right = self.operand()
                return (left == right) == (op == "==")
        return _truthy(left)

    def _dotted_name(self) -> str:
        parts = []
        while (match := _NAME.match(self.src, self.pos)) is not None:
            parts.append(match.group())
            self.pos = match.end()
            if not self.src.startswith(".", self.pos):
                break
            self.pos += 1
        if not parts:
            raise self.fail("malformed reference")
        return ".".join(parts)

    # ------------------------------------------------------------------ references

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
            match = _QUOTED.match(self.src, self.pos)
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

    def operand(self) -> str:
        """An argument, or an integer (``#set`` values and conditions)."""
        match = _INTEGER.match(self.src, self.pos)
        if match is not None:
            self.pos = match.end()
            return match.group()
        return self.argument()

    def skip_spaces(self) -> None:
        while self.src[self.pos : self.pos + 1].isspace():
            self.pos += 1

    def evaluate(self, parts: list[str], args: list[str] | None, start: int) -> str:
        if self.skip:
            return ""
        name = ".".join(parts)
        self.pos, here = start, self.pos  # error messages point at the reference
        value = self._value(name, args)
        self.pos = here
        return value

    def _value(self, name: str, args: list[str] | None) -> str:
        if args is None and name in self.vars:
            return self.vars[name]
        if name == "input.body" and args is None:
            return self.given.body
        if name == "input.json" and args is not None:
            if args != ["$"]:
                raise self.fail("$input.json supports only the JSONPath '$'")
            return _whole_json(self.given.body)
        if name == "input.path" and args is not None:
            if len(args) != 1 or not _PATH.match(args[0]):
                raise self.fail("$input.path supports only dotted JSONPath ('$', '$.a.b')")
            return _path(self.given.body, args[0])
        if name in ("util.urlEncode", "util.escapeJavaScript", "util.base64Encode"):
            if args is None or len(args) != 1:
                raise self.fail(f"${name} takes one argument")
            if name == "util.urlEncode":
                return _url_encode(args[0])
            if name == "util.base64Encode":
                return base64.b64encode(args[0].encode()).decode()
            return escape_javascript(args[0])
        if name.endswith(".contains") and args is not None and len(args) == 1:
            base = self._value(name.removesuffix(".contains"), None)
            return "true" if args[0] in base else "false"
        if name.startswith("context.") and args is None:
            key = name.removeprefix("context.")
            known = key in CONTEXT_NAMES or key.startswith(CONTEXT_PREFIXES)
            if known and key in self.given.context:
                return str(self.given.context[key])
        raise self.fail(f"unsupported reference ${name}{'(...)' if args is not None else ''}")


def _parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise TemplateError(f"Could not parse request body into json: {error}", 400) from error


def _whole_json(body: str) -> str:
    if not body.strip():
        return "{}"
    return json.dumps(_parsed(body), separators=(",", ":"))


def _path(body: str, path: str) -> str:
    """``$input.path``: a dotted JSONPath into the body."""
    node: Any = _parsed(body) if body.strip() else {}
    for key in [part for part in path.split(".")[1:] if part]:
        if not isinstance(node, dict) or key not in node:
            return ""
        node = node[key]
    return node if isinstance(node, str) else json.dumps(node, separators=(",", ":"))
