"""What the page shows of a ManagedEndpoint and of an EndpointPolicy, as JSON for the browser.

Pure functions over objects as the API returns them (plain dicts): the same readings as
`kubectl sagemeter ls` (`sagemeter.cli.table`), plus the route, the conditions as badges and
the EndpointPolicies that select the endpoint's namespace. The browser only lays them out and
counts the time left down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from sagemeter.api.common import ConditionType
from sagemeter.api.policy import EndpointPolicySpec
from sagemeter.cli.table import NONE, degraded_reason, expiry_or_none, instance, reason
from sagemeter.core.meter.times import format_time
from sagemeter.core.tenancy.selection import selects

Json = dict[str, Any]

DEFAULT_AUTHORIZATION = "AWS_IAM"  # spec.api.authorization's default (SPEC §1)


def key(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


def badges(status: Mapping[str, Any]) -> list[Json]:
    """Conditions that hold (status True), each as `Ready`, `Parked: Idle`, ... with its
    message for a tooltip; in the order the operator wrote them."""
    shown = []
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        kind = str(condition.get("type") or "")
        reason = condition.get("reason")
        # Ready's reason repeats the phase; other reasons say which kind (Parked: Idle).
        plain = not reason or reason == kind or kind == ConditionType.READY
        text = kind if plain else f"{kind}: {reason}"
        shown.append(
            {
                "type": kind,
                "text": text,
                "message": str(condition.get("message") or ""),
            }
        )
    return shown


def route(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Json | None:
    """The API route: its URL once deployed, the path and the authorization."""
    api = spec.get("api")
    if not api:
        return None
    return {
        "url": status.get("invokeUrl"),
        "path": api.get("path"),
        "authorization": api.get("authorization") or DEFAULT_AUTHORIZATION,
    }


def policy_applies(
    policy: Mapping[str, Any], namespace: str, labels: Mapping[str, str] | None
) -> bool:
    """Whether `policy` selects `namespace` (SPEC §5: names OR labelSelector).

    `labels` is None when the user may not read the namespace: then only `names` and the
    empty selector `{}` (every namespace) can be decided, and a label selector is not guessed.
    """
    try:
        spec = EndpointPolicySpec.model_validate(policy.get("spec") or {})
    except ValidationError:
        return False
    selector = spec.namespace_selector
    if labels is not None:
        return selects(selector, namespace, labels)
    if namespace in (selector.names or []):
        return True
    chosen = selector.label_selector
    return chosen is not None and not chosen.match_labels and not chosen.match_expressions


def policy_summary(policy: Mapping[str, Any]) -> Json:
    """A policy's spend against its budget (`budget` None: the policy sets none)."""
    spec = policy.get("spec") or {}
    status = policy.get("status") or {}
    budget = spec.get("budget") or {}
    return {
        "name": str((policy.get("metadata") or {}).get("name", "")),
        "usdPerHour": str(status.get("usdPerHour") or "0.00"),
        "budget": budget.get("usdPerHour"),
        "waiting": int(status.get("waiting") or 0),
    }


def endpoint_row(obj: Mapping[str, Any], policies: list[str]) -> Json:
    """One row of the page; `policies` are the names of the EndpointPolicies that apply."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    expires = expiry_or_none(dict(obj))
    return {
        "key": key(obj),
        "namespace": metadata.get("namespace", ""),
        "name": metadata.get("name", ""),
        "resourceVersion": metadata.get("resourceVersion"),
        "phase": status.get("phase"),
        # REASON as `kubectl sagemeter ls` words it, and its parts.
        "reason": None if (said := reason(status)) == NONE else said,
        "parkedReason": status.get("parkedReason"),
        "degradedReason": degraded_reason(status),
        "expiresAt": format_time(expires) if expires is not None else None,
        "costPerHour": status.get("hourlyCostUSD"),
        "instance": instance(spec),
        "route": route(spec, status),
        "badges": badges(status),
        "suspended": bool(spec.get("suspend")),
        "idleParked": bool(status.get("idlePark")),
        "policies": policies,
    }
