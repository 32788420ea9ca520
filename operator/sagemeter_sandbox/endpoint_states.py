"""SageMaker endpoint statuses in the local AWS: which calls each accepts, and how they change.

Owns the nine ``EndpointStatus`` values, the rule table ``RULES`` (which of DeleteEndpoint,
UpdateEndpoint and UpdateEndpointWeightsAndCapacities SageMaker accepts in each status, and the
error it answers otherwise), the lazy transitions between statuses (``schedule``/``settle``,
applied before every SageMaker call so Describe and ListEndpoints agree, and by the event ticker
of ``aws_events`` through ``settle_all``; this module starts no thread), and forcing
an endpoint into any status from a test (``force_status``, served over HTTP by ``control``:
``POST /sagemeter-api/endpoints/<region>/<name>/status`` with ``{"status": "SystemUpdating",
"seconds": 5, "then": "InService", "failureReason": "...", "accountId": "123456789012"}``;
``GET`` on the same path reads the status), and telling ``observers`` about every status it shows
(``aws_events`` turns that into EventBridge events). It does not own what the calls do (creating,
deploying, failing images, rolling back: ``localaws``) nor fault injection (``faults``).

Forcing a status first completes a create or update the endpoint was in the middle of (so its
variants and config are the deployed ones; a pending deletion is cancelled instead), then shows
``status`` with a new LastModifiedTime.
With ``seconds`` it moves on to ``then`` after that long (``Deleting`` without ``then``: the
endpoint is gone, as after DeleteEndpoint). ``failureReason`` is shown while in ``status`` and
kept in ``then`` only if that is ``Failed``/``UpdateRollbackFailed``; those two get a default
reason when none is given. A later accepted call (e.g. DeleteEndpoint) replaces a pending ``then``.

The rules (``-`` accepted; otherwise a ``ValidationException``, HTTP 400)::

    status                Delete         Update         UpdateWeightsAndCapacities
    Creating              in-progress    in-progress    in-progress      [1][2][3][4][5]
    Updating              in-progress    in-progress    in-progress      [1][2][3][4]
    SystemUpdating        in-progress    in-progress    in-progress      [1][2][4]
    RollingBack           in-progress    in-progress    in-progress      [1][2][4]
    Deleting              in-progress    in-progress    in-progress      [2][3][4]
    OutOfService          -              -              -                [4][7]; docs silent
    InService             -              -              -                [1][2]
    Failed                -              failed         failed           [1][2][4][6]
    UpdateRollbackFailed  -              -              -                [1][4]; docs silent

    in-progress:     'Cannot update in-progress endpoint "<arn>".'   (also for DeleteEndpoint [3])
    failed:          'Cannot update failed endpoint "<arn>".'         [6]

Sources:

[1] SageMaker API reference, ``EndpointStatus`` of DescribeEndpoint (botocore
    ``botocore/data/sagemaker/2017-07-24/service-2.json``, shape DescribeEndpointOutput;
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html):
    SystemUpdating "cannot be updated or deleted or re-scaled until it has completed";
    RollingBack is transitional and "returns to an InService status"; Failed: "DeleteEndpoint is
    the only operation that can be performed on a failed endpoint"; UpdateRollbackFailed: "in
    service with a mix of the old and new endpoint configurations", with a remedy "to restore
    the endpoint's status to InService" (Rolling Deployments guide).
[2] aws/amazon-sagemaker-operator-for-k8s, ``controllers/hosting/hostingdeployment_controller.go``
    (AWS's first operator): "Updates and deletions are only supported in SageMaker when the
    Endpoint is InService (update or deletion) or Failed (only deletion)"; Creating, Deleting,
    OutOfService, RollingBack, SystemUpdating and Updating are a no-op there.
[3] aws/amazon-sagemaker-operator-for-k8s,
    ``controllers/sdkutil/clientwrapper/sagemaker_client.go``:
    ``DeleteEndpointInProgressCode = "ValidationException"``,
    ``DeleteEndpointInProgressMessagePrefix = "Cannot update in-progress endpoint"``.
[4] aws-controllers-k8s/sagemaker-controller, ``pkg/resource/endpoint/hooks.go``:
    ``modifyingStatuses`` = Creating, Updating, SystemUpdating, RollingBack, Deleting (requeue,
    "cannot be modified or deleted"); update blocked when Failed (``customUpdateEndpointPreChecks``;
    ``testdata/test_suite.yaml`` scenarios Update=StatusFailed, Delete=RequeueOnCreating).
    OutOfService and UpdateRollbackFailed are not in that list: ACK would update or delete them.
[5] aws/amazon-sagemaker-examples#3432 (an endpoint stuck in Creating cannot be deleted until it
    turns Failed) and #3188 (deleting an endpoint still in progress fails).
[6] hashicorp/terraform-provider-aws, ``aws/resource_aws_sagemaker_endpoint_test.go`` (2018-2021
    revisions): ``TestAccAWSSagemakerEndpoint_update`` skipped with "Cannot update failed endpoint".
[7] SageMaker API reference, DeleteEndpoint and UpdateEndpoint
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html,
    .../API_UpdateEndpoint.html) name no status that refuses the call; botocore's model lists no
    error of DeleteEndpoint's own and only ``ResourceLimitExceeded`` for UpdateEndpoint and
    UpdateEndpointWeightsAndCapacities.

Where no source says a status refuses a call, the local AWS accepts it (it is a witness, not
a guess): OutOfService is not in ACK's ``modifyingStatuses`` [4], so ACK updates and deletes
it, and SageMaker's reference names no restriction [7] (an OutOfService endpoint is still
billed, so a delete must work). UpdateRollbackFailed accepts every call for the same reason.
Only [2], written before SystemUpdating and RollingBack existed, waited there; it is outvoted by
the newer controller. The in-progress text for SystemUpdating and RollingBack is ours: no source
quotes SageMaker's wording for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend, sagemaker_backends

__all__ = [
    "DEFAULT_ACCOUNT",
    "RULES",
    "STATUSES",
    "Call",
    "Refusal",
    "StateRules",
    "check",
    "control",
    "force_status",
    "lock",
    "observers",
    "schedule",
    "settle",
    "settle_all",
]

DEFAULT_ACCOUNT = "123456789012"
STATUSES = (
    "OutOfService",
    "Creating",
    "Updating",
    "SystemUpdating",
    "RollingBack",
    "InService",
    "Deleting",
    "Failed",
    "UpdateRollbackFailed",
)
FAILURE_STATUSES = ("Failed", "UpdateRollbackFailed")

# The server is threaded; transitions and the calls that start them must not interleave.
lock = threading.RLock()
# Each is called as observer(backend, endpoint name), under ``lock``, after this module showed a
# status (a call started a transition, a due one finished, a status was forced) or an endpoint
# went away; it reads the endpoint itself. Observers must not raise.
observers: list[Callable[[SageMakerModelBackend, str], None]] = []


class Call(StrEnum):
    DELETE = "DeleteEndpoint"
    UPDATE = "UpdateEndpoint"
    UPDATE_WEIGHTS = "UpdateEndpointWeightsAndCapacities"


@dataclass(frozen=True)
class Refusal:
    """SageMaker's answer to a call it does not accept; ``message`` has ``{arn}``/``{status}``."""

    message: str
    code: str = "ValidationException"

    def error(self, endpoint: FakeEndpoint) -> ValidationError:
        error = ValidationError(
            self.message.format(arn=endpoint.arn, status=endpoint.endpoint_status)
        )
        error.code = self.code
        return error


