"""Self-service through the route (SPEC §7 "The meter through the route"): the pure half.

* **The meter** (`parameter_name`, `meter_document`): what `GET <path>/_meter` answers, the
  values `kubectl sagemeter ls` shows, as the operator mirrors them into the SSM parameter
  `/sagemeter/<namespace>/<name>`.
* **The `_meter` methods** (`meter_methods`): `GET` is an API Gateway AWS integration with
  `ssm:GetParameter` whose response template answers the parameter's value (so it is answered
  inside AWS and needs no deployment per change); `POST` sends the object's identity as
  constants, the caller and the request body (each base64, so nothing a caller sends can add a
  field) to the event queue and answers `202 {"state": "extending"}`.
* **Extensions** (`parse_extend_body`, `extend_decision`): the body is read strictly, and the
  new expiry is max(now, expiry) + duration, capped at `maxExpiresAt`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sagemeter.api.models import EXTENDS_ANNOTATION, Authorization, ManagedEndpointStatus
from sagemeter.core.endpoint.desired import current_expiry, max_expiry
from sagemeter.core.meter.durations import parse_duration
from sagemeter.core.meter.times import format_time, parse_time

__all__ = [
    "EXTEND_KIND",
    "FIELD_MANAGER",
    "MAX_EXTEND",
    "MAX_MESSAGE_AGE",
    "METER_RESOURCE",
    "MIN_EXTEND",
    "ExtendDecision",
    "ExtendOutcome",
    "ExtendRecord",
    "ExtendRequest",
    "Extends",
    "MeterMethod",
    "curl_extend",
    "extend_decision",
    "extend_message",
    "extend_patch",
    "extends_today",
    "meter_document",
    "meter_methods",
    "parameter_name",
    "parse_extend_body",
    "parse_extend_message",
    "read_extends",
]

METER_RESOURCE: Final = "_meter"
PARAMETER_ROOT: Final = "/sagemeter"
EXTEND_KIND: Final = "sagemeter.extend"
FIELD_MANAGER: Final = "sagemeter-self-service"
# Older extend requests are refused (SPEC §7), as stale wake requests are dropped.
MAX_MESSAGE_AGE: Final = 60
MIN_EXTEND: Final = timedelta(minutes=1)
MAX_EXTEND: Final = timedelta(hours=24)
# Parameter Store answers GetParameter 40 times per second per account and region by default
# ("AWS Systems Manager endpoints and quotas": "GetParameter ... Default throughput: 40").
# A throttled read is answered 429; a client may try again after a second.
THROTTLED_RETRY_SECONDS: Final = "1"
METER_FIELDS: Final = (
    "namespace",
    "name",
    "phase",
    "parkedReason",
    "expiresAt",
    "maxExpiresAt",
    "hourlyCostUSD",
)


def parameter_name(namespace: str, name: str) -> str:
    """`/sagemeter/<namespace>/<name>`: namespace and object names are DNS labels and
    subdomains, within SSM's name characters (`a-zA-Z0-9_.-` and `/`)."""
    return f"{PARAMETER_ROOT}/{namespace}/{name}"


def meter_document(namespace: str, name: str, status: ManagedEndpointStatus) -> str:
    """The parameter's value: what `GET _meter` answers, in SPEC §7's order."""
    values: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "phase": status.phase,
        "parkedReason": status.parked_reason,
        "expiresAt": status.expires_at,
        "maxExpiresAt": status.max_expires_at,
        "hourlyCostUSD": status.hourly_cost_usd,
    }
    return json.dumps({k: values[k] for k in METER_FIELDS}, separators=(",", ":"))


# --------------------------------------------------------------------------- the methods


@dataclass(frozen=True)
class MeterMethod:
    """One method of `<path>/_meter`, without the ids the gateway adds."""

    http_method: str
    method: dict[str, Any]
    integration: dict[str, Any]
    method_responses: tuple[dict[str, Any], ...]
    integration_responses: tuple[dict[str, Any], ...]


