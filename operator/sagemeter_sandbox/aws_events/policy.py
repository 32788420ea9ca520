"""Whether a resource policy lets a service principal act: the check EventBridge's delivery meets
at an SQS queue's policy and at the key policy of the queue's KMS key.

Owns a small evaluator of *resource* policies for one request by a service principal (such as
``events.amazonaws.com`` sending ``sqs:SendMessage`` with ``aws:SourceArn`` the rule's ARN). An
explicit Deny that applies wins; otherwise some Allow must apply. A statement applies when its
``Principal`` is ``"*"``, ``{"AWS": "*"}`` or names the service under ``Service``, its
``Action`` matches (IAM wildcards ``*``/``?``, case-insensitive), its ``Resource`` matches (or is
absent) and every ``Condition`` holds. Conditions: ``StringEquals``, ``StringLike``,
``ArnEquals``, ``ArnLike`` and their ``...IfExists`` forms, on the request's context keys
(case-insensitive names). It does not read policies (``targets``) nor know IAM identities.

Statements using ``NotPrincipal``, ``NotAction``, ``NotResource``, or another condition operator
never apply, so they neither allow nor deny: an unsupported Allow means "not delivered" (the
journal says why), an unsupported Deny is ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["Request", "decide"]

_UNSUPPORTED_KEYS = ("NotPrincipal", "NotAction", "NotResource")


@dataclass(frozen=True)
class Request:
    """What a service asks a resource's policy."""

    service: str  # "events.amazonaws.com"
    action: str  # "sqs:SendMessage"
    resource: str  # the resource's ARN
    context: Mapping[str, str] = field(default_factory=dict)  # "aws:SourceArn" -> rule ARN


@lru_cache(maxsize=256)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(patterns: Any, value: str, ignore_case: bool = False) -> bool:
    return any(_wildcard(str(p), ignore_case).fullmatch(value) for p in _listed(patterns))


def _principal(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return "*" in _listed(principal.get("AWS", [])) or service in _listed(
        principal.get("Service", [])
    )


def _condition(block: Any, context: Mapping[str, str]) -> bool:
    if not isinstance(block, dict):
        return False
    known = {key.lower(): value for key, value in context.items()}
    for operator, tests in block.items():
        base, if_exists = operator.removesuffix("IfExists"), operator.endswith("IfExists")
        if base not in ("StringEquals", "StringLike", "ArnEquals", "ArnLike"):
            return False
        if not isinstance(tests, dict):
            return False
        for key, expected in tests.items():
            actual = known.get(key.lower())
            if actual is None:
                if if_exists:
                    continue
                return False
            if base.endswith("Equals"):
                if actual not in [str(e) for e in _listed(expected)]:
                    return False
            elif not _like(expected, actual):
                return False
    return True


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if any(key in statement for key in _UNSUPPORTED_KEYS):
        return False
    return (
        _principal(statement.get("Principal"), request.service)
        and _like(statement.get("Action", []), request.action, ignore_case=True)
        and ("Resource" not in statement or _like(statement["Resource"], request.resource))
        and ("Condition" not in statement or _condition(statement["Condition"], request.context))
    )


def decide(policy: str | None, request: Request) -> tuple[bool, str]:
    """(allowed, why) for ``request`` under the policy document ``policy`` (JSON text)."""
    if not policy:
        return False, "no resource policy"
    try:
        document = json.loads(policy)
    except ValueError:
        return False, "the resource policy is not JSON"
    statements = _listed(document.get("Statement", [])) if isinstance(document, dict) else []
    applying = [s for s in statements if isinstance(s, dict) and _applies(s, request)]
    denied = next((s for s in applying if s.get("Effect") == "Deny"), None)
    if denied is not None:
        return False, f"denied by statement {denied.get('Sid', '(no Sid)')!r}"
    allowed = next((s for s in applying if s.get("Effect") == "Allow"), None)
    if allowed is None:
        context = ", ".join(f"{k}={v}" for k, v in request.context.items())
        return False, (
            f"no statement allows {request.service} to {request.action} on "
            f"{request.resource} ({context})"
        )
    return True, f"allowed by statement {allowed.get('Sid', '(no Sid)')!r}"
