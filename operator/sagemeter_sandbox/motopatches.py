"""Every change the local AWS makes to moto's internals: declared, applied and checked here.

moto is pinned (``moto[server]==5.2.5`` in this distribution's ``pyproject.toml``) because the
local AWS replaces attributes of moto's classes, and this is the only module that does:

* ``PATCHES`` declares each replacement: the moto class and attribute, what moto 5.2.5 has there
  (``Expect``: a method with these parameters, a staticmethod, a property, or nothing where moto
  lacks the operation), what else of moto's the replacement relies on, what AWS does, and where
  the replacement lives.
* ``original(owner, name)`` is moto's own attribute, taken when this module is imported, before
  any patch: the replacements that extend moto call it.
* ``install(replacements)`` applies exactly the declared patches, once per process; a
  replacement nobody declared, or a declaration without a replacement, is an error.
* ``drift(patch)`` says how the installed moto differs from what a patch expects.
  ``tests/aws/test_motopatches.py`` runs it for every patch and checks that each moto gap below
  is still there, so a moto upgrade that moves something under a patch fails a test that names
  the patch, instead of changing the local AWS silently.

The plain fixes of moto gaps are written out here (``_fixes``). The local AWS's own behaviour
built on moto (endpoint lifecycle, EventBridge events, alarm evaluation, the runtime, the
JumpStart hub, the API Gateway data plane) lives with its feature, which hands its
replacements to ``install`` through ``localaws.install``.

Upstream candidates: moto 5.2.5 answers differently from AWS, and the fix is small and general
(the patch is the fix, and the gap test in ``tests/aws/test_motopatches.py`` shows the gap):

1. **ListModels ignores NameContains, SortBy, SortOrder, MaxResults and NextToken**
   (``SageMakerResponse.list_models`` answers every model of the region in one page; the
   backend's ``list_models`` takes no filter). SageMaker filters, sorts (CreationTime
   Descending by default) and pages (MaxResults 1..100, default 10), per botocore's
   ``ListModelsInput``.
2. **Creating a model, endpoint config or endpoint under a name that exists overwrites it**
   (``SageMakerModelBackend.create_model``, ``create_endpoint_config``, ``create_endpoint``
   store by name). SageMaker refuses: ``ValidationException`` "Cannot create already existing
   model|endpoint configuration|endpoint "<arn>"." (the message ACK's sagemaker-controller and
   the SageMaker Python SDK's users meet).
3. **AddTags appends**, so a key added twice is listed twice
   (``SageMakerModelBackend.add_tags`` extends the list). SageMaker's AddTags "overwrites" an
   existing key's value (API reference, AddTags).
4. **A tag call on an unknown ARN is an HTTP 500**: ``_get_resource_from_arn`` returns None and
   the caller fails on it. SageMaker answers ``ValidationException``.
5. **CreateModel forgets EnableNetworkIsolation** (the backend's ``create_model`` has no such
   parameter), so DescribeModel never shows it.
6. **Production variant instance types are an old hand-kept list**
   (``FakeEndpointConfig.validate_instance_type`` stops at ml.g4dn and ml.p3): current types
   such as ml.g5 and ml.g6 are refused. SageMaker accepts its enum
   ``ProductionVariantInstanceType`` (botocore's service model), and says so in AWS's enum
   wording when it refuses.
7. **CreateAuthorizer loses identityValidationExpression**: the API Gateway backend passes it
   to ``Authorizer`` as ``identiy_validation_expression`` (sic), which ``Authorizer`` never
   reads.
8. **UpdateEndpoint is missing** (``SageMakerResponse`` has no ``update_endpoint``), and
   endpoints have no transitional statuses: CreateEndpoint is ``InService`` at once,
   DeleteEndpoint removes at once, UpdateEndpointWeightsAndCapacities applies at once. moto's
   state manager (``moto.moto_api.state_manager``) already models such transitions for other
   services and could carry SageMaker's.
9. **A new CloudWatch alarm starts OK, and PutMetricAlarm on an existing alarm resets it to
   OK**; AWS starts a new alarm in INSUFFICIENT_DATA and leaves an updated alarm's state alone
   (PutMetricAlarm API reference).
10. **EventBridge**: rules that are DISABLED, or have no event pattern, still receive events;
    a pattern field does not match inside an array of objects (EventBridge "crushes out"
    arrays, aws/event-ruler README "JSON Array Matching"); SQS targets get an event without
    ``account``.
11. **InvokeEndpointAsync answers 200**; SageMaker answers 202 (botocore's model).
12. **PutMetricAlarm accepts any Metrics array**: CloudWatch refuses one where not exactly one
    entry returns data, one mixed with the single-metric parameters, or one reading more than
    10 metrics (PutMetricAlarm API reference; CloudWatch User Guide, alarm-limits.html).
13. **A form-encoded request to a rest-json-only service finds no route**: moto picks the
    request's protocol from its Content-Type (``determine_request_protocol``: form-encoded
    means ``query``), SageMaker Runtime has no ``query`` router, and the request ends in a 404
    with an empty body (a bodyless InvokeEndpointAsync sent by ``curl --data ''``, or through
    API Gateway, which passes the Content-Type on). AWS routes a rest-json service by method
    and path (botocore's ``sagemaker-runtime`` model speaks ``rest-json`` only). And once
    routed, the body is lost: ``BaseResponse.setup_class`` takes werkzeug's ``request.data``,
    empty for a form-encoded request, where SageMaker hands the body to the model as sent.

Not for upstream: settling due transitions before each SageMaker call (``sagemaker_backend``),
the recorded JumpStart hub documents, the runtime's echo answer, EventBridge deliveries under
queue policies and the alarm/endpoint events the local AWS emits, and API Gateway deployment
snapshots served by the local data plane: those are the sandbox's, built on moto.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import botocore.session
from moto.apigateway.models import Authorizer, RestAPI
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.routing import ServiceOperationRouter
from moto.events.models import EventPattern, Rule
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpointConfig, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import arn_formatter
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

# The endpoint lifecycle's lock: a create must not race a transition landing.
from sagemeter_sandbox.endpoint_states import lock

__all__ = [
    "MOTO_VERSION",
    "PATCHES",
    "Expect",
    "Patch",
    "drift",
    "install",
    "installed",
    "original",
]

MOTO_VERSION = "5.2.5"

Replacement = tuple[type, str, Any]


@dataclass(frozen=True)
class Expect:
    """What moto has at an attribute: a method (or staticmethod) with these parameters, a
    property, or nothing at all."""

    kind: Literal["method", "staticmethod", "property", "absent"]
    params: tuple[str, ...] = ()


def method(*params: str) -> Expect:
    return Expect("method", params)


PROPERTY = Expect("property")
ABSENT = Expect("absent")


@dataclass(frozen=True)
class Patch:
    owner: type
    name: str
    moto: Expect  # what moto 5.2.5 has there
    where: str  # the module whose replacement is installed
    why: str  # what AWS does that moto does not
    relies_on: tuple[tuple[type, str, Expect], ...] = ()  # other moto attributes it calls
    upstream: tuple[int, ...] = ()  # the upstream candidates above, by number

    @property
    def key(self) -> tuple[type, str]:
        return self.owner, self.name

    def __str__(self) -> str:
        return f"{self.owner.__name__}.{self.name}"


_SAGEMAKER_BACKEND = (SageMakerResponse, "sagemaker_backend", PROPERTY)
# CloudWatchBackend.put_metric_alarm's parameters, in moto 5.2.5's order (the replacement
# passes them on as they come, and reads ``name``).
_PUT_METRIC_ALARM = method(
    *("self", "name", "namespace", "metric_name", "comparison_operator", "evaluation_periods"),
    *("period", "threshold", "statistic", "description", "dimensions", "alarm_actions"),
    *("metric_data_queries", "datapoints_to_alarm", "extended_statistic", "ok_actions"),
    *("insufficient_data_actions", "unit", "actions_enabled", "treat_missing_data"),
    *("evaluate_low_sample_count_percentile", "threshold_metric_id", "rule", "tags"),
)
# What moto's EventBridge routing calls on a rule's pattern.
_PATTERN = (
    (EventPattern, "load", Expect("method", ("cls", "raw_pattern"))),
    (EventPattern, "matches_event", method("self", "event")),
    (EventPattern, "get_pattern", method("self")),
)
_SELF = method("self")
_HERE = "motopatches"
_SM, _SMR, _CW = SageMakerModelBackend, SageMakerResponse, CloudWatchBackend
_LIFECYCLE = "localaws"  # with endpoint_states and variants
_BUS = "aws_events.bus"
_SOURCES = "aws_events.sources"

_CREATE_ENDPOINT = method("self", "endpoint_name", "endpoint_config_name", "tags")
_UPDATE_WEIGHTS = method("self", "endpoint_name", "desired_weights_and_capacities")
_SET_ALARM_STATE = method("self", "alarm_name", "reason", "reason_data", "state_value")
_SEND_TO_TARGETS = method("self", "original_event", "transform_input")
_FLATTEN = Expect("staticmethod", ("node", "prefix", "result"))
_CREATE_DEPLOYMENT = method("self", "name", "description", "stage_variables")
_AUTHORIZER = method("self", "authorizer_id", "name", "authorizer_type", "kwargs")
_LISTS = ((_SM, "list_models", _SELF), _SAGEMAKER_BACKEND)
_BACKEND = (_SAGEMAKER_BACKEND,)
_RUNTIME = SageMakerRuntimeResponse
_ROUTER = ServiceOperationRouter
_ROUTES = ((_ROUTER, "_get_router", method("self", "protocol")),)
_PROTOCOL = method("self", "service_model")
_SETUP = method("self", "request", "full_url", "headers", "use_raw_body")
_CONFIG, _INSTANCE_TYPE = FakeEndpointConfig, method("self", "instance_type")
_ROUTING = "dataplane.routing"

# owner, attribute, what moto 5.2.5 has there, where the replacement lives, what AWS does,
# the other moto attributes the replacement calls, the upstream candidates above
_DECLARATIONS: tuple[tuple[Any, ...], ...] = (
    # SageMaker: moto's gaps, fixed here
    (_SMR, "list_models", _SELF, _HERE, "ListModels filters, sorts and pages", _LISTS, (1,)),
    (_SMR, "create_model", _SELF, _HERE, "a name that exists is refused", _BACKEND, (2, 5)),
    (_SMR, "create_endpoint_config", _SELF, _HERE, "a name that exists is refused", _BACKEND, (2,)),
    (_SMR, "create_endpoint", _SELF, _HERE, "a name that exists is refused", _BACKEND, (2,)),
    (_SM, "add_tags", method("self", "arn", "tags"), _HERE, "AddTags overwrites a key", (), (3,)),
    (_SM, "_get_resource_from_arn", method("self", "arn"), _HERE, "unknown ARN: 400", (), (4,)),
    (_CONFIG, "validate_instance_type", _INSTANCE_TYPE, _HERE, "botocore's enum", (), (6,)),
    # SageMaker: the endpoint lifecycle
    (_SM, "create_endpoint", _CREATE_ENDPOINT, _LIFECYCLE, "Creating, then InService", (), (8,)),
    (_SM, "delete_endpoint", method("self", "endpoint_name"), _LIFECYCLE, "Deleting", (), (8,)),
    (_SM, "update_endpoint_weights_and_capacities", _UPDATE_WEIGHTS, _LIFECYCLE, "Updating"),
    (_SMR, "update_endpoint", ABSENT, _LIFECYCLE, "UpdateEndpoint", (), (8,)),
    (_SMR, "sagemaker_backend", PROPERTY, _LIFECYCLE, "due transitions land first"),
    # SageMaker: the JumpStart public hub and the runtime
    (_SMR, "describe_hub_content", ABSENT, "hub", "DescribeHubContent"),
    (_SMR, "list_hub_content_versions", ABSENT, "hub", "ListHubContentVersions"),
    (_RUNTIME, "invoke_endpoint", _SELF, "runtime", "only a serving endpoint answers"),
    (_RUNTIME, "invoke_endpoint_async", _SELF, "runtime", "answered with 202", (), (11,)),
    (_ROUTER, "match", method("self", "request"), "runtime", "any Content-Type", _ROUTES, (13,)),
    (_RUNTIME, "determine_response_protocol", _PROTOCOL, "runtime", "any Content-Type", (), (13,)),
    (_RUNTIME, "setup_class", _SETUP, "runtime", "the body as sent", (), (13,)),
    # CloudWatch and EventBridge
    (_CW, "put_metric_alarm", _PUT_METRIC_ALARM, _SOURCES, "starts INSUFFICIENT_DATA", (), (9,)),
    (CloudWatchResponse, "put_metric_alarm", _SELF, "alarms", "Metrics checked", (), (12,)),
    (_CW, "set_alarm_state", _SET_ALARM_STATE, _SOURCES, "a changed state sends an event"),
    (Rule, "send_to_targets", _SEND_TO_TARGETS, _BUS, "as EventBridge delivers", _PATTERN, (10,)),
    (EventPattern, "_flatten_dict", _FLATTEN, _BUS, "matches in arrays of objects", (), (10,)),
    # API Gateway
    (RestAPI, "create_deployment", _CREATE_DEPLOYMENT, _ROUTING, "a snapshot of what it serves"),
    (Authorizer, "__init__", _AUTHORIZER, _HERE, "identityValidationExpression kept", (), (7,)),
)
PATCHES: tuple[Patch, ...] = tuple(Patch(*declared) for declared in _DECLARATIONS)

_DECLARED: Mapping[tuple[type, str], Patch] = {patch.key: patch for patch in PATCHES}
_ORIGINALS: Mapping[tuple[type, str], Any] = {
    (owner, name): inspect.getattr_static(owner, name, None)
    for owner, name in {
        *(patch.key for patch in PATCHES),
        *((owner, name) for patch in PATCHES for owner, name, _ in patch.relies_on),
    }
}
_lock = threading.Lock()
_installed: dict[tuple[type, str], Any] = {}


def original(owner: type, name: str) -> Any:
    """moto's own attribute as it was before any patch (None where moto has none)."""
    return _ORIGINALS[(owner, name)]


