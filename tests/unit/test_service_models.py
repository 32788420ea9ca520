"""The service models the operator ships (``aws/models``, hack/service_models.py) are up to date,
hold every operation the package calls, and resolve every endpoint as botocore's own data does.

The endpoint check sends nothing: a ``before-send`` hook records the URL botocore built and
answers with an empty response, for each service in regions of every partition, plain, FIPS
and dual-stack, once through the operator's Loader and once through botocore's defaults.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

from sagemeter.aws import clients
from tests.unit.test_iam_policy import collect_calls

ROOT = Path(__file__).resolve().parents[2]
REGIONS = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-2",
    "ca-central-1",
    "sa-east-1",
    "cn-north-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "eusc-de-east-1",
]
VARIANTS = {
    "plain": {},
    "fips": {"use_fips_endpoint": True},
    "dualstack": {"use_dualstack_endpoint": True},
}


def _hack() -> Any:
    spec = importlib.util.spec_from_file_location("service_models", ROOT / "hack/service_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["service_models"] = module
    spec.loader.exec_module(module)
    return module


HACK = _hack()


def test_the_shipped_models_are_up_to_date() -> None:
    assert HACK.stale(HACK.build()) == [], "run: python hack/service_models.py"


def test_every_operation_the_package_calls_is_in_its_shipped_model() -> None:
    loader = clients.loader()
    calls, _ = collect_calls()
    assert calls
    missing = []
    for call in calls:
        model = loader.load_service_model(call.service, "service-2")
        if call.operation not in model["operations"]:
            missing.append(f"{call.service}:{call.operation} ({call.where})")
    assert missing == []


def test_a_cut_model_is_read_from_the_package_and_is_much_smaller() -> None:
    loader = clients.loader()
    cut, path = loader.load_data_with_path("sagemaker/2017-07-24/service-2")
    assert path.startswith(str(clients.MODELS))
    whole = botocore.session.get_session().get_component("data_loader")
    full = whole.load_service_model("sagemaker", "service-2")
    assert "DescribeEndpoint" in cut["operations"]
    assert "CreateTrainingJob" in full["operations"]
    assert "CreateTrainingJob" not in cut["operations"]
    assert len(cut["shapes"]) * 10 < len(full["shapes"])
    _, where = loader.load_data_with_path("endpoints")
    assert where.startswith(str(clients.MODELS))
    assert loader.is_builtin_path(where)


_DUMMY = {"string": "x", "integer": 1, "long": 1, "boolean": True, "timestamp": 0, "list": []}


def _first_call(model: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model's first operation and its required parameters, each a dummy of its type (a
    path parameter needs a value for the URL to be built)."""
    name, operation = min(model["operations"].items())
    shape = model["shapes"].get(operation.get("input", {}).get("shape", ""), {})
    params = {
        member: _DUMMY.get(model["shapes"][shape["members"][member]["shape"]]["type"], {})
        for member in shape.get("required", [])
    }
    return str(name), params


def _url(
    session: Any, service: str, region: str, variant: dict[str, bool], call: tuple[str, Any]
) -> str:
    config = botocore.config.Config(
        retries={"max_attempts": 0}, parameter_validation=False, **variant
    )
    made = session.create_client(
        service,
        region_name=region,
        config=config,
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    seen: list[str] = []

    def record(request: Any, **_: Any) -> AWSResponse:
        seen.append(request.url.split("?")[0])
        return AWSResponse(request.url, 200, {}, None)

    made.meta.events.register("before-send", record)
    operation, params = call
    try:
        getattr(made, botocore.xform_name(operation))(**params)
    except Exception as exc:  # an unresolvable endpoint is an answer too
        if not seen:
            return f"error: {type(exc).__name__}"
    return seen[0]


@pytest.fixture(scope="module")
def sessions(monkeypatch_module: pytest.MonkeyPatch) -> tuple[Any, Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_USE_FIPS_ENDPOINT"):
        monkeypatch_module.delenv(name, raising=False)
    ours = botocore.session.Session()
    ours.register_component("data_loader", clients.loader())
    return ours, botocore.session.Session()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize("service", sorted(HACK.scan()[0]))
def test_the_shipped_endpoints_resolve_as_botocores_own(
    sessions: tuple[Any, Any], service: str
) -> None:
    ours, theirs = sessions
    call = _first_call(clients.loader().load_service_model(service, "service-2"))
    differ = []
    for region in REGIONS:
        for variant_name, variant in VARIANTS.items():
            got = _url(ours, service, region, variant, call)
            want = _url(theirs, service, region, variant, call)
            if got != want:
                differ.append(f"{region} {variant_name}: {got} != {want}")
    assert differ == []