# A 4xx from SSM: throttling, or no parameter yet (or any other refusal, told apart by type).
_GET_ERROR_TEMPLATE: Final = (
    "#set($type = $input.path('$.__type'))\n"
    "#if($type.contains('Throttling'))\n"
    "#set($context.responseOverride.status = 429)\n"
    f"#set($context.responseOverride.header.Retry-After = '{THROTTLED_RETRY_SECONDS}')\n"
    '{"state": "throttled", "reason": "ParameterStoreThrottled"}\n'
    "#else\n"
    "#if($type.contains('ParameterNotFound'))\n"
    '{"state": "unknown", "reason": "NotMirroredYet"}\n'
    "#else\n"
    "#set($context.responseOverride.status = 502)\n"
    '{"state": "error", "reason": "MeterUnavailable"}\n'
    "#end\n"
    "#end\n"
)
_UNAVAILABLE: Final = '{"state": "error", "reason": "MeterUnavailable"}'

# Who asked, per authorization: what API Gateway knows of the caller (SPEC §7).
_CALLER: Final = {
    Authorization.AWS_IAM: "$context.identity.caller",
    Authorization.API_KEY: "$context.identity.apiKeyId",
    Authorization.CUSTOM: "$context.authorizer.principalId",
    Authorization.COGNITO_USER_POOLS: "$context.authorizer.claims.sub",
}


def meter_methods(
    *,
    method: dict[str, Any],
    authorization: Authorization,
    region_arn: str,
    invoke_role_arn: str | None,
    parameter: str,
    content_types: tuple[str, ...],
    queue_uri: str | None,
    message: str | None,
) -> tuple[MeterMethod, ...]:
    """`GET` (and, with a queue, `POST`) of `<path>/_meter`. `method`: the route's own
    authorization settings; `region_arn`: `arn:<partition>:apigateway:<region>`."""
    get = MeterMethod(
        http_method="GET",
        method=dict(method),
        integration={
            "type": "AWS",
            "integrationHttpMethod": "POST",
            "uri": f"{region_arn}:ssm:action/GetParameter",
            "credentials": invoke_role_arn,
            "requestParameters": {
                "integration.request.header.Content-Type": "'application/x-amz-json-1.1'"
            },
            "requestTemplates": {
                content: json.dumps({"Name": parameter}) for content in content_types
            },
            "passthroughBehavior": "NEVER",
        },
        method_responses=(
            {"statusCode": "200", "responseParameters": {}},
            {"statusCode": "404", "responseParameters": {}},
            {
                "statusCode": "429",
                "responseParameters": {"method.response.header.Retry-After": False},
            },
            {"statusCode": "502", "responseParameters": {}},
        ),
        integration_responses=(
            {
                "statusCode": "404",
                "selectionPattern": r"4\d{2}",
                "responseTemplates": {"application/json": _GET_ERROR_TEMPLATE},
            },
            {
                "statusCode": "502",
                "selectionPattern": r"5\d{2}",
                "responseTemplates": {"application/json": _UNAVAILABLE},
            },
            {
                "statusCode": "200",
                "responseTemplates": {"application/json": "$input.path('$.Parameter.Value')"},
            },
        ),
    )
    if queue_uri is None or message is None:
        return (get,)
    caller = _CALLER.get(authorization, "''")
    # A double-quoted Velocity string renders its references; its quotes are doubled.
    quoted = message.replace('"', '""')
    send = (
        f"#set($caller = $util.base64Encode({caller}))\n"
        "#set($body = $util.base64Encode($input.body))\n"
        f'Action=SendMessage&MessageBody=$util.urlEncode("{quoted}")'
    )
    post = MeterMethod(
        http_method="POST",
        method=dict(method),
        integration={
            "type": "AWS",
            "integrationHttpMethod": "POST",
            "uri": queue_uri,
            "credentials": invoke_role_arn,
            "requestParameters": {
                "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"
            },
            "requestTemplates": {content: send for content in content_types},
            "passthroughBehavior": "NEVER",
        },
        method_responses=(
            {"statusCode": "202", "responseParameters": {}},
            {"statusCode": "502", "responseParameters": {}},
        ),
        integration_responses=(
            {
                "statusCode": "202",
                "selectionPattern": r"2\d{2}",
                "responseTemplates": {"application/json": '{"state": "extending"}'},
            },
            {
                "statusCode": "502",
                "responseTemplates": {
                    "application/json": '{"state": "error", "reason": "ExtendNotSent"}'
                },
            },
        ),
    )
    return (get, post)