def _differs(found: Any, expect: Expect) -> str | None:
    if expect.kind == "absent":
        return None if found is None else "moto has it now: use moto's and drop the patch"
    if found is None:
        return "moto no longer has it"
    if expect.kind == "property":
        return None if isinstance(found, property) else f"a {type(found).__name__}, not a property"
    if expect.kind == "staticmethod":
        if not isinstance(found, staticmethod):
            return f"a {type(found).__name__}, not a staticmethod"
        found = found.__func__
    elif isinstance(found, classmethod):
        found = found.__func__
    elif not inspect.isfunction(found):
        return f"a {type(found).__name__}, not a method"
    params = tuple(inspect.signature(found).parameters)
    return None if params == expect.params else f"takes {params}, not {expect.params}"


def drift(patch: Patch) -> list[str]:
    """How the installed moto differs from what ``patch`` expects (empty: not at all)."""
    problems = []
    for owner, name, expect in [(patch.owner, patch.name, patch.moto), *patch.relies_on]:
        problem = _differs(original(owner, name), expect)
        if problem is not None:
            problems.append(f"{owner.__name__}.{name}: {problem}")
    return problems


def installed(owner: type, name: str) -> Any:
    """The replacement ``install`` put at ``owner.name`` (None before ``install``)."""
    return _installed.get((owner, name))


