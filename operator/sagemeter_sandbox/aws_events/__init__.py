"""The EventBridge events the local AWS emits, delivered through moto's own rules and targets.

When a CloudWatch alarm changes state or a SageMaker endpoint changes status, the local AWS puts
the event real AWS sends (``CloudWatch Alarm State Change``, ``SageMaker Endpoint State Change``;
shapes and their sources in ``shapes``) into the default event bus of the resource's account and
region. Rules made with PutRule/PutTargets select it by their event pattern and deliver it to
their targets; an SQS queue receives the whole event as its message body, as in AWS, once the
queue's policy lets ``events.amazonaws.com`` send. Events of one account never reach another's
rules (moto keeps accounts apart; credentials from ``sts:AssumeRole`` act in the role's account).

The package owns that path end to end; each module says what it changes in moto:

* ``shapes``  the events, pure builders with their documented sources;
* ``sources`` when an event is due: CloudWatch alarm states (new alarms start INSUFFICIENT_DATA,
  an updated alarm keeps its state), SageMaker endpoint statuses (an ``endpoint_states``
  observer), and the ``Ticker`` that settles due endpoint transitions (when they fall due, at
  least every 0.2 s) so their events arrive without a SageMaker call;
* ``bus``     routing through buses, rules (enabled ones with a pattern; arrays of objects
  matched) and targets, with the journal;
* ``targets`` a target's input (``Input``, ``InputPath``, ``InputTransformer``) and the SQS
  delivery (queue policy, KMS key, FIFO);
* ``policy``  the resource-policy check.

It does not own the statuses themselves (``endpoint_states``), SageMaker's behaviour
(``localaws``) nor fault injection (``faults``): deliveries are in-process calls into moto's
backends, never HTTP requests, so fault rules cannot touch them.

Control (served by ``faults.FaultInjector`` like the other ``/sagemeter-api/`` paths, never
faulted; ``control.FaultClient.events``/``clear_events``):

* ``GET /sagemeter-api/events[?limit=100&source=aws.sagemaker&account=...&region=...
  &detailType=...&origin=localaws]``: ``{"events": [{origin, emittedAt, event, deliveries}]}``,
  oldest first, the newest ``limit`` of the last 1000;
* ``DELETE /sagemeter-api/events``: forgets them all, answers ``{"cleared": n}``.

Order, ids, duplicates: events of one endpoint or alarm are emitted in the order the changes
happen (under the lock of the change), and one per change; AWS guarantees neither order nor
uniqueness (SageMaker "may send multiple events ... for each state change"), so consumers must
not rely on either. Each event has a fresh UUID ``id``, shared by every target that receives it.
Delivery is synchronous: the message is in the queue before the call that caused it answers.
``/moto-api/reset`` forgets moto's state but not the journal.
"""

from __future__ import annotations

from typing import Any

from sagemeter_sandbox import endpoint_states

from . import bus, sources
from .bus import JOURNAL, emit
from .sources import TICK_SECONDS, Ticker, endpoint_changed

__all__ = ["JOURNAL", "TICK_SECONDS", "control", "emit", "install", "patches", "start_ticker"]

_ticker = Ticker()
_FILTERS = {
    "source": "source",
    "account": "account",
    "region": "region",
    "detailType": "detail-type",
    "origin": "origin",
}


def patches() -> list[tuple[Any, str, Any]]:
    """moto patches for ``localaws.install`` (which applies them once per process)."""
    return [*bus.patches(), *sources.patches()]


def install() -> None:
    """Listens to endpoint statuses (idempotent); ``localaws.install`` applies ``patches``."""
    if endpoint_changed not in endpoint_states.observers:
        endpoint_states.observers.append(endpoint_changed)


def start_ticker(interval: float = TICK_SECONDS) -> None:
    """Starts the ticker that settles due endpoint transitions (once per process)."""
    _ticker.interval = interval
    _ticker.start()


def control(method: str, path: list[str], body: Any) -> tuple[int, Any]:
    """``/sagemeter-api/events``: ``path`` is what follows ``events``; (HTTP status, JSON)."""
    if path or method not in ("GET", "DELETE"):
        return 404, {"error": "use GET or DELETE /sagemeter-api/events"}
    if method == "DELETE":
        return 200, {"cleared": JOURNAL.clear()}
    query = body if isinstance(body, dict) else {}
    try:
        limit = int(query.get("limit", 100))
    except (TypeError, ValueError):
        return 400, {"error": "limit is a number"}
    unknown = set(query) - {"limit", *_FILTERS}
    if unknown:
        known = ", ".join(["limit", *_FILTERS])
        return 400, {"error": f"unknown parameters {sorted(unknown)}; use {known}"}
    equal = {field: query.get(name) for name, field in _FILTERS.items()}
    return 200, {"events": JOURNAL.view(limit, **equal)}
