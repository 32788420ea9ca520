"""The local AWS's patches of moto (``sagemeter_sandbox.motopatches``) against the moto installed.

Each patch finds what it expects (``drift``); each moto gap written up as an upstream candidate is
still there in moto's own code (if moto fixes one, its test fails: drop the patch); the patches
are applied exactly as declared; and nothing else in the sandbox writes to moto's classes.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from moto.apigateway.models import APIGatewayBackend, Authorizer
from moto.cloudwatch.models import CloudWatchBackend
from moto.events.models import EventPattern
from moto.sagemaker.models import FakeEndpointConfig, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

import sagemeter_sandbox
from sagemeter_sandbox import localaws, motopatches
from sagemeter_sandbox.motopatches import PATCHES, Patch, original

pytestmark = pytest.mark.localaws

# An account no other test uses: these tests call moto's backends directly, in this process.
ACCOUNT = "000000002222"
REGION = "eu-north-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sm"
IMAGE = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}


def test_moto_is_the_version_the_patches_were_written_for() -> None:
    import moto

    assert moto.__version__ == motopatches.MOTO_VERSION
    pinned = (Path(sagemeter_sandbox.__file__).parent / "pyproject.toml").read_text()
    assert f'"moto[server]=={motopatches.MOTO_VERSION}"' in pinned


@pytest.mark.parametrize("patch", PATCHES, ids=str)
def test_each_patch_finds_what_it_expects_in_moto(patch: Patch) -> None:
    assert motopatches.drift(patch) == [], f"{patch} ({patch.where}): moto changed under it"


def test_drift_is_seen() -> None:
    """The check itself: a patch that expected other parameters, or a property, is told."""
    moved = Patch(SageMakerModelBackend, "add_tags", motopatches.method("self", "arn"), "x", "y")
    assert motopatches.drift(moved) == [
        "SageMakerModelBackend.add_tags: takes ('self', 'arn', 'tags'), not ('self', 'arn')"
    ]
    gone = Patch(SageMakerModelBackend, "add_tags", motopatches.ABSENT, "x", "y")
    assert "moto has it now" in motopatches.drift(gone)[0]
    wrong = Patch(SageMakerModelBackend, "add_tags", motopatches.PROPERTY, "x", "y")
    assert "not a property" in motopatches.drift(wrong)[0]


def test_every_declared_patch_is_installed_and_nothing_else() -> None:
    localaws.install()  # idempotent: the session's local AWS installed it already
    for patch in PATCHES:
        value = inspect.getattr_static(patch.owner, patch.name)
        assert value is motopatches.installed(patch.owner, patch.name), patch
        assert value is not original(patch.owner, patch.name), patch
    with pytest.raises(KeyError):
        original(SageMakerModelBackend, "describe_endpoint")  # not patched, not captured


def test_upstream_candidates_are_numbered_and_written_up() -> None:
    doc = motopatches.__doc__ or ""
    written = {int(n) for n in re.findall(r"^(\d+)\. \*\*", doc, re.M)}
    used = {number for patch in PATCHES for number in patch.upstream}
    assert used == written


# Lines that replace an attribute of a class (``Class.attr = ...``, ``setattr(Class, ...)``).
_CLASS_WRITE = re.compile(r"^\s*[A-Z]\w*\.\w+\s*=[^=]|setattr\(\s*[A-Z]\w*\s*,|method-assign")


def test_no_other_module_of_the_sandbox_writes_to_moto() -> None:
    root = Path(sagemeter_sandbox.__file__).parent
    writers = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "motopatches.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _CLASS_WRITE.search(line)
    ]
    assert writers == [], "patch moto through motopatches.PATCHES only"


# -- the moto gaps: each is still in moto's own code --------------------------------------------


def _backend() -> SageMakerModelBackend:
    backend = sagemaker_backends[ACCOUNT][REGION]
    backend.reset()
    return backend


def _config(backend: SageMakerModelBackend, name: str) -> None:
    backend.create_model(name, ROLE, IMAGE, None, None, None)
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1}
    backend.create_endpoint_config(
        name, [{**variant, "InstanceType": "ml.m5.large"}], {}, {}, [], ""
    )


class _Request(SageMakerResponse):
    """A SageMaker request with these parameters, as moto's response methods read them."""

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.current_account, self.region, self._params = ACCOUNT, REGION, params

    def _get_param(self, param_name: str, if_none: Any = None) -> Any:
        return self._params.get(param_name, if_none)


def test_gap_1_list_models_answers_everything_in_one_page() -> None:
    backend = _backend()
    for name in ("alpha", "beta", "gamma"):
        backend.create_model(name, ROLE, IMAGE, None, None, None)
    listed = original(SageMakerResponse, "list_models")(
        _Request(NameContains="beta", MaxResults=1)
    ).result
    assert [m["ModelName"] for m in listed["Models"]] == ["alpha", "beta", "gamma"]
    assert "NextToken" not in listed


def test_gap_2_an_existing_name_is_overwritten() -> None:
    backend = _backend()
    _config(backend, "same")
    first = backend.describe_model("same")
    _config(backend, "same")  # neither the model nor the config is refused
    assert backend.describe_model("same") is not first
    create = original(SageMakerModelBackend, "create_endpoint")
    create(backend, "same", "same", [])
    create(backend, "same", "same", [{"Key": "k", "Value": "v"}])
    assert backend.endpoints["same"].tags == [{"Key": "k", "Value": "v"}]