def install(replacements: Iterable[Replacement]) -> None:
    """Applies the fixes here and the features' ``replacements`` (once per process)."""
    with _lock:
        if _installed:
            return
        given: dict[tuple[type, str], Any] = {}
        for owner, name, value in [*_fixes(), *replacements]:
            if (owner, name) not in _DECLARED:
                raise ValueError(f"{owner.__name__}.{name} is patched but not declared in PATCHES")
            if (owner, name) in given:
                raise ValueError(f"{owner.__name__}.{name} is patched twice")
            given[(owner, name)] = value
        missing = [str(patch) for key, patch in _DECLARED.items() if key not in given]
        if missing:
            raise ValueError(f"declared but not given: {', '.join(missing)}")
        for (owner, name), value in given.items():
            setattr(owner, name, value)
        _installed.update(given)


# --------------------------------------------------------------------------- the fixes


# SageMaker's production variant instance types: the enum of botocore's service model (shape
# ProductionVariantInstanceType), which is AWS's own list.
INSTANCE_TYPES = frozenset(
    botocore.session.get_session()
    .get_service_model("sagemaker")
    .shape_for("ProductionVariantInstanceType")
    .enum
)


def _list_models(self: SageMakerResponse) -> ActionResult:
    contains = self._get_param("NameContains") or ""
    by_name = self._get_param("SortBy") == "Name"
    descending = (self._get_param("SortOrder") or "Descending") == "Descending"
    size = int(self._get_param("MaxResults") or 10)
    if not 1 <= size <= 100:
        raise ValidationError("MaxResults must be between 1 and 100.")
    token = self._get_param("NextToken") or "0"
    if not token.isdigit():
        raise ValidationError("Invalid pagination token.")
    models = sorted(
        (m for m in self.sagemaker_backend.list_models() if contains in m.model_name),
        key=lambda m: m.model_name if by_name else (m.creation_time, m.model_name),
        reverse=descending,
    )
    start = int(token)
    page: dict[str, Any] = {"Models": [m.response_object for m in models[start : start + size]]}
    if start + size < len(models):
        page["NextToken"] = str(start + size)
    return ActionResult(page)


