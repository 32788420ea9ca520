"""The sandbox's local AWS: a moto server whose SageMaker endpoints behave like real ones.

Run ``python -m sagemeter_sandbox.localaws --host 127.0.0.1 --port 5000``. It serves every
moto service the way ``moto_server`` does (``GET /moto-api/`` for readiness,
``POST /moto-api/reset`` to wipe state) until SIGTERM or SIGINT, then exits with 0.
``start_in_thread`` serves the same app inside the current process. Both put moto behind
``faults.FaultInjector`` and ``requestlog.RequestLog`` (every call that reached moto, with
its arrival time, at ``/sagemeter-api/requests``), so tests drive faults (throttling, 5xx,
latency, outages, a signal to a process after a given call) and endpoint statuses over HTTP
under ``/sagemeter-api/``, with ``control.FaultClient``.

Importing this module patches moto *in this process* (``install``, which hands this module's
replacements and its features' to ``motopatches``, where every patch of moto is declared, with
its test and the moto gaps worth fixing upstream):

* **Endpoint lifecycle.** CreateEndpoint leaves the endpoint ``Creating`` for
  ``SAGEMETER_LOCALAWS_CREATE_SECONDS`` (default 3), then ``InService``; DeleteEndpoint leaves it
  ``Deleting`` for ``SAGEMETER_LOCALAWS_DELETE_SECONDS`` (default 1), then it is gone
  (``ValidationException: Could not find endpoint``). moto had neither phase. Transitions are
  applied lazily before every SageMaker call, so Describe, ListEndpoints (with its StatusEquals,
  NameContains, paging) and tags always agree, and by a 0.2 s ticker while serving.
* **UpdateEndpoint** (moto lacks it). Both names must exist. ``Updating`` for
  ``SAGEMETER_LOCALAWS_UPDATE_SECONDS`` (default 3), then ``InService`` on the new config with its
  variants and a new ``LastModifiedTime``. UpdateEndpointWeightsAndCapacities is ``Updating`` for
  as long (moto made it instant).
* **Every endpoint status** and which of DeleteEndpoint, UpdateEndpoint and
  UpdateEndpointWeightsAndCapacities SageMaker accepts in it (e.g. "Cannot update in-progress
  endpoint" while Creating, "Cannot update failed endpoint"): the rules, their sources and forcing
  a status from a test live in ``endpoint_states``.
* **Failure injection** (``variants``). A model image tagged ``fail`` (``PrimaryContainer.Image``
  or any ``Containers[].Image``, e.g. ``123.dkr.ecr.us-east-1.amazonaws.com/x:fail``) fails the
  ping health check: a new endpoint ends ``Failed`` with a ``FailureReason``; an update to such a
  config rolls back like SageMaker does: ``InService`` on the *old* config, ``FailureReason``
  "Update failed: ...", cleared by the next update. A Failed endpoint can be deleted, not updated.
* **DescribeEndpoint** shows ``ProductionVariants`` (with ``DeployedImages``) only once
  deployed, ``AsyncInferenceConfig`` for async endpoints, and no empty ``DataCaptureConfig``.
* **Instance quotas.** ``CreateEndpoint`` and ``UpdateEndpoint`` (blue/green: beside the
  fleet still serving) are refused with SageMaker's ``ResourceLimitExceeded`` when the account's
  endpoints would hold more instances of a type than its quota "ml.<type> for endpoint usage"
  (``quotas``: AWS's new-account values unless ``SAGEMETER_LOCALAWS_QUOTAS`` or the control
  API says otherwise).
* **moto's gaps** fixed in ``motopatches``: ListModels filters by ``NameContains`` and pages;
  instance types are botocore's enum ``ProductionVariantInstanceType``; creating a model,
  endpoint config or endpoint whose name exists is a ``ValidationException``; CreateModel keeps
  ``EnableNetworkIsolation``; AddTags overwrites a tag with the same key; tag calls on an
  unknown ARN are a ``ValidationException``; authorizers keep ``identityValidationExpression``.
* **EventBridge events.** ``CloudWatch Alarm State Change`` and ``SageMaker Endpoint State
  Change`` go through moto's EventBridge rules to their targets, SQS queues as in AWS; new alarms
  start INSUFFICIENT_DATA (``sagemeter_sandbox.aws_events``, ``GET /sagemeter-api/events``).
* **Who called.** Assumed-role sessions keep their session tags, and the request log records
  each call's account, role, session name and tags (``callers``).
* **Keep-alive.** Connections stay open between requests, as AWS's do; werkzeug's server
  closed each after one answer, so every call paid a new connection and a new server thread;
  each connection sends with ``TCP_NODELAY``, or an answer's body would wait 40 ms for the
  client's delayed acknowledgement of its headers (``keepalive``).
* **Rate quotas.** API Gateway's CreateDeployment is refused with 429 when it comes sooner than
  5 s after the last one in the same account and region, as AWS does (``rates``).
* **Runtime and API Gateway data plane.** InvokeEndpoint only reaches a serving endpoint,
  answers a JSON echo from one of its variants and publishes ``Invocations`` for that variant
  (``sagemeter_sandbox.runtime``); routes answer real HTTP requests at
  ``/restapis/<apiId>/<stage>/_user_request_/<path>`` (``sagemeter_sandbox.dataplane``).
* **CloudWatch alarms.** PutMetricAlarm refuses ``Metrics`` arrays CloudWatch refuses; an alarm
  is evaluated from the datapoints when a test asks (``sagemeter_sandbox.alarms``,
  ``POST /sagemeter-api/alarms/<region>/<name>/evaluate``).
* **SQS messages aged on request** (``sagemeter_sandbox.queues``,
  ``POST /sagemeter-api/queues/<region>/<name>/age``): their ``SentTimestamp`` moved into the
  past, for tests of what a consumer does with an old message.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    SageMakerModelBackend,
    sagemaker_backends,
)
from moto.sagemaker.responses import SageMakerResponse
from werkzeug.serving import BaseWSGIServer, make_server

from sagemeter_sandbox import (
    alarms,
    aws_events,
    callers,
    dataplane,
    endpoint_states,
    faults,
    hub,
    motopatches,
    queues,
    quotas,
    rates,
    requestlog,
    runtime,
    tokens,
)
from sagemeter_sandbox.dataplane import routing
from sagemeter_sandbox.endpoint_states import Call, check, lock, schedule, settle
from sagemeter_sandbox.keepalive import KeepAliveHandler
from sagemeter_sandbox.variants import deployment

__all__ = ["Delays", "install", "main", "start_in_thread"]


@dataclass(frozen=True)
class Delays:
    """Seconds an endpoint spends in each transitional status."""

    create: float = 3.0
    update: float = 3.0
    delete: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Delays:
        def seconds(name: str, default: float) -> float:
            return float(env.get(f"SAGEMETER_LOCALAWS_{name}_SECONDS", default))

        return cls(
            seconds("CREATE", cls.create),
            seconds("UPDATE", cls.update),
            seconds("DELETE", cls.delete),
        )


_delays = Delays.from_env(os.environ)
_moto = motopatches.original


def _set(endpoint: FakeEndpoint, **fields: Any) -> None:
    # DescribeEndpoint serializes the object's attributes; moto types failure_reason as None and
    # has no async_inference_config, hence vars() rather than attribute assignment.
    vars(endpoint).update(fields)


# --------------------------------------------------------------------------- backend patches


def _create_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    tags: list[dict[str, str]],
) -> FakeEndpoint:
    with lock:
        config = self.endpoint_configs.get(endpoint_config_name)
        requested = quotas.fleet_of(config) if config is not None else None
        if requested is not None and endpoint_name not in self.endpoints:
            quotas.check(self, requested)
        create = _moto(SageMakerModelBackend, "create_endpoint")
        endpoint: FakeEndpoint = create(self, endpoint_name, endpoint_config_name, tags)
        config = self.endpoint_configs[endpoint_config_name]
        quotas.hold(endpoint, [requested or quotas.fleet_of(config)])
        variants, failure = deployment(self, endpoint, config)
        # SageMaker shows no variants until they are deployed, nor unset optional blocks.
        _set(
            endpoint,
            production_variants=None,
            async_inference_config=config.async_inference_config,
            data_capture_config=endpoint.data_capture_config or None,
        )

        def finish() -> None:
            if failure:
                _set(endpoint, endpoint_status="Failed", failure_reason=failure)
            else:
                _set(endpoint, endpoint_status="InService", production_variants=variants)
            endpoint.last_modified_time = utcnow()

        schedule(self, endpoint, "Creating", _delays.create, finish)
        return endpoint


def _update_endpoint(
    backend: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str
) -> FakeEndpoint:
    with lock:
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, backend.account_id, backend.region_name)
            raise ValidationError(f'Could not find endpoint "{arn}".')
        config = backend.endpoint_configs.get(endpoint_config_name)
        if config is None:
            arn = FakeEndpointConfig.arn_formatter(
                endpoint_config_name, backend.account_id, backend.region_name
            )
            raise ValidationError(f'Could not find endpoint configuration "{arn}".')
        check(endpoint, Call.UPDATE)
        # Blue/green: the new fleet must fit beside the one still serving.
        serving, requested = quotas.held(endpoint), quotas.fleet_of(config)
        quotas.check(backend, requested)
        variants, failure = deployment(backend, endpoint, config)
        endpoint.failure_reason = None  # SageMaker clears the last failure when an update starts
        quotas.hold(endpoint, [*serving, requested])

        def finish() -> None:
            quotas.hold(endpoint, serving if failure else [requested])
            if failure:  # rolled back: still serving the old config
                _set(
                    endpoint,
                    endpoint_status="InService",
                    failure_reason=f"Update failed: {failure}",
                )
            else:
                _set(
                    endpoint,
                    endpoint_status="InService",
                    endpoint_config_name=endpoint_config_name,
                    production_variants=variants,
                    async_inference_config=config.async_inference_config,
                )
            endpoint.last_modified_time = utcnow()

        schedule(backend, endpoint, "Updating", _delays.update, finish)
        return endpoint


def _delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
    with lock:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            # moto's own raises its "Could not find endpoint"
            _moto(SageMakerModelBackend, "delete_endpoint")(self, endpoint_name)
            return
        check(endpoint, Call.DELETE)

        def finish() -> None:
            self.endpoints.pop(endpoint_name, None)

        schedule(self, endpoint, "Deleting", _delays.delete, finish)


def _update_weights(
    self: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities: list[Any]
) -> str:
    with lock:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None:
            check(endpoint, Call.UPDATE_WEIGHTS)
        moto = _moto(SageMakerModelBackend, "update_endpoint_weights_and_capacities")
        arn: str = moto(self, endpoint_name, desired_weights_and_capacities)
        updated = self.endpoints[endpoint_name]  # moto applied the weights and counts at once

        def finish() -> None:
            updated.endpoint_status = "InService"
            updated.last_modified_time = utcnow()

        schedule(self, updated, "Updating", _delays.update, finish)
        return arn


# --------------------------------------------------------------------------- response patches


def _settled_backend(self: SageMakerResponse) -> SageMakerModelBackend:
    backend = sagemaker_backends[self.current_account][self.region]
    settle(backend)
    return backend


def _update_endpoint_response(self: SageMakerResponse) -> ActionResult:
    endpoint = _update_endpoint(
        self.sagemaker_backend,
        self._get_param("EndpointName"),
        self._get_param("EndpointConfigName"),
    )
    return ActionResult({"EndpointArn": endpoint.arn})


def install(delays: Delays | None = None) -> None:
    """Patches moto (once per process, through ``motopatches``); ``delays`` replaces the
    environment's."""
    global _delays
    if delays is not None:
        _delays = delays
    motopatches.install(
        [
            (SageMakerModelBackend, "create_endpoint", _create_endpoint),
            (SageMakerModelBackend, "delete_endpoint", _delete_endpoint),
            (SageMakerModelBackend, "update_endpoint_weights_and_capacities", _update_weights),
            (SageMakerResponse, "sagemaker_backend", property(_settled_backend)),
            (SageMakerResponse, "update_endpoint", _update_endpoint_response),
            *hub.response_patches(),
            *runtime.response_patches(settle),  # InvokeEndpoint as a real endpoint answers it
            *aws_events.patches(),  # EventBridge events of alarm and endpoint changes
            *alarms.response_patches(),  # PutMetricAlarm's rules for Metrics
            *routing.patches(),  # API Gateway serves a stage from its deployment
            *callers.response_patches(),  # sessions keep their tags (the request log's)
        ]
    )
    aws_events.install()