def test_gap_3_add_tags_appends_a_key_twice() -> None:
    backend = _backend()
    model = backend.create_model("tagged", ROLE, IMAGE, None, None, None)
    add = original(SageMakerModelBackend, "add_tags")
    add(backend, model.arn, [{"Key": "k", "Value": "1"}])
    add(backend, model.arn, [{"Key": "k", "Value": "2"}])
    assert [t["Key"] for t in model.tags] == ["k", "k"]


def test_gap_4_an_unknown_arn_is_none_not_an_error() -> None:
    backend = _backend()
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/nobody"
    assert original(SageMakerModelBackend, "_get_resource_from_arn")(backend, arn) is None


def test_gap_5_create_model_forgets_network_isolation() -> None:
    backend = _backend()
    request = _Request(
        ModelName="isolated",
        ExecutionRoleArn=ROLE,
        PrimaryContainer=IMAGE,
        EnableNetworkIsolation=True,
    )
    original(SageMakerResponse, "create_model")(request)
    assert backend.describe_model("isolated").enable_network_isolation is False


def test_gap_6_current_instance_types_are_refused() -> None:
    validate = original(FakeEndpointConfig, "validate_instance_type")
    for instance_type in ("ml.g5.xlarge", "ml.g6.xlarge", "ml.inf2.xlarge"):
        assert instance_type in motopatches.INSTANCE_TYPES  # SageMaker's own enum has it
        with pytest.raises(Exception, match="Value"):
            validate(None, instance_type)


def test_gap_7_the_authorizer_loses_its_identity_validation_expression() -> None:
    assert "identiy_validation_expression=" in inspect.getsource(
        APIGatewayBackend.create_authorizer
    )
    authorizer = Authorizer.__new__(Authorizer)
    init = original(Authorizer, "__init__")
    init(authorizer, "a1", "auth", "TOKEN", identiy_validation_expression="^Bearer .+$")
    assert "identityValidationExpression" not in authorizer.to_json()


def test_gap_8_endpoints_have_no_transitions_and_no_update() -> None:
    backend = _backend()
    _config(backend, "quick")
    endpoint = original(SageMakerModelBackend, "create_endpoint")(backend, "quick", "quick", [])
    assert endpoint.endpoint_status == "InService"  # no Creating
    original(SageMakerModelBackend, "delete_endpoint")(backend, "quick")
    assert "quick" not in backend.endpoints  # no Deleting
    assert original(SageMakerResponse, "update_endpoint") is None


def _put_alarm(cloudwatch: CloudWatchBackend, name: str, **changes: Any) -> Any:
    """moto's own PutMetricAlarm: an idle alarm on Invocations, with ``changes``."""
    alarm = {
        "namespace": "AWS/SageMaker",
        "metric_name": "Invocations",
        "comparison_operator": "LessThanThreshold",
        "evaluation_periods": 15,
        "period": 60,
        "threshold": 1.0,
        "statistic": "Sum",
        "description": None,
        "dimensions": [],
        "alarm_actions": [],
    }
    put = original(CloudWatchBackend, "put_metric_alarm")
    return put(cloudwatch, name=name, **{**alarm, **changes})


def test_gap_9_a_new_alarm_starts_ok() -> None:
    alarm = _put_alarm(CloudWatchBackend(REGION, ACCOUNT), "idle")
    assert alarm.state_value == "OK"  # AWS: INSUFFICIENT_DATA


def test_gap_10_patterns_do_not_look_inside_arrays_of_objects() -> None:
    # One level only: moto's own recursion would call the patched method.
    flat = original(EventPattern, "_flatten_dict").__func__({"metrics": [{"id": "m1"}]})
    assert flat == {"metrics": [{"id": "m1"}]}  # EventBridge: "metrics.id" is ["m1"]


def test_gap_11_invoke_endpoint_async_answers_200() -> None:
    source = inspect.getsource(original(SageMakerRuntimeResponse, "invoke_endpoint_async"))
    assert re.search(r"return 200, ", source)


def test_gap_12_any_metrics_array_is_stored() -> None:
    cloudwatch = CloudWatchBackend(REGION, ACCOUNT)
    returning = {"Id": "a", "Expression": "SUM([m1])", "ReturnData": True}
    single = {"namespace": None, "metric_name": None, "period": None, "statistic": None}
    queries = [returning, {**returning, "Id": "b"}]  # CloudWatch: exactly one returns data
    _put_alarm(cloudwatch, "two-results", metric_data_queries=queries, **single)
    assert "two-results" in cloudwatch.alarms


def test_gap_13_a_form_encoded_request_to_a_rest_json_service_has_no_protocol() -> None:
    from botocore.session import get_session
    from moto.core.request import determine_request_protocol

    runtime = get_session().get_service_model("sagemaker-runtime")
    assert runtime.metadata.get("protocols", [runtime.protocol]) == ["rest-json"]
    with pytest.raises(NotImplementedError):
        determine_request_protocol(runtime, "application/x-www-form-urlencoded")


def test_gap_13_and_its_body_is_lost() -> None:
    from moto.core.request import Request

    def body_seen(setup_class: Any) -> Any:
        request = Request.from_primitives(
            "POST",
            "https://runtime.sagemaker.eu-north-1.amazonaws.com/endpoints/e/invocations",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b'{"inputs": "Hi"}',
        )
        response = SageMakerRuntimeResponse()
        setup_class(response, request)
        return response.body

    assert body_seen(original(SageMakerRuntimeResponse, "setup_class")) == ""  # SageMaker: sent
    replacement = motopatches.installed(SageMakerRuntimeResponse, "setup_class")
    assert replacement is not None
    assert body_seen(replacement) == '{"inputs": "Hi"}'
