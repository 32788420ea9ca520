"""Where the local AWS's resources change state and say so: CloudWatch alarms, SageMaker
endpoints, and the ticker that lets endpoint transitions land without a SageMaker call.

Owns the CloudWatch patches and the SageMaker observer that decide *when* an event is due (the
event itself comes from ``shapes``, its delivery from ``bus``). It does not own endpoint
statuses or their timing (``endpoint_states``, ``localaws``).

CloudWatch (moto 5.2.5's ``CloudWatchBackend``), after the PutMetricAlarm and SetAlarmState API
reference (botocore ``botocore/data/cloudwatch/2010-08-01/service-2.json``):

* **A new alarm starts in INSUFFICIENT_DATA**, reason "Unchecked: Initial alarm creation", no
  reason data ("When this operation creates an alarm, the alarm state is immediately set to
  INSUFFICIENT_DATA"); moto started it in OK. Creating an alarm is no state change: no event.
  CloudWatch would then evaluate the alarm; the local AWS evaluates one only when a test asks
  (``sagemeter_sandbox.alarms``), so otherwise only SetAlarmState moves it, and the state it
  sets stays (CloudWatch: "Metric alarms return to their actual state quickly").
* **PutMetricAlarm on an existing alarm keeps its state**, reason, timestamp and history ("When
  you update an existing alarm, its state is left unchanged, but the update completely
  overwrites the previous configuration"); moto replaced the alarm and reset it to OK.
* **SetAlarmState emits ``CloudWatch Alarm State Change``** when the new value differs from the
  previous one ("When the updated state differs from the previous value, the action configured
  for the appropriate state is invoked"); the same value again updates reason and timestamp
  and emits nothing. ``CloudWatch Alarm Configuration Change`` events (alarm created, updated,
  deleted) are not emitted.

SageMaker: ``endpoint_changed`` is an ``endpoint_states`` observer, so it hears of every status
shown (CreateEndpoint's ``Creating``, a due ``InService``/``Failed``, UpdateEndpoint's
``Updating``, DeleteEndpoint's ``Deleting``, a forced status) and emits ``SageMaker Endpoint
State Change`` when the status differs from the last one emitted for that endpoint. An endpoint
that is gone after ``Deleting`` gets no further event: the guide documents none, so a consumer
learns it from DescribeEndpoint ("Could not find endpoint"). SageMaker "may send multiple events
to EventBridge for each state change"; the local AWS sends exactly one.

Transitions are applied lazily before each SageMaker call; without a call nobody would see
``Creating`` turn ``InService``. ``Ticker`` calls ``endpoint_states.settle_all`` on a daemon
thread every ``TICK_SECONDS`` (0.2 s), and at the moment the next pending transition falls due
if that is sooner, so a transition's event is in the queue a few milliseconds after it fell due
(0.2 s at worst, for a transition scheduled during a wait).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend
from moto.sagemaker.models import SageMakerModelBackend

from sagemeter_sandbox import endpoint_states
from sagemeter_sandbox.motopatches import original

from .bus import emit
from .shapes import AlarmState, alarm_state_change, endpoint_state_change

__all__ = ["TICK_SECONDS", "Ticker", "endpoint_changed", "patches"]

log = logging.getLogger(__name__)
TICK_SECONDS = 0.2
MIN_WAIT = 0.005
INITIAL_REASON = "Unchecked: Initial alarm creation"
_KEPT_ON_UPDATE = (
    "state_value",
    "state_reason",
    "state_reason_data",
    "state_updated_timestamp",
    "history",
)
_EMITTED = "_sagemeter_emitted_status"  # in the backend's __dict__: moto's reset forgets it
# The server is threaded: a state change and the event naming its previous state go together.
_alarms = threading.Lock()


# --------------------------------------------------------------------------- CloudWatch


def _put_metric_alarm(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Alarm:
    name = kwargs["name"] if "name" in kwargs else args[0]
    with _alarms:
        existing = self.alarms.get(name)
        alarm: Alarm = original(CloudWatchBackend, "put_metric_alarm")(self, *args, **kwargs)
        if existing is None:
            alarm.state_value, alarm.state_reason = "INSUFFICIENT_DATA", INITIAL_REASON
            vars(alarm)["state_reason_data"] = None  # moto types it str; DescribeAlarms omits it
        else:
            for field in _KEPT_ON_UPDATE:
                setattr(alarm, field, getattr(existing, field))
        return alarm


def _set_alarm_state(
    self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str
) -> None:
    with _alarms:
        alarm = self.alarms.get(alarm_name)
        previous = AlarmState.of(alarm) if alarm is not None else None
        original(CloudWatchBackend, "set_alarm_state")(
            self, alarm_name, reason, reason_data, state_value
        )
        if previous is not None and previous.value != state_value:
            emit(
                alarm_state_change(
                    self.alarms[alarm_name], previous, self.account_id, self.region_name
                )
            )


# --------------------------------------------------------------------------- SageMaker


def endpoint_changed(backend: SageMakerModelBackend, name: str) -> None:
    """The ``endpoint_states`` observer: emits when endpoint ``name``'s status is new."""
    try:
        emitted: dict[str, str] = backend.__dict__.setdefault(_EMITTED, {})
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            emitted.pop(name, None)
            return
        if emitted.get(name) == endpoint.endpoint_status:
            return
        emitted[name] = endpoint.endpoint_status
        config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        emit(endpoint_state_change(endpoint, config, backend.account_id, backend.region_name))
    except Exception:  # an event must never break the SageMaker call that caused it
        log.exception("endpoint %s changed", name)


class Ticker:
    """Calls ``endpoint_states.settle_all`` on a daemon thread every ``interval`` seconds, or
    sooner when a pending transition falls due sooner."""

    def __init__(self, interval: float = TICK_SECONDS) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="localaws-events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                due = endpoint_states.settle_all()
            except Exception:
                log.exception("settling due endpoint transitions")
                continue
            if due is not None:  # wake for it rather than up to a whole interval later
                wait = min(self.interval, max(MIN_WAIT, due - time.monotonic()))


def patches() -> list[tuple[Any, str, Any]]:
    return [
        (CloudWatchBackend, "put_metric_alarm", _put_metric_alarm),
        (CloudWatchBackend, "set_alarm_state", _set_alarm_state),
    ]
