"""Create, update, fail, delete: the operator as a process against a real apiserver and
the local AWS. Assertions read both the Kubernetes status and SageMaker through boto3."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from sagemeter.core.endpoint import naming
from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.control import FaultClient

from .conftest import (
    FAILING_IMAGE,
    IMAGE,
    Kubectl,
    Operator,
    endpoint_object,
    foreign_config,
    foreign_endpoint,
    wait_for,
)

pytestmark = pytest.mark.cluster


def endpoint_name(namespace: str, name: str) -> str:
    return naming.default_endpoint_name(namespace, name)


def describe(sagemaker: Any, name: str) -> dict[str, Any] | None:
    try:
        return dict(sagemaker.describe_endpoint(EndpointName=name))
    except sagemaker.exceptions.ClientError:
        return None


def tags_of(sagemaker: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def owned_names(sagemaker: Any, endpoint: str) -> tuple[list[str], list[str]]:
    prefix = naming.resource_prefix(endpoint)
    models = [
        m["ModelName"]
        for m in sagemaker.list_models(NameContains=prefix, MaxResults=100)["Models"]
        if m["ModelName"].startswith(f"{prefix}-m-")
    ]
    configs = [
        c["EndpointConfigName"]
        for c in sagemaker.list_endpoint_configs(NameContains=prefix, MaxResults=100)[
            "EndpointConfigs"
        ]
        if c["EndpointConfigName"].startswith(f"{prefix}-c-")
    ]
    return sorted(models), sorted(configs)


def test_container_endpoint_is_created_owned_and_reported(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("basic", tags={"team": "a"}))
    status = kube.wait_phase("basic", "InService")
    name = endpoint_name(namespace, "basic")

    assert status["endpointName"] == name
    assert status["sagemakerStatus"] == "InService"
    assert status["observedGeneration"] == 1
    ready = kube.condition("basic", "Ready")
    assert ready["status"] == "True" and ready["reason"] == "InService"
    assert kube.condition("basic", "Degraded")["status"] == "False"

    endpoint = describe(sagemaker, name)
    assert endpoint is not None and endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == status["endpointConfigName"]
    assert status["endpointArn"] == endpoint["EndpointArn"]
    obj = kube.get("basic")
    assert obj is not None
    tags = tags_of(sagemaker, endpoint["EndpointArn"])
    assert tags["sagemeter.io/managed-by"] == "sagemeter"
    assert tags["sagemeter.io/namespace"] == namespace
    assert tags["sagemeter.io/name"] == "basic"
    assert tags["sagemeter.io/uid"] == obj["metadata"]["uid"]
    assert tags["team"] == "a"

    config = sagemaker.describe_endpoint_config(EndpointConfigName=status["endpointConfigName"])
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.m5.large"
    assert variant["ModelName"] == status["modelName"]
    model = sagemaker.describe_model(ModelName=status["modelName"])
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["ExecutionRoleArn"].endswith("role/sagemeter-test")

    reasons = [e["reason"] for e in kube.events("basic")]
    assert "Creating" in reasons


def test_async_serverless_and_model_package(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(
        endpoint_object(
            "async",
            inferenceType="Async",
            **{
                "async": {
                    "outputS3Uri": "s3://out-bucket/out",
                    "failureS3Uri": "s3://out-bucket/err",
                    "maxConcurrentInvocationsPerInstance": 4,
                }
            },
        )
    )
    kube.apply(
        endpoint_object(
            "serverless",
            instanceType=None,
            inferenceType="Serverless",
            serverless={"memorySizeMB": 4096, "maxConcurrency": 7},
        )
    )
    package = "arn:aws:sagemaker:us-east-1:865070037744:model-package/llama-guard-v1"
    kube.apply(endpoint_object("package", model={"modelPackageArn": package}))
    for name in ("async", "serverless", "package"):
        kube.wait_phase(name, "InService")

    async_config = sagemaker.describe_endpoint_config(
        EndpointConfigName=kube.status("async")["endpointConfigName"]
    )
    output = async_config["AsyncInferenceConfig"]["OutputConfig"]
    assert output["S3OutputPath"] == "s3://out-bucket/out"
    assert output["S3FailurePath"] == "s3://out-bucket/err"
    client_config = async_config["AsyncInferenceConfig"]["ClientConfig"]
    assert client_config["MaxConcurrentInvocationsPerInstance"] == 4

    serverless_config = sagemaker.describe_endpoint_config(
        EndpointConfigName=kube.status("serverless")["endpointConfigName"]
    )
    variant = serverless_config["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 7}
    assert "InstanceType" not in variant

    model = sagemaker.describe_model(ModelName=kube.status("package")["modelName"])
    containers = model.get("Containers") or [model["PrimaryContainer"]]
    assert containers[0]["ModelPackageName"] == package
    assert model["EnableNetworkIsolation"] is True


def test_existing_endpoint_config_is_used_and_kept(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    config = foreign_config(sagemaker, f"{namespace}-shared")
    operator.start()
    kube.apply(endpoint_object("existing", instanceType=None, model={"endpointConfigName": config}))
    status = kube.wait_phase("existing", "InService")
    assert status["endpointConfigName"] == config
    assert "modelName" not in status

    kube.delete("existing")
    wait_for("the object to go", lambda: kube.get("existing") is None)
    assert describe(sagemaker, endpoint_name(namespace, "existing")) is None
    assert sagemaker.describe_endpoint_config(EndpointConfigName=config)  # still there


def test_spec_change_rolls_through_update_and_cleans_up(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("rolling"))
    first = kube.wait_phase("rolling", "InService")
    name = endpoint_name(namespace, "rolling")

    kube.patch("rolling", {"spec": {"instanceType": "ml.g5.xlarge", "instanceCount": 2}})
    # Updating lasts 2 s here, too short to be sure of seeing; its Event is checked below.
    second = wait_for(
        "the update to finish",
        lambda: (
            (s := kube.status("rolling")).get("phase") == "InService"
            and s.get("observedGeneration") == 2
            and s
        ),
    )
    assert second["endpointConfigName"] != first["endpointConfigName"]
    assert second["modelName"] == first["modelName"]  # the model did not change
    endpoint = describe(sagemaker, name)
    assert endpoint is not None and endpoint["EndpointConfigName"] == second["endpointConfigName"]
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=second["endpointConfigName"])[
        "ProductionVariants"
    ][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.g5.xlarge", 2)

    models, _configs = wait_for(
        "the superseded config to be deleted",
        lambda: (
            (found := owned_names(sagemaker, name))[1] == [second["endpointConfigName"]] and found
        ),
    )
    assert models == [second["modelName"]]
    assert "Updating" in [e["reason"] for e in kube.events("rolling")]
    # The spec changes were acted on without kopf writing a diff base back to the object
    # (runtime.diffbase): the user's write is the only one outside status.
    obj = kube.get("rolling")
    assert obj is not None
    annotations = obj["metadata"].get("annotations") or {}
    assert not [key for key in annotations if key.startswith("sagemeter.io/last-handled")]


def test_failed_create_is_reported_once_and_replaced_on_spec_change(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("broken", model={"container": {"image": FAILING_IMAGE}}))
    status = kube.wait_phase("broken", "Failed")
    assert "ping health check" in status["failureReason"]
    degraded = kube.condition("broken", "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "EndpointFailed"

    operator.wait_passes(2)  # two more looks at the failed endpoint: no retry loop
    calls = operator.aws_calls()
    assert calls.get("sagemaker:CreateEndpoint") == 1
    assert calls.get("sagemaker:DeleteEndpoint", 0) == 0
    assert kube.status("broken")["phase"] == "Failed"
    warnings = [e for e in kube.events("broken") if e["reason"] == "EndpointFailed"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"

    kube.patch("broken", {"spec": {"model": {"container": {"image": IMAGE}}}})
    wait_for(
        "the replacement to serve",
        lambda: (
            (s := kube.status("broken")).get("phase") == "InService"
            and s.get("observedGeneration") == 2
        ),
        timeout=90,
    )
    assert kube.condition("broken", "Degraded")["status"] == "False"
    assert operator.aws_calls()["sagemaker:CreateEndpoint"] == 2


def test_failed_update_is_not_retried_until_the_spec_changes(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("badupdate"))
    good = kube.wait_phase("badupdate", "InService")

    kube.patch("badupdate", {"spec": {"model": {"container": {"image": FAILING_IMAGE}}}})
    wait_for(
        "the failed update to be reported",
        lambda: kube.condition("badupdate", "Degraded").get("reason") == "UpdateFailed",
    )
    status = kube.status("badupdate")
    assert status["phase"] == "InService"  # still serving the old config
    assert status["endpointConfigName"] == good["endpointConfigName"]
    operator.wait_passes(2)  # two more looks at the failed update: it is not re-applied
    assert operator.aws_calls()["sagemaker:UpdateEndpoint"] == 1
    # What the endpoint still serves is kept: its config and model are not "superseded".
    served = sagemaker.describe_endpoint_config(EndpointConfigName=good["endpointConfigName"])
    sagemaker.describe_model(ModelName=served["ProductionVariants"][0]["ModelName"])
    assert operator.aws_calls().get("sagemaker:DeleteEndpointConfig", 0) == 0

    kube.patch(
        "badupdate",
        {"spec": {"instanceType": "ml.m5.xlarge", "model": {"container": {"image": IMAGE}}}},
    )
    wait_for(
        "the next spec change to deploy",
        lambda: (
            (s := kube.status("badupdate")).get("observedGeneration") == 3
            and s.get("phase") == "InService"
            and s.get("endpointConfigName") != good["endpointConfigName"]
        ),
    )
    assert operator.aws_calls()["sagemaker:UpdateEndpoint"] == 2
    assert kube.condition("badupdate", "Degraded")["status"] == "False"


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_delete_honours_the_deletion_policy(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str, policy: str
) -> None:
    operator.start()
    obj_name = f"gone-{policy.lower()}"
    kube.apply(endpoint_object(obj_name, deletionPolicy=policy))
    status = kube.wait_phase(obj_name, "InService")
    name = endpoint_name(namespace, obj_name)

    kube.delete(obj_name)
    wait_for("the object to be deleted", lambda: kube.get(obj_name) is None, timeout=60)
    models, configs = owned_names(sagemaker, name)
    if policy == "Delete":
        assert describe(sagemaker, name) is None
        assert (models, configs) == ([], [])
    else:
        assert describe(sagemaker, name) is not None
        assert models == [status["modelName"]] and configs == [status["endpointConfigName"]]


def test_adopt_takes_an_endpoint_under_management_and_releases_it(
    operator: Operator,
    kube: Kubectl,
    sagemaker: Any,
    namespace: str,
    policies: Callable[..., str],
) -> None:
    name = f"{namespace}-notebook"
    # Adoption is a privilege: an EndpointPolicy over this namespace names the endpoint.
    foreign_endpoint(sagemaker, name)
    policies(f"{namespace}-adopt", [namespace], adoption={"endpointNames": [f"{namespace}-*"]})
    operator.start()
    kube.apply(
        {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "ManagedEndpoint",
            "metadata": {"name": "adopted"},
            "spec": {"adopt": True, "endpointName": name},
        }
    )
    status = kube.wait_phase("adopted", "InService")
    assert status["endpointConfigName"] == f"{name}-config"
    arn = describe(sagemaker, name)["EndpointArn"]  # type: ignore[index]
    tags = tags_of(sagemaker, arn)
    assert tags["sagemeter.io/adopted"] == "true"
    assert tags["sagemeter.io/name"] == "adopted"
    assert sagemaker.list_models(NameContains=name)["Models"]  # nothing else created
    assert len(sagemaker.list_endpoint_configs(NameContains=name)["EndpointConfigs"]) == 1

    kube.delete("adopted")
    wait_for("the object to go", lambda: kube.get("adopted") is None)
    assert describe(sagemaker, name) is None  # deletionPolicy Delete: the endpoint goes
    assert sagemaker.describe_endpoint_config(EndpointConfigName=f"{name}-config")
    assert sagemaker.describe_model(ModelName=f"{name}-model")


def test_a_name_taken_by_someone_else_is_a_conflict_and_left_alone(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    name = f"{namespace}-taken"
    foreign_endpoint(sagemaker, name, tags={"owner": "someone"})
    operator.start()
    kube.apply(endpoint_object("thief", endpointName=name))
    wait_for(
        "the conflict",
        lambda: kube.condition("thief", "Degraded").get("reason") == "EndpointNameConflict",
    )
    kube.wait_event("thief", "EndpointNameConflict")
    kube.delete("thief")
    wait_for("the object to go", lambda: kube.get("thief") is None)
    endpoint = describe(sagemaker, name)
    assert endpoint is not None and endpoint["EndpointConfigName"] == f"{name}-config"
    assert tags_of(sagemaker, endpoint["EndpointArn"]) == {"owner": "someone"}
    calls = operator.aws_calls()
    for mutation in ("CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint", "AddTags"):
        assert calls.get(f"sagemaker:{mutation}", 0) == 0, mutation


def test_tag_edits_are_applied(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("tagged", tags={"team": "a", "cost-center": "42"}))
    status = kube.wait_phase("tagged", "InService")
    kube.patch("tagged", {"spec": {"tags": {"team": "b", "cost-center": None, "env": "dev"}}})
    tags = wait_for(
        "the tag edit",
        lambda: (t := tags_of(sagemaker, status["endpointArn"])).get("team") == "b" and t,
    )
    assert tags["env"] == "dev"
    assert "cost-center" not in tags
    assert tags["sagemeter.io/managed-by"] == "sagemeter"


def test_an_endpoint_deleted_out_of_band_is_recreated(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(endpoint_object("drift"))
    kube.wait_phase("drift", "InService")
    name = endpoint_name(namespace, "drift")
    sagemaker.delete_endpoint(EndpointName=name)
    wait_for(
        "the status to stop claiming InService",
        lambda: kube.status("drift").get("phase") != "InService",
        timeout=30,
    )
    kube.wait_phase("drift", "InService", timeout=60)
    endpoint = describe(sagemaker, name)
    assert endpoint is not None and endpoint["EndpointStatus"] == "InService"


def listing_pages(sagemaker: Any) -> int:
    """How many `ListEndpoints` pages (100 endpoints each, the operator's page size) one sweep
    of the region takes: the sandbox may hold other tests' endpoints."""
    total = sum(
        len(page["Endpoints"])
        for page in sagemaker.get_paginator("list_endpoints").paginate(MaxResults=100)
    )
    return max(1, -(-total // 100))


def test_steady_state_lists_instead_of_describing(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    for index in range(3):
        kube.apply(endpoint_object(f"steady-{index}"))
    for index in range(3):
        kube.wait_phase(f"steady-{index}", "InService")
    operator.wait_passes(3)  # whatever followed InService (a last describe) is done
    pages = [listing_pages(sagemaker)]
    before, started = operator.aws_calls(), time.monotonic()
    operator.wait_passes(9)  # about three passes of each object, three sync intervals
    after, elapsed = operator.aws_calls(), time.monotonic() - started
    pages.append(listing_pages(sagemaker))
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert delta.get("sagemaker:DescribeEndpoint", 0) == 0, delta
    # One sweep serves every object: at most one per sync interval (3 s), however slowly the
    # passes come on a loaded machine; a sweep is one call per page of the region's endpoints.
    listed = delta.get("sagemaker:ListEndpoints", 0)
    assert min(pages) <= listed <= (elapsed / 3 + 1) * max(pages), (delta, elapsed, pages)
    assert sum(delta.values()) == delta["sagemaker:ListEndpoints"], delta


def test_an_endpoints_tags_are_read_once(
    sandbox: Sandbox, operator: Operator, kube: Kubectl, namespace: str
) -> None:
    """The passes read an endpoint's tags (to prove it the object's, then to sync them once it
    serves); the orphan sweep, which reads the tags of every endpoint of the account each sync
    interval, takes them from the proof's read of the same incarnation instead of its own."""
    since = time.time()
    operator.start(SAGEMETER_SYNC_INTERVAL="15s")
    for index in range(2):
        kube.apply(endpoint_object(f"tags-{index}"))
    serving = {}
    for index in range(2):
        arn = kube.wait_phase(f"tags-{index}", "InService")["endpointArn"]
        serving[arn] = time.time()
    # Two more orphan rounds (one per sync interval) after both endpoints were proven.
    time.sleep(2 * 15 + 5)
    faults = FaultClient(sandbox.aws_endpoint_url)
    for arn, at in serving.items():
        reads = faults.requests("sagemaker:ListTags", since=since, contains=arn)
        assert reads, arn  # the proof
        assert [r for r in reads if r["ts"] > at] == [], (arn, at, reads)


def test_jumpstart_models_resolve_through_the_hub(
    operator: Operator, kube: Kubectl, sagemaker: Any, namespace: str
) -> None:
    operator.start()
    kube.apply(
        endpoint_object(
            "falcon",
            instanceType="ml.g5.2xlarge",
            model={"jumpStart": {"modelId": "huggingface-llm-falcon-7b-instruct-bf16"}},
        )
    )
    kube.apply(
        endpoint_object(
            "unknown",
            model={"jumpStart": {"modelId": "no-such-model-anywhere"}},
        )
    )
    kube.apply(
        endpoint_object(
            "gated",
            instanceType="ml.g5.2xlarge",
            model={"jumpStart": {"modelId": "meta-textgeneration-llama-3-8b-instruct"}},
        )
    )
    status = kube.wait_phase("falcon", "InService")
    container = sagemaker.describe_model(ModelName=status["modelName"])["PrimaryContainer"]
    assert "huggingface-pytorch-tgi-inference" in container["Image"]
    assert container["Environment"]["HF_MODEL_ID"]

    for name, reason in (("unknown", "ModelNotFound"), ("gated", "EulaNotAccepted")):
        wait_for(
            f"{name} to be {reason}",
            lambda n=name, r=reason: kube.condition(n, "Degraded").get("reason") == r,
        )
    assert "no-such-model-anywhere" in kube.condition("unknown", "Degraded")["message"]
    assert "acceptEula" in kube.condition("gated", "Degraded")["message"]
    assert describe(sagemaker, endpoint_name(namespace, "unknown")) is None
    assert operator.aws_calls()["sagemaker:CreateModel"] == 1  # falcon's: nothing for the two

    kube.patch("gated", {"spec": {"model": {"jumpStart": {"acceptEula": True}}}})
    gated = kube.wait_phase("gated", "InService")
    model = sagemaker.describe_model(ModelName=gated["modelName"])["PrimaryContainer"]
    # Llama's artifacts are uncompressed (an S3 prefix): the license acceptance travels
    # with them, and only with them, since a model.tar.gz has nowhere to carry it.
    assert "ModelDataUrl" not in model
    source = model["ModelDataSource"]["S3DataSource"]
    assert source["ModelAccessConfig"] == {"AcceptEula": True}
    assert source["S3DataType"] == "S3Prefix" and source["CompressionType"] == "None"
    assert source["S3Uri"].endswith(
        "/meta-textgeneration-llama-3-8b-instruct/artifacts/inference-prepack/v1.0.0/"
    )
    warnings = [e for e in kube.events("unknown") if e["reason"] == "ModelNotFound"]
    assert len(warnings) == 1