# --------------------------------------------------------------------------- extensions


def curl_extend(invoke_url: str, authorization: Authorization | str, duration: str = "1h") -> str:
    """The `curl` line a notification gives to extend through `_meter`."""
    auth = {
        Authorization.API_KEY: '-H "x-api-key: $API_KEY"',
        Authorization.AWS_IAM: '--aws-sigv4 "aws:amz:$REGION:execute-api"'
        ' --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"',
    }.get(Authorization(authorization), '-H "Authorization: $TOKEN"')
    body = json.dumps({"extend": duration})
    return (
        f"curl -sS -X POST {invoke_url}/_meter {auth}"
        f" -H 'Content-Type: application/json' -d '{body}'"
    )


def extend_message(uid: str, namespace: str, name: str, path: str) -> str:
    """The constant part of what `POST _meter` sends: the object's identity; `$caller` and
    `$body` are set (base64) by the request template, `$context.requestId` is API Gateway's."""
    return json.dumps(
        {
            "kind": EXTEND_KIND,
            "uid": uid,
            "namespace": namespace,
            "name": name,
            "path": path,
            "requestId": "$context.requestId",
            "caller": "$caller",
            "body": "$body",
        },
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class ExtendRequest:
    uid: str
    namespace: str
    name: str
    path: str
    request_id: str
    caller: str
    body: str  # as the caller sent it (decoded), parsed by `parse_extend_body`
    # Older than 60 s when received (the listener says so): refused, with an Event.
    stale: bool = False


def _unbase64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def parse_extend_message(doc: dict[str, Any]) -> ExtendRequest | None:
    """An extend request as `POST _meter` sends it, or None when it is not one."""
    fields = [doc.get(k) for k in ("uid", "namespace", "name", "path", "requestId")]
    if not all(isinstance(f, str) and f for f in fields):
        return None
    caller, body = doc.get("caller"), doc.get("body")
    if not isinstance(caller, str) or not isinstance(body, str):
        return None
    decoded_caller, decoded_body = _unbase64(caller), _unbase64(body)
    if decoded_caller is None or decoded_body is None:
        return None
    uid, namespace, name, path, request_id = (str(f) for f in fields)
    return ExtendRequest(
        uid, namespace, name, path, request_id, decoded_caller or "unknown", decoded_body
    )


def parse_extend_body(body: str) -> timedelta | str:
    """The duration `{"extend": "<duration>"}` asks for (1m to 24h), or why it is refused."""
    try:
        doc = json.loads(body)
    except ValueError:
        return 'the body is not JSON: send {"extend": "<duration>"}'
    if not isinstance(doc, dict):
        return 'the body is not a JSON object: send {"extend": "<duration>"}'
    unknown = sorted(set(doc) - {"extend"})
    if unknown:
        return f'unknown fields {unknown}: send only {{"extend": "<duration>"}}'
    value = doc.get("extend")
    if not isinstance(value, str):
        return 'no "extend" duration: send {"extend": "<duration>"}, such as "1h"'
    try:
        duration = parse_duration(value)
    except ValueError as error:
        return str(error)
    if not MIN_EXTEND <= duration <= MAX_EXTEND:
        return f"extend {value!r} is outside 1m to 24h"
    return duration


def extends_today(day: str | None, count: int, today: date) -> int:
    """Extensions counted for `today` (a count recorded for another day is over)."""
    return count if day == today.isoformat() else 0


@dataclass(frozen=True)
class ExtendDecision:
    """What an extend request does: `refused` says why nothing changes; else the new expiry
    and whether the cap cut it."""

    expires_at: datetime | None = None
    capped: bool = False
    refused: str | None = None


# How many applied requests the annotation names (a request delivered again comes back within
# minutes: SQS's visibility timeout).
RECORDS_KEPT: Final = 24


@dataclass(frozen=True)
class ExtendRecord:
    """One extension applied, as `sagemeter.io/extends` keeps it."""

    request_id: str
    caller: str
    at: str
    expires_at: str
    capped: bool


@dataclass(frozen=True)
class Extends:
    """The `sagemeter.io/extends` annotation: today's count and the last requests applied."""

    date: str | None = None
    count: int = 0
    records: tuple[ExtendRecord, ...] = ()

    def today(self, now: datetime) -> int:
        return extends_today(self.date, self.count, now.date())


def read_extends(value: str | None) -> Extends:
    """The annotation as written by `extend_patch` (anything unreadable counts as none: an
    edited annotation can reset its own object's count, as editing the expiry could)."""
    try:
        doc = json.loads(value or "{}")
        records = tuple(
            ExtendRecord(
                str(r["id"]), str(r["caller"]), str(r["at"]), str(r["expiresAt"]), bool(r["capped"])
            )
            for r in doc.get("requests") or ()
        )
        return Extends(doc.get("date"), int(doc.get("count") or 0), records)
    except (ValueError, TypeError, KeyError, AttributeError):
        return Extends()


def _write_extends(extends: Extends) -> str:
    return json.dumps(
        {
            "date": extends.date,
            "count": extends.count,
            "requests": [
                {
                    "id": r.request_id,
                    "caller": r.caller,
                    "at": r.at,
                    "expiresAt": r.expires_at,
                    "capped": r.capped,
                }
                for r in extends.records
            ],
        },
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class ExtendOutcome:
    """What one request does to the object: a merge patch (with the resourceVersion it was
    computed from) and the record it adds; or why it is refused; or nothing, when it was
    applied already."""

    patch: dict[str, Any] | None = None
    record: ExtendRecord | None = None
    refused: str | None = None


def extend_patch(
    obj: dict[str, Any], request: ExtendRequest, now: datetime, max_per_day: int
) -> ExtendOutcome:
    """The expiry and the annotation in one patch, so a request is applied exactly once."""
    metadata = obj.get("metadata") or {}
    extends = read_extends((metadata.get("annotations") or {}).get(EXTENDS_ANNOTATION))
    if any(r.request_id == request.request_id for r in extends.records):
        return ExtendOutcome()
    count = extends.today(now)
    decision = extend_decision(
        body=request.body,
        now=now,
        expires_at=current_expiry(obj),
        cap=max_expiry(obj),
        count_today=count,
        max_per_day=max_per_day,
    )
    if decision.refused is not None or decision.expires_at is None:
        return ExtendOutcome(refused=decision.refused)
    record = ExtendRecord(
        request.request_id,
        request.caller,
        format_time(now),
        format_time(decision.expires_at),
        decision.capped,
    )
    kept = tuple(r for r in extends.records if _same_day(r.at, now))[-(RECORDS_KEPT - 1) :]
    written = Extends(now.date().isoformat(), count + 1, (*kept, record))
    patch = {
        "metadata": {
            "resourceVersion": metadata.get("resourceVersion"),
            "annotations": {EXTENDS_ANNOTATION: _write_extends(written)},
        },
        "spec": {"expiry": {"expiresAt": record.expires_at}},
    }
    return ExtendOutcome(patch=patch, record=record)


def _same_day(at: str, now: datetime) -> bool:
    try:
        return parse_time(at).date() == now.date()
    except ValueError:
        return False


def extend_decision(
    *,
    body: str,
    now: datetime,
    expires_at: datetime | None,
    cap: datetime | None,
    count_today: int,
    max_per_day: int,
) -> ExtendDecision:
    """max(now, current expiry) + duration, capped at `maxExpiresAt`; refused for a bad body
    or beyond `maxExtendsPerDay`."""
    parsed = parse_extend_body(body)
    if isinstance(parsed, str):
        return ExtendDecision(refused=parsed)
    if expires_at is None:
        return ExtendDecision(
            refused="the endpoint never expires (no spec.expiry and no default): nothing to extend"
        )
    if count_today >= max_per_day:
        return ExtendDecision(
            refused=f"{count_today} extensions today already (spec.api.maxExtendsPerDay"
            f" {max_per_day})"
        )
    wanted = max(now, expires_at) + parsed
    if cap is not None and wanted > cap:
        if max(now, expires_at) >= cap:
            return ExtendDecision(
                refused=f"the endpoint has reached its maximum lifetime ({format_time(cap)})"
            )
        return ExtendDecision(expires_at=cap, capped=True)
    return ExtendDecision(expires_at=wanted)
