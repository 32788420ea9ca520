"""The local AWS's SageMaker runtime: InvokeEndpoint and InvokeEndpointAsync answer like a real
endpoint's, which moto 5.2.5's do not (it answers any name, any status, with static data).

``response_patches(settle)`` replaces both operations of moto's ``SageMakerRuntimeResponse``
(``settle`` is ``localaws``'s: it applies due lifecycle transitions first):

* The endpoint must exist in the local SageMaker and be serving: ``InService``, or ``Updating``
  / ``SystemUpdating`` / ``RollingBack``, during which SageMaker keeps serving the old
  configuration. Otherwise (unknown, ``Creating``, ``Deleting``, ``Failed``, deleted) the call
  fails like SageMaker's: ``400 ValidationError`` "Endpoint <name> of account <account> not
  found."
* InvokeEndpoint answers a deterministic echo, ``{"endpoint": "<name>", "input": <request
  body as JSON, or as text>}`` (``Content-Type: application/json``), with the request's
  ``X-Amzn-SageMaker-Custom-Attributes`` echoed back. Results queued through moto's
  ``POST /moto-api/static/sagemaker/endpoint-results`` still win: moto answers those.
* Each InvokeEndpoint is served by one production variant: the one ``TargetVariant``
  (``X-Amzn-SageMaker-Target-Variant``) names, else one drawn by the variants' weights
  (SageMaker: traffic is split by ``VariantWeight``, and ``TargetVariant`` "overrides the
  weights"; API reference, InvokeEndpoint and ProductionVariant), told in
  ``X-Amzn-Invoked-Production-Variant``. A ``TargetVariant`` the endpoint does not serve is
  not refused (no source quotes SageMaker's answer): the weights decide.
* Every InvokeEndpoint publishes what SageMaker publishes: ``AWS/SageMaker`` ``Invocations``,
  value 1, dimensions ``EndpointName`` and ``VariantName`` of the serving variant, now ("SageMaker
  AI endpoint invocation metrics": "The number of InvokeEndpoint requests sent to a model
  endpoint", dimensions EndpointName, VariantName; developer guide,
  monitoring-cloudwatch.html). Idle alarms and ``GetMetricData`` in the local AWS then see real
  traffic (``alarms`` evaluates alarms on request). Not published: zeros for idle minutes
  (SageMaker's periods without calls may hold a 0 or no datapoint at all), InvokeEndpointAsync.
* InvokeEndpointAsync answers ``202`` (moto: 200) with moto's output and failure locations.
  Its input is in S3 (``X-Amzn-SageMaker-InputLocation``) or inline as the body: "Body and
  InputLocation are mutually exclusive. Provide exactly one of them." (botocore's
  ``sagemaker-runtime`` model, ``InvokeEndpointAsyncInput``), so a call with both, or with
  neither, is a ``400 ValidationError`` (moto reads only the header). An empty body is no
  Body: botocore sends one (``Content-Length: 0``) whenever only InputLocation is given.
* Both are reached whatever the request's ``Content-Type``. SageMaker Runtime speaks only
  ``rest-json`` (botocore's ``sagemaker-runtime`` model: ``"protocol": "rest-json"``, no
  other), so its operations are told apart by method and path, and "Amazon SageMaker AI strips
  all POST headers except those supported by the API" (the model's InvokeEndpoint and
  InvokeEndpointAsync documentation); neither operation has a ``Content-Type`` parameter
  (InvokeEndpoint's ContentType is the header of that name, InvokeEndpointAsync's is
  ``X-Amzn-SageMaker-Content-Type``), and a bodyless call sent by ``curl --data ''`` carries a
  form ``Content-Type``, which API Gateway passes on to the integration with the method body.
  moto picks a protocol from the Content-Type instead and finds no route for a form-encoded
  request: a 404 with an empty body. Here it is served (``ServiceOperationRouter.match`` and
  the runtime's ``determine_response_protocol``, declared in ``motopatches``), with its body
  as sent: moto's ``setup_class`` reads the body as werkzeug's ``request.data``, which is
  empty for a form-encoded request (its fields went to ``request.form``), so an InvokeEndpoint
  sent by ``curl -d '{...}'`` without a JSON ``Content-Type`` would reach the model empty.

Not checked: whether an async call targets an async endpoint, payload limits, the model's own
errors (``ModelError``, 424).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from botocore.model import ServiceModel
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.core.routing import ServiceOperationRouter
from moto.core.utils import utcnow
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend, sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from sagemeter_sandbox.motopatches import original

__all__ = [
    "SERVING",
    "EndpointNotFound",
    "publish_invocation",
    "response_patches",
    "serving_variant",
]

SERVING = ("InService", "Updating", "SystemUpdating", "RollingBack")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
INPUT_LOCATION = "X-Amzn-SageMaker-InputLocation"
_draw = random.Random()
RUNTIME_SERVICE = "sagemaker-runtime"

Settle = Callable[[SageMakerModelBackend], None]


class EndpointNotFound(ServiceException):
    """SageMaker runtime's answer for an endpoint that is not serving (HTTP 400)."""

    code = "ValidationError"


class InputNotOne(ServiceException):
    """InvokeEndpointAsync with both an inline Body and an InputLocation, or neither (400)."""

    code = "ValidationError"