def _refuse_existing(
    create: Callable[[SageMakerResponse], ActionResult],
    param: str,
    kind: str,
    noun: str,
    collection: Callable[[SageMakerModelBackend], Mapping[str, Any]],
    lock: Any,
) -> Callable[[SageMakerResponse], ActionResult]:
    def guarded(self: SageMakerResponse) -> ActionResult:
        backend, name = self.sagemaker_backend, self._get_param(param)
        with lock:
            if name in collection(backend):
                arn = arn_formatter(kind, name, backend.account_id, backend.region_name)
                raise ValidationError(f'Cannot create already existing {noun} "{arn}".')
            return create(self)

    return guarded


def _create_model(self: SageMakerResponse) -> ActionResult:
    result: ActionResult = original(SageMakerResponse, "create_model")(self)
    model = self.sagemaker_backend._models[self._get_param("ModelName")]
    model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation"))
    return result


def _resource_from_arn(self: SageMakerModelBackend, arn: str) -> Any:
    resource = original(SageMakerModelBackend, "_get_resource_from_arn")(self, arn)
    if resource is None:
        raise ValidationError(f'Could not find resource "{arn}".')
    return resource


def _add_tags(self: SageMakerModelBackend, arn: str, tags: list[dict[str, str]]) -> Any:
    resource = _resource_from_arn(self, arn)
    keys = {tag["Key"] for tag in tags}
    resource.tags = [t for t in resource.tags if t["Key"] not in keys] + list(tags)
    return resource.tags


