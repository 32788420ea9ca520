"""JumpStart resolution from recorded ``DescribeHubContent`` responses.

moto has no hub API, so the SageMaker client is stubbed with botocore's ``Stubber``, which also
checks requests and responses against the real API model. The fixtures in
``tests/fixtures/jumpstart/`` have the shape the API returns (``HubContentDocument`` is a JSON
string) with document fields as the SageMaker Python SDK's hub parser reads them; see
``sagemeter.aws.jumpstart``. The last tests serve the same data from the sandbox's hub
(``sagemeter_sandbox.hub``) through the local moto server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sagemeter.aws.calls import CallCounter
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.jumpstart import PUBLIC_HUB, ResolvedModel, resolve_document, resolve_jumpstart
from sagemeter_sandbox import hub

from .conftest import REGION, LocalAws

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jumpstart"
FALCON = "huggingface-llm-falcon-7b-instruct-bf16"
LLAMA = "meta-textgeneration-llama-3-8b-instruct"
ECR = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
TGI = f"{ECR}/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.2-gpu-py310-cu121-ubuntu22.04"
LMI = f"{ECR}/djl-inference:0.28.0-lmi10.0.0-cu124"


def recorded(model_id: str, **changes: Any) -> dict[str, Any]:
    response: dict[str, Any] = json.loads((FIXTURES / f"{model_id}.json").read_text())
    return {**response, **changes}


def hub_params(model_id: str, version: str | None = None) -> dict[str, str]:
    params = {"HubName": PUBLIC_HUB, "HubContentType": "Model", "HubContentName": model_id}
    return {**params, "HubContentVersion": version} if version else params


@pytest.fixture
def sagemaker() -> Any:
    return boto3.client(
        "sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture
def stub(sagemaker: Any) -> Iterator[Stubber]:
    with Stubber(sagemaker) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def resolve(client: Any, model_id: str, version: str, instance: str | None) -> ResolvedModel:
    return resolve_jumpstart(client, model_id, version, REGION, instance)


# ------------------------------------------------------------------ recorded documents


def test_falcon_on_g5_resolves_image_artifact_and_env(sagemaker: Any, stub: Stubber) -> None:
    stub.add_response("describe_hub_content", recorded(FALCON), hub_params(FALCON))
    model = resolve(sagemaker, FALCON, "*", "ml.g5.2xlarge")
    assert model.image == TGI  # the g5 variant's "$gpu_ecr_uri_1", through the aliases
    assert model.model_data_url is None
    assert model.model_data_source == {
        "S3DataSource": {
            "S3Uri": "s3://jumpstart-cache-prod-us-east-1/huggingface-llm/"
            f"{FALCON}/artifacts/inference/v1.0.0/",
            "S3DataType": "S3Prefix",
            "CompressionType": "None",
        }
    }
    assert model.environment == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600",
        "ENDPOINT_SERVER_TIMEOUT": "3600",
        "MODEL_CACHE_ROOT": "/opt/ml/model",
        "SAGEMAKER_ENV": "1",
        "HF_MODEL_ID": "/opt/ml/model",
        "MAX_INPUT_LENGTH": "2048",
        "MAX_TOTAL_TOKENS": "4096",
        "SM_NUM_GPUS": "1",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
    }
    assert (model.version, model.enable_network_isolation, model.eula_uri) == ("2.1.0", True, None)


def test_instance_type_variant_overrides_the_family(sagemaker: Any, stub: Stubber) -> None:
    stub.add_response("describe_hub_content", recorded(FALCON), hub_params(FALCON))
    model = resolve(sagemaker, FALCON, "*", "ml.g5.12xlarge")
    assert model.image == TGI
    assert model.environment["SM_NUM_GPUS"] == "4"


def test_no_instance_type_uses_the_documents_default(sagemaker: Any, stub: Stubber) -> None:
    stub.add_response("describe_hub_content", recorded(FALCON), hub_params(FALCON))
    assert resolve(sagemaker, FALCON, "*", None).environment["SM_NUM_GPUS"] == "1"


def test_version_pinning_passes_hub_content_version(sagemaker: Any, stub: Stubber) -> None:
    stub.add_response("describe_hub_content", recorded(LLAMA), hub_params(LLAMA, "2.3.0"))
    model = resolve(sagemaker, LLAMA, "2.3.0", "ml.g5.2xlarge")
    assert model.version == "2.3.0"
    # The top-ranked inference config ("lmi") supports g5.
    assert model.image == LMI
    assert model.environment["OPTION_ENABLE_CHUNKED_PREFILL"] == "true"
    assert model.environment["SM_NUM_GPUS"] == "1"
    assert model.model_data_source is not None
    assert model.model_data_source["S3DataSource"]["S3Uri"].startswith(
        f"s3://jumpstart-private-cache-prod-us-east-1/meta-textgeneration/{LLAMA}/"
    )
    assert model.eula_uri == "s3://jumpstart-cache-prod-us-east-1/fmhMetadata/eula/llama3Eula.txt"


def test_instance_type_picks_the_config_that_supports_it(sagemaker: Any, stub: Stubber) -> None:
    for _ in range(2):
        stub.add_response("describe_hub_content", recorded(LLAMA), hub_params(LLAMA))
    neuron = resolve(sagemaker, LLAMA, "*", "ml.inf2.48xlarge")
    assert neuron.image == f"{ECR}/djl-inference:0.28.0-neuronx-sdk2.18.2"
    assert neuron.model_data_source is not None
    assert neuron.model_data_source["S3DataSource"]["S3Uri"].endswith(
        "/artifacts/inference-prepack-neuron/v1.0.0/"
    )
    assert neuron.environment["OPTION_TENSOR_PARALLEL_DEGREE"] == "24"
    assert "SM_NUM_GPUS" not in neuron.environment  # the neuron config has its own list
    gpu = resolve(sagemaker, LLAMA, "*", "ml.g5.48xlarge")
    assert gpu.image == LMI and gpu.environment["SM_NUM_GPUS"] == "8"


def test_unknown_model_is_not_found(sagemaker: Any, stub: Stubber) -> None:
    stub.add_client_error(
        "describe_hub_content",
        service_error_code="ResourceNotFound",
        service_message="Hub content with name nope does not exist.",
        http_status_code=400,
        expected_params=hub_params("nope"),
    )
    with pytest.raises(AwsError) as missing:
        resolve(sagemaker, "nope", "*", "ml.g5.2xlarge")
    assert (missing.value.kind, missing.value.operation) == (
        ErrorKind.NOT_FOUND,
        "DescribeHubContent",
    )


@pytest.mark.parametrize(("version", "pinned"), [("2", "2.0.0"), ("2.1", "2.1.0")])
def test_partial_versions_are_padded(
    sagemaker: Any, stub: Stubber, version: str, pinned: str
) -> None:
    stub.add_response(
        "describe_hub_content",
        recorded(FALCON, HubContentVersion=pinned),
        hub_params(FALCON, pinned),
    )
    assert resolve(sagemaker, FALCON, version, None).version == pinned


def test_wildcard_version_takes_the_highest_match(sagemaker: Any, stub: Stubber) -> None:
    def page(*versions: str, token: str | None = None) -> dict[str, Any]:
        summaries = [
            {
                "HubContentName": FALCON,
                "HubContentVersion": v,
                "HubContentType": "Model",
                "HubContentArn": f"arn:aws:sagemaker:{REGION}:aws:hub-content/{PUBLIC_HUB}/Model/"
                f"{FALCON}/{v}",
                "DocumentSchemaVersion": "2.3.0",
                "HubContentStatus": "Available",
                "CreationTime": "2024-05-16T21:06:46Z",
            }
            for v in versions
        ]
        return {"HubContentSummaries": summaries, **({"NextToken": token} if token else {})}

    listing = {**hub_params(FALCON), "MaxResults": 100}
    stub.add_response(
        "list_hub_content_versions", page("1.9.0", "2.0.0", "2.9.1", token="t"), listing
    )
    stub.add_response(
        "list_hub_content_versions",
        page("2.10.0", "3.0.0", "20.0.0"),
        {**listing, "NextToken": "t"},
    )
    stub.add_response(
        "describe_hub_content",
        recorded(FALCON, HubContentVersion="2.10.0"),
        hub_params(FALCON, "2.10.0"),
    )
    assert resolve(sagemaker, FALCON, "2.*", "ml.g5.2xlarge").version == "2.10.0"


def test_wildcard_without_a_match_is_not_found(sagemaker: Any, stub: Stubber) -> None:
    stub.add_response(
        "list_hub_content_versions",
        {"HubContentSummaries": []},
        {**hub_params(FALCON), "MaxResults": 100},
    )
    with pytest.raises(AwsError) as missing:
        resolve(sagemaker, FALCON, "9.*", "ml.g5.2xlarge")
    assert missing.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.parametrize("version", ["latest", "2.x", ">=2.0.0", "2.*.1", "2.*.*", "2.1.0.1"])
def test_malformed_versions_are_terminal_without_a_call(
    sagemaker: Any, stub: Stubber, version: str
) -> None:
    with pytest.raises(AwsError) as bad:
        resolve(sagemaker, FALCON, version, "ml.g5.2xlarge")
    assert (bad.value.kind, bad.value.code) == (ErrorKind.TERMINAL, "InvalidVersion")


def test_stubbed_calls_are_counted(sagemaker: Any) -> None:
    counter = CallCounter()
    counter.attach(sagemaker)  # before the Stubber, which answers in before-call
    with Stubber(sagemaker) as stubber:
        stubber.add_response("describe_hub_content", recorded(FALCON), hub_params(FALCON))
        resolve(sagemaker, FALCON, "*", "ml.g5.2xlarge")
    assert counter.snapshot() == {"sagemaker:DescribeHubContent": 1}
    assert counter.attempts_snapshot() == {}  # nothing went over the wire


# ------------------------------------------------------------------ document rules (pure)


def doc(**fields: Any) -> dict[str, Any]:
    return {"HostingEcrUri": "img:default", **fields}


def test_family_image_wins_over_the_default_image() -> None:
    variants = {
        "Aliases": {"inf": "img:neuron"},
        "Variants": {"inf2": {"Properties": {"ImageUri": "$inf"}}},
    }
    assert (
        resolve_document(doc(HostingInstanceTypeVariants=variants), "1.0.0", "ml.inf2.xlarge").image
        == "img:neuron"
    )
    assert (
        resolve_document(doc(HostingInstanceTypeVariants=variants), "1.0.0", "ml.g5.xlarge").image
        == "img:default"
    )


def test_snake_case_variants_parse_too() -> None:
    variants = {
        "aliases": {"a": "img:a"},
        "variants": {
            "g5": {"properties": {"image_uri": "$a", "environment_variables": {"SM_NUM_GPUS": "1"}}}
        },
    }
    model = resolve_document(doc(HostingInstanceTypeVariants=variants), "1.0.0", "ml.g5.xlarge")
    assert (model.image, model.environment) == ("img:a", {"SM_NUM_GPUS": "1"})


def test_artifact_forms() -> None:
    tarball = resolve_document(doc(HostingArtifactUri="s3://b/model.tar.gz"), "1.0.0", None)
    assert (tarball.model_data_url, tarball.model_data_source) == ("s3://b/model.tar.gz", None)
    prefix = resolve_document(doc(HostingArtifactUri="s3://b/p/"), "1.0.0", None)
    assert prefix.model_data_source == {
        "S3DataSource": {"S3Uri": "s3://b/p/", "S3DataType": "S3Prefix", "CompressionType": "None"}
    }
    none = resolve_document(doc(), "1.0.0", None)
    assert (none.model_data_url, none.model_data_source) == (None, None)


def test_script_mode_models_need_a_prepacked_artifact() -> None:
    script_mode = doc(
        HostingUseScriptUri=True,
        HostingArtifactUri="s3://b/raw.tar.gz",
        HostingScriptUri="s3://b/sourcedir.tar.gz",
    )
    with pytest.raises(AwsError) as unusable:
        resolve_document(script_mode, "1.0.0", None)
    assert unusable.value.kind is ErrorKind.TERMINAL
    prepacked = resolve_document(
        {**script_mode, "HostingPrepackedArtifactUri": "s3://b/pp.tar.gz"}, "1.0.0", None
    )
    assert prepacked.model_data_url == "s3://b/pp.tar.gz"


def test_model_package_documents_are_refused() -> None:
    with pytest.raises(AwsError, match="modelPackageArn"):
        resolve_document(
            {"HostingModelPackageArn": "arn:aws:sagemaker:...:model-package/x"},
            "1.0.0",
            "ml.g5.xlarge",
        )


# ------------------------------------------------------------------ the sandbox's hub


def test_sandbox_hub_serves_the_fixtures() -> None:
    packaged = {p.name: p.read_text() for p in hub.HUB_DIR.glob("*.json")}
    assert packaged == {p.name: p.read_text() for p in FIXTURES.glob("*.json")}


@pytest.fixture
def hub_on_moto(aws_env: LocalAws) -> str:
    """The local AWS, which serves the hub operations (``localaws`` installs them)."""
    return aws_env.url


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_sandbox_hub_over_moto(hub_on_moto: str, region: str) -> None:
    client = boto3.client("sagemaker", region_name=region, endpoint_url=hub_on_moto)
    model = resolve_jumpstart(client, FALCON, "*", region, "ml.g5.12xlarge")
    assert model.image == TGI.replace("us-east-1", region)
    assert model.environment["SM_NUM_GPUS"] == "4"
    assert resolve_jumpstart(client, LLAMA, "2.*", region, None).version == "2.3.0"
    for model_id, version in (("nope", "*"), (FALCON, "9.9.9"), (FALCON, "9.*")):
        with pytest.raises(AwsError) as missing:
            resolve_jumpstart(client, model_id, version, region, None)
        assert missing.value.kind is ErrorKind.NOT_FOUND