def _serving(response: SageMakerRuntimeResponse, settle: Settle) -> FakeEndpoint:
    name = unquote(response.path.split("/")[2])
    account = response.current_account
    backend = sagemaker_backends[account][response.region]
    settle(backend)
    endpoint: FakeEndpoint | None = backend.endpoints.get(name)
    if endpoint is None or endpoint.endpoint_status not in SERVING:
        raise EndpointNotFound(f"Endpoint {name} of account {account} not found.")
    return endpoint


def serving_variant(endpoint: FakeEndpoint, target: str | None) -> str:
    """The production variant that serves a call: ``target`` if the endpoint serves it, else
    one drawn by the variants' current weights."""
    variants = [v for v in endpoint.production_variants or [] if v.get("VariantName")]
    names = [str(v["VariantName"]) for v in variants]
    if target in names:
        return str(target)
    if not names:
        return "AllTraffic"
    weights = [float(v.get("CurrentWeight", v.get("DesiredWeight", 1.0)) or 0.0) for v in variants]
    if not any(weights):
        weights = [1.0] * len(names)
    return _draw.choices(names, weights)[0]


def publish_invocation(account: str, region: str, endpoint_name: str, variant: str) -> None:
    """``AWS/SageMaker`` ``Invocations`` = 1 for the variant, now (naive UTC, as moto keeps)."""
    cloudwatch_backends[account][region].put_metric_data(
        "AWS/SageMaker",
        [
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint_name},
                    {"Name": "VariantName", "Value": variant},
                ],
                "Value": 1.0,
                "Unit": "None",
                "Timestamp": utcnow(),
            }
        ],
    )


def _echo(
    response: SageMakerRuntimeResponse, endpoint: FakeEndpoint, variant: str
) -> TYPE_RESPONSE:
    body = (
        response.body.decode("utf-8", "replace")
        if isinstance(response.body, bytes)
        else str(response.body or "")
    )
    try:
        given: Any = json.loads(body)
    except ValueError:
        given = body
    headers = {
        "Content-Type": "application/json",
        "X-Amzn-Invoked-Production-Variant": variant,
    }
    attributes = response.headers.get(CUSTOM_ATTRIBUTES)
    if attributes:
        headers[CUSTOM_ATTRIBUTES] = attributes
    return 200, headers, json.dumps({"endpoint": endpoint.endpoint_name, "input": given})


def response_patches(settle: Settle) -> list[tuple[type, str, Any]]:
    """``(class, attribute, value)`` triples for ``localaws.install``."""

    def invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
        endpoint = _serving(self, settle)
        variant = serving_variant(endpoint, self.headers.get(TARGET_VARIANT))
        publish_invocation(self.current_account, self.region, endpoint.endpoint_name, variant)
        results = self.sagemakerruntime_backend
        if results.results_queue or results.results.get(endpoint.endpoint_name):
            configured: TYPE_RESPONSE = original(SageMakerRuntimeResponse, "invoke_endpoint")(self)
            return configured  # results queued through moto's API
        return _echo(self, endpoint, variant)

    def invoke_endpoint_async(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
        _serving(self, settle)
        inline, located = bool(self.body), bool(self.headers.get(INPUT_LOCATION))
        if inline == located:
            raise InputNotOne(
                "Body and InputLocation are mutually exclusive. Provide exactly one of them."
            )
        _, headers, body = original(SageMakerRuntimeResponse, "invoke_endpoint_async")(self)
        # moto takes a tuple's status from its "status" header, not from the tuple.
        return 202, {**headers, "status": 202}, body

    return [
        (SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint),
        (SageMakerRuntimeResponse, "invoke_endpoint_async", invoke_endpoint_async),
        (ServiceOperationRouter, "match", _match),
        (SageMakerRuntimeResponse, "determine_response_protocol", _response_protocol),
        (SageMakerRuntimeResponse, "setup_class", _setup_class),
    ]


def _one_protocol(model: ServiceModel) -> str | None:
    """The protocol of a service that speaks only one (SageMaker Runtime: rest-json)."""
    if model.service_name != RUNTIME_SERVICE:
        return None
    return str(model.protocol)


def _match(self: ServiceOperationRouter, request: Any) -> tuple[Any, dict[str, Any]]:
    protocol = _one_protocol(self._service_model)
    if protocol is None:
        matched: tuple[Any, dict[str, Any]] = original(ServiceOperationRouter, "match")(
            self, request
        )
        return matched
    routed: tuple[Any, dict[str, Any]] = self._get_router(protocol).match(request)
    return routed


def _response_protocol(self: SageMakerRuntimeResponse, service_model: ServiceModel) -> str:
    return _one_protocol(service_model) or str(
        original(SageMakerRuntimeResponse, "determine_response_protocol")(self, service_model)
    )


def _setup_class(
    self: SageMakerRuntimeResponse,
    request: Any,
    full_url: str | None = None,
    headers: Any = None,
    use_raw_body: bool | None = None,
) -> None:
    # The body as sent: read before moto asks werkzeug for it, which parses a form-encoded
    # body into form fields and leaves the data empty (werkzeug parses a cached body
    # without consuming it).
    request.get_data(cache=True)
    setup = original(SageMakerRuntimeResponse, "setup_class")
    setup(self, request, full_url, headers, use_raw_body)