def _validate_instance_type(self: FakeEndpointConfig, instance_type: str) -> None:
    # AWS's wording for a member outside its enum.
    if instance_type not in INSTANCE_TYPES:
        raise ValidationError(
            f"1 validation error detected: Value '{instance_type}' at"
            " 'productionVariants.1.member.instanceType' failed to satisfy constraint: Member"
            f" must satisfy enum value set: [{', '.join(sorted(INSTANCE_TYPES))}]"
        )


_MISSPELLED = "identiy_validation_expression"


def _authorizer_init(
    self: Authorizer,
    authorizer_id: str | None,
    name: str | None,
    authorizer_type: str | None,
    **kwargs: Any,
) -> None:
    if _MISSPELLED in kwargs:
        kwargs.setdefault("identity_validation_expression", kwargs.pop(_MISSPELLED))
    original(Authorizer, "__init__")(self, authorizer_id, name, authorizer_type, **kwargs)


def _fixes() -> list[Replacement]:
    def existing(
        name: str, param: str, kind: str, noun: str, of: Callable[[SageMakerModelBackend], Any]
    ) -> Replacement:
        create = _create_model if name == "create_model" else original(SageMakerResponse, name)
        return (SageMakerResponse, name, _refuse_existing(create, param, kind, noun, of, lock))

    return [
        (SageMakerResponse, "list_models", _list_models),
        existing("create_model", "ModelName", "model", "model", lambda b: b._models),
        existing(
            "create_endpoint_config",
            "EndpointConfigName",
            "endpoint-config",
            "endpoint configuration",
            lambda b: b.endpoint_configs,
        ),
        existing("create_endpoint", "EndpointName", "endpoint", "endpoint", lambda b: b.endpoints),
        (SageMakerModelBackend, "add_tags", _add_tags),
        (SageMakerModelBackend, "_get_resource_from_arn", _resource_from_arn),
        (FakeEndpointConfig, "validate_instance_type", _validate_instance_type),
        (Authorizer, "__init__", _authorizer_init),
    ]
