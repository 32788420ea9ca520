"""Routing events through moto's EventBridge: buses, rules, patterns, targets; and the journal.

Owns ``emit`` (a service event into the default bus of its ``account`` and ``region``), the
routing that replaces moto's ``Rule.send_to_targets`` (so events sent with ``PutEvents`` and
replays take the same path), the journal of emitted events and their deliveries, and the
pattern fix below. Rules and targets are moto's, made with PutRule/PutTargets. It does not build
events (``shapes``), decide when they happen (``sources``) nor shape a target's input or talk to
SQS (``targets``).

What changes from moto 5.2.5:

* **Rule state and kind.** Only ``ENABLED`` (and ``ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS``)
  rules with an event pattern see events; moto also delivered through disabled rules and
  schedule-only rules (an empty pattern matched everything).
* **Arrays of objects.** A pattern field matches when any element of an array of objects on the
  way matches (``{"detail": {"configuration": {"metrics": {"id": ["m1"]}}}}``): EventBridge's
  matcher "crushes out" arrays, treating contained objects "as if they are the value of the
  parent field" (aws/event-ruler README, "JSON Array Matching"); moto compared the whole array
  and never matched. Unlike event-ruler's ``rulesForJSONEvent``, two fields of one pattern may
  match in different elements of the same array. The rest of moto's matcher
  (exact values, ``prefix``, ``suffix``, ``anything-but`` with lists and nested ``prefix``,
  ``equals-ignore-case``, ``numeric``, ``exists``, ``wildcard``, ``cidr``, ``$or``) is kept; tests
  pin ``prefix`` and ``anything-but``.
* **SQS targets** get the whole event (moto's default template left out ``account``), or the
  target's ``Input``/``InputPath``/``InputTransformer`` (moto honoured only the transformer), and
  only where the queue's policy (and key) allow it (``targets``). Cross-account delivery goes to
  the queue the ARN names.
* **Event-bus targets** forward the event unchanged (moto rebuilt it without ``resources``,
  ``time`` or the original ``account``), once: an event forwarded already is not forwarded
  again. The target bus's resource policy is not checked.
* CloudWatch Logs, archive and API-destination targets are still delivered by moto; any other
  kind (Lambda, SNS, ...) is recorded as not delivered.

Each delivery is made in-process, straight into moto's backends: no HTTP request, so the
``faults`` middleware never sees (nor faults) it, whatever rules are set. A failed delivery is
recorded in the journal and not retried.

The journal (``GET /sagemeter-api/events``) keeps the last ``JOURNAL_SIZE`` events by id, each
with ``origin`` (``localaws`` for events this sandbox emitted, ``PutEvents`` for the ones clients
sent, ``replay``), ``emittedAt`` and one delivery per matched target: ``{rule, targetId,
targetArn, outcome: "delivered" | "failed", reason?, messageId?}``. A ``PutEvents`` event
appears once some rule matched it. ``/moto-api/reset`` leaves the journal alone (``DELETE``
clears it).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from moto.events.models import EventPattern, Rule, events_backends

from sagemeter_sandbox.motopatches import original

from .shapes import event_time
from .targets import DeliveryError, payload, send_to_queue

__all__ = ["JOURNAL", "Journal", "emit", "patches"]

log = logging.getLogger(__name__)
ENABLED = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
ENVELOPE = (
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
    "replay-name",
)
JOURNAL_SIZE = 1000


# --------------------------------------------------------------------------- journal


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """The last events routed, with what became of each at each target; safe across threads."""

    def __init__(self, size: int = JOURNAL_SIZE) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _entry(self, event: Mapping[str, Any], origin: str) -> dict[str, Any]:
        entry = self._entries.get(event["id"])
        if entry is None:
            entry = {
                "origin": origin,
                "emittedAt": _now(),
                "event": json.loads(json.dumps(event)),
                "deliveries": [],
            }
            self._entries[event["id"]] = entry
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry

    def record(self, event: Mapping[str, Any], origin: str) -> None:
        with self._lock:
            self._entry(event, origin)

    def delivered(
        self,
        event: Mapping[str, Any],
        rule: Any,
        target: Mapping[str, Any],
        outcome: Mapping[str, str],
    ) -> None:
        origin = "replay" if "replay-name" in event else "PutEvents"
        delivery = {
            "rule": rule.arn,
            "targetId": target.get("Id"),
            "targetArn": target.get("Arn"),
            **outcome,
        }
        with self._lock:
            self._entry(event, origin)["deliveries"].append(delivery)

    def view(self, limit: int = 100, **equal: str | None) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, oldest first; ``equal`` filters on ``origin`` or on
        envelope fields (``source``, ``account``, ``region``, ``detail-type``)."""
        with self._lock:
            entries = [json.loads(json.dumps(e)) for e in self._entries.values()]
        for key, wanted in equal.items():
            if wanted is not None:
                entries = [
                    e for e in entries if (e if key == "origin" else e["event"]).get(key) == wanted
                ]
        return entries[-limit:] if limit > 0 else []

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count


