"""Events from AWS instead of polls: with sweeps and idle batches only every 5 minutes and
transitions polled every minute, an idle alarm still parks its endpoint, and an endpoint
reaching InService is still seen, within seconds, because EventBridge delivers both to the
event queue the operator long-polls."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from sagemeter.core.endpoint import naming

from .conftest import Kubectl, Operator, endpoint_object, wait_for

pytestmark = pytest.mark.cluster

# The safety net far away: what happens within seconds came through the queue.
SLOW = {"SAGEMETER_SYNC_INTERVAL": "5m", "SAGEMETER_POLL_INTERVAL": "60s"}


def own_queue(namespace: str) -> dict[str, str]:
    """The test's operator gets an event queue of its own: operators sharing an account each
    need their own (docs/configuration.md). On the session's shared `sagemeter-events`, a long
    poll an earlier test's operator left open (up to 20 s after it stopped) may take the alarm's
    message, which then waits out its 5 s visibility timeout: the test measured that timeout
    (5.91 s in a full run) instead of the event path (0.31 s)."""
    return {"SAGEMETER_EVENT_QUEUE": f"sagemeter-events-{namespace}"}


def cloudwatch(sandbox: Any) -> Any:
    return boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_in_service_and_idle_alarms_arrive_as_events(
    operator: Operator, kube: Kubectl, sandbox: Any, namespace: str
) -> None:
    operator.start(**SLOW, **own_queue(namespace))
    kube.apply(endpoint_object("evented", idle={"after": "1m", "gracePeriod": "0s"}))
    applied = time.monotonic()
    kube.wait_phase("evented", "InService", timeout=30)
    # Creating lasts 2 s here; a poll every 60 s would have seen it much later.
    seen_in = time.monotonic() - applied
    assert 2.0 <= seen_in < 15.0, seen_in

    alarm = naming.alarm_name(kube.status("evented")["endpointName"])
    watch = cloudwatch(sandbox)
    wait_for("the idle alarm", lambda: watch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"])
    deletes = operator.aws_calls().get("sagemaker:DeleteEndpoint", 0)
    fired = time.monotonic()
    watch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: no traffic")
    wait_for(
        "the DeleteEndpoint",
        lambda: operator.aws_calls().get("sagemaker:DeleteEndpoint", 0) > deletes,
        timeout=30,
    )
    parked_in = time.monotonic() - fired
    # Deleting until SageMaker is done (AWS sends no event for "gone": a poll sees that). The
    # pass writes status after its AWS calls (the DeleteEndpoint, then the alarm's removal), so
    # the phase follows the counted call by that much.
    status = wait_for(
        "the park in status",
        lambda: (s := kube.status("evented"))["phase"] in ("Deleting", "Parked") and s,
        timeout=10,
    )
    assert status["parkedReason"] == "Idle", status
    print(
        f"\nCreating -> InService seen after {seen_in:.2f} s;"
        f" alarm ALARM -> DeleteEndpoint {parked_in:.2f} s"
    )
    assert parked_in < 20.0, parked_in  # the 60 s poll would be later
    # The queue did it: no idle batch ran meanwhile beyond the first reads.
    assert operator.aws_calls().get("sqs:ReceiveMessage", 0) >= 1