IN_PROGRESS = Refusal('Cannot update in-progress endpoint "{arn}".')
FAILED = Refusal('Cannot update failed endpoint "{arn}".')


@dataclass(frozen=True)
class StateRules:
    """What SageMaker answers each call in one status (None: accepted), and why we think so."""

    delete: Refusal | None
    update: Refusal | None
    update_weights: Refusal | None
    sources: str

    def refusal(self, call: Call) -> Refusal | None:
        return {
            Call.DELETE: self.delete,
            Call.UPDATE: self.update,
            Call.UPDATE_WEIGHTS: self.update_weights,
        }[call]


def _busy(sources: str) -> StateRules:
    return StateRules(IN_PROGRESS, IN_PROGRESS, IN_PROGRESS, sources)


RULES: Mapping[str, StateRules] = {
    "Creating": _busy("[1][2][3][4][5]"),
    "Updating": _busy("[1][2][3][4]"),
    "SystemUpdating": _busy("[1][2][4]"),
    "RollingBack": _busy("[1][2][4]"),
    "Deleting": _busy("[2][3][4]"),
    "OutOfService": StateRules(None, None, None, "[4][7]; docs silent: permissive"),
    "InService": StateRules(None, None, None, "[1][2]"),
    "Failed": StateRules(None, FAILED, FAILED, "[1][2][4][6]"),
    "UpdateRollbackFailed": StateRules(None, None, None, "[1][4]; docs silent: permissive"),
}


def check(endpoint: FakeEndpoint, call: Call) -> None:
    """Raises SageMaker's ``ValidationException`` when ``endpoint``'s status refuses ``call``."""
    refusal = RULES[endpoint.endpoint_status].refusal(call)
    if refusal is not None:
        raise refusal.error(endpoint)


# --------------------------------------------------------------------------- transitions


def _changed(backend: SageMakerModelBackend, name: str) -> None:
    for observer in observers:
        observer(backend, name)


def _pending(backend: SageMakerModelBackend) -> dict[str, tuple[float, Callable[[], None]]]:
    # Kept in the backend's __dict__ so that moto's reset (which rebuilds it) forgets it too.
    pending: dict[str, tuple[float, Callable[[], None]]]
    pending = backend.__dict__.setdefault("_sagemeter_pending", {})
    return pending