install()


# --------------------------------------------------------------------------- serving


def start_in_thread(host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """Serves all moto services on a daemon thread; ``port=0`` picks a free port
    (``server.server_port``). Stop with ``server.shutdown()``. A port that cannot be bound
    fails here (werkzeug exits with status 1), where moto's ThreadedMotoServer would hang."""
    # Faults apply to everything a client sends, the data plane's requests included.
    # The request log sits inside: it records what reached AWS, never an injected fault.
    routes = dataplane.DataPlane(DomainDispatcherApplication(create_backend_app))
    # AWS checks credentials, then throttles, then serves: so do the layers inside the log.
    log = requestlog.RequestLog(tokens.ExpiredTokens(rates.RateQuotas(routes)))
    app = faults.FaultInjector(
        log,
        controls={
            "endpoints": endpoint_states.control,
            "credentials": tokens.control,
            "events": aws_events.control,
            "requests": log.control,
            "alarms": alarms.control,
            "quotas": quotas.control,
            "queues": queues.control,
        },
    )
    routes.integration_app = app  # an integration's AWS calls meet faults and the log too
    # Connections stay open between requests, as AWS's do (`keepalive`).
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    aws_events.start_ticker()  # due endpoint transitions land, and send their events, unasked
    threading.Thread(target=server.serve_forever, name="localaws", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sagemeter_sandbox.localaws",
        description="A moto server whose SageMaker endpoints behave like real ones.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    # Some moto services build URLs from it, as under moto_server.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = start_in_thread(args.host, args.port)
    print(f"localaws: serving on http://{args.host}:{server.server_port} ({_delays})", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