JOURNAL = Journal()


# --------------------------------------------------------------------------- routing


def _leaves(value: Any, path: str, result: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _leaves(inner, f"{path}.{key}" if path else key, result)
    elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        for item in value:  # the array is crushed out: each element's leaves join the parent's
            found: dict[str, Any] = {}
            _leaves(item, path, found)
            for leaf, leaf_value in found.items():
                listed = result.setdefault(leaf, [])
                if not isinstance(listed, list):
                    listed = result[leaf] = [listed]
                listed.extend(leaf_value if isinstance(leaf_value, list) else [leaf_value])
    else:
        result[path] = value


def _flatten(node: Any, prefix: str = "", result: dict[str, Any] | None = None) -> dict[str, Any]:
    """moto's ``EventPattern._flatten_dict`` (dotted path -> value), descending into arrays of
    objects too: a leaf reached through an array collects every element's values in a list."""
    result = {} if result is None else result
    if isinstance(node, dict):
        _leaves(node, prefix, result)
    return result


def _aws_event(moto_event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as moto passes it to a rule (``time`` in epoch seconds, ``ingestion-time``),
    in the envelope targets receive."""
    event = {key: moto_event[key] for key in ENVELOPE if key in moto_event}
    if isinstance(event.get("time"), int | float):
        event["time"] = event_time(datetime.fromtimestamp(float(event["time"]), UTC))
    return event


def _moto_event(event: Mapping[str, Any]) -> dict[str, Any]:
    moment = datetime.strptime(str(event["time"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    ingestion = datetime.now(UTC).timestamp()
    return {**copy.deepcopy(dict(event)), "time": moment.timestamp(), "ingestion-time": ingestion}


def _deliver(
    rule: Any,
    target: Mapping[str, Any],
    event: Mapping[str, Any],
    moto_event: Mapping[str, Any] | None,
    transform: bool,
    forwarded: bool,
) -> dict[str, str]:
    arn = str(target.get("Arn", ""))
    parts = arn.split(":", 5)
    service, resource = (parts[2], parts[5]) if len(parts) == 6 else ("", "")
    if service == "sqs":
        body = payload(rule, target, event, _now()) if transform else json.dumps(event)
        return {"outcome": "delivered", "messageId": send_to_queue(rule, target, body)}
    if service == "events" and resource.startswith("event-bus/"):
        if forwarded:
            raise DeliveryError("an event forwarded from another bus is not forwarded again")
        _route_bus(parts[4], parts[3], resource.split("/", 1)[1], event, forwarded=True)
        return {"outcome": "delivered"}
    moto_delivers = service == "logs" or (
        service == "events" and resource.split("/")[0] in ("", "api-destination")
    )
    if moto_delivers:  # CloudWatch Logs, archives, API destinations: moto's own code
        single = copy.copy(rule)
        single.targets, single.event_pattern = [dict(target)], EventPattern.load(None)
        moto_shaped: Any = moto_event or _moto_event(event)  # moto's EventMessageType
        original(Rule, "send_to_targets")(single, moto_shaped, transform)
        return {"outcome": "delivered"}
    raise DeliveryError(f"the local AWS does not deliver to {service or arn} targets")


def _route(
    rule: Any,
    event: Mapping[str, Any],
    moto_event: Mapping[str, Any] | None = None,
    transform: bool = True,
    forwarded: bool = False,
) -> None:
    if rule.state not in ENABLED or not rule.event_pattern.get_pattern():
        return
    if not rule.event_pattern.matches_event(event):
        return
    for target in list(rule.targets):
        try:
            outcome = _deliver(rule, target, event, moto_event, transform, forwarded)
        except Exception as error:  # a target's failure never reaches the service that emitted
            if not isinstance(error, DeliveryError):
                log.exception("delivering %s to %s", event.get("id"), target.get("Arn"))
            outcome = {"outcome": "failed", "reason": str(error) or type(error).__name__}
        JOURNAL.delivered(event, rule, target, outcome)


def _route_bus(
    account: str, region: str, bus_name: str, event: Mapping[str, Any], forwarded: bool = False
) -> None:
    bus = events_backends[account][region].event_buses.get(bus_name)
    if bus is not None:
        for rule in list(bus.rules.values()):
            _route(rule, event, forwarded=forwarded)


def emit(event: Mapping[str, Any]) -> None:
    """Records ``event`` (built by ``shapes``) and routes it through the default bus of its
    account and region. Never raises."""
    try:
        JOURNAL.record(event, "localaws")
        _route_bus(event["account"], event["region"], "default", event)
    except Exception:
        log.exception("emitting %s %s", event.get("detail-type"), event.get("id"))


def _send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    """``Rule.send_to_targets`` for moto's PutEvents and replays: the same routing as ``emit``."""
    _route(self, _aws_event(original_event), original_event, transform_input)


def patches() -> list[tuple[type, str, Any]]:
    return [
        (Rule, "send_to_targets", _send_to_targets),
        (EventPattern, "_flatten_dict", staticmethod(_flatten)),
    ]