def schedule(
    backend: SageMakerModelBackend,
    endpoint: FakeEndpoint,
    status: str,
    seconds: float,
    finish: Callable[[], None],
) -> None:
    """Shows ``status`` now and runs ``finish`` once ``seconds`` have passed (replacing any
    transition still pending for this endpoint)."""
    endpoint.endpoint_status = status
    endpoint.last_modified_time = utcnow()
    _pending(backend)[endpoint.endpoint_name] = (time.monotonic() + seconds, finish)
    _changed(backend, endpoint.endpoint_name)


def settle(backend: SageMakerModelBackend) -> None:
    """Applies every transition that is due, so reads see the status of *now*."""
    now = time.monotonic()
    with lock:
        pending = _pending(backend)
        for name, (due, finish) in list(pending.items()):
            if due <= now:
                del pending[name]
                finish()
                _changed(backend, name)


def settle_all() -> float | None:
    """``settle`` for every backend with a transition pending: what a background ticker calls so
    that transitions land (and observers hear of them) without a SageMaker call. Answers when
    the next pending transition falls due (``time.monotonic``), None when none is pending."""
    due: list[float] = []
    for regions in list(sagemaker_backends.values()):
        for backend in list(regions.values()):
            if backend.__dict__.get("_sagemeter_pending"):
                settle(backend)
                due.extend(when for when, _ in list(_pending(backend).values()))
    return min(due, default=None)


# --------------------------------------------------------------------------- forcing


def _show(endpoint: FakeEndpoint, status: str, reason: str | None) -> None:
    if reason is None and status in FAILURE_STATUSES:
        reason = f"The endpoint was set to {status} by the sandbox's local AWS."
    # DescribeEndpoint serializes attributes; moto types failure_reason as None, hence vars().
    vars(endpoint).update(endpoint_status=status, failure_reason=reason)
    endpoint.last_modified_time = utcnow()


def force_status(
    backend: SageMakerModelBackend,
    name: str,
    status: str,
    *,
    seconds: float | None = None,
    then: str | None = None,
    failure_reason: str | None = None,
) -> FakeEndpoint:
    """Puts endpoint ``name`` into ``status`` (see the module docstring); raises ``KeyError`` for
    an unknown endpoint and ``ValueError`` for an unknown status or an incomplete transition."""
    for value in (status, then):
        if value is not None and value not in STATUSES:
            raise ValueError(f"unknown status {value!r}; one of {', '.join(STATUSES)}")
    if (then is not None and seconds is None) or (
        seconds is not None and then is None and status != "Deleting"
    ):
        raise ValueError('"seconds" and "then" go together (only Deleting may omit "then")')
    with lock:
        settle(backend)
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise KeyError(name)
        work = _pending(backend).pop(name, None)
        if work is not None and endpoint.endpoint_status != "Deleting":
            work[1]()  # the deployment SageMaker was doing lands first
            _changed(backend, name)
        _show(endpoint, status, failure_reason)
        _changed(backend, name)
        if seconds is not None:

            def finish() -> None:
                if then is None:
                    backend.endpoints.pop(name, None)
                else:
                    _show(endpoint, then, failure_reason if then in FAILURE_STATUSES else None)

            schedule(backend, endpoint, status, seconds, finish)
        return endpoint


def _summary(endpoint: FakeEndpoint) -> dict[str, Any]:
    return {
        "endpointName": endpoint.endpoint_name,
        "endpointArn": endpoint.arn,
        "endpointStatus": endpoint.endpoint_status,
        "failureReason": endpoint.failure_reason,
    }


def control(method: str, path: list[str], body: Any) -> tuple[int, Any]:
    """``/sagemeter-api/endpoints/<region>/<name>/status``: ``path`` is the part after
    ``endpoints``. Answers (HTTP status, JSON document)."""
    if len(path) != 3 or path[2] != "status" or method not in ("GET", "POST"):
        return 404, {"error": "use GET or POST /sagemeter-api/endpoints/<region>/<name>/status"}
    region, name = path[0], path[1]
    body = body if isinstance(body, dict) else {}
    account = str(body.get("accountId") or DEFAULT_ACCOUNT)
    try:
        backend = sagemaker_backends[account][region]
    except KeyError:
        return 404, {"error": f"no SageMaker in account {account} region {region}"}
    try:
        if method == "GET":
            with lock:
                settle(backend)
                endpoint = backend.endpoints[name]
        else:
            seconds = body.get("seconds")
            endpoint = force_status(
                backend,
                name,
                str(body.get("status")),
                seconds=None if seconds is None else float(seconds),
                then=body.get("then"),
                failure_reason=body.get("failureReason"),
            )
    except KeyError:
        return 404, {"error": f'Could not find endpoint "{name}" in {account}/{region}.'}
    except (TypeError, ValueError) as exc:
        return 400, {"error": str(exc)}
    return 200, _summary(endpoint)
