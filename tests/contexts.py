"""A reconcile pass's Context for tests that drive one part of the operator directly (targets,
idle alarms): an object with a container model, its owner, region and identity."""

from __future__ import annotations

from datetime import UTC, datetime

from sagemeter.api.models import ManagedEndpoint
from sagemeter.aws.clients import Identity
from sagemeter.aws.gateway import account_of
from sagemeter.aws.sagemaker import SageMakerGateway
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.runtime.context import Context

ROLE = "arn:aws:iam::123456789012:role/sagemeter-execution"
REGION = "us-east-1"


def context(
    uid: str,
    *,
    generation: int = 1,
    image: str = "image:1",
    namespace: str = "team-a",
    endpoint_name: str | None = None,
    default_role: str | None = None,
    identity: Identity | None = None,
    gateway_client: object | None = None,
) -> Context:
    """The Context of object ``ep-<uid>`` in ``namespace``, acting as ``identity`` (None: the
    operator itself); its SageMaker gateway uses ``gateway_client`` (default: the shared
    client)."""
    obj = ManagedEndpoint.model_validate(
        {
            "spec": {
                "model": {"container": {"image": image}, "executionRoleArn": ROLE},
                "instanceType": "ml.m5.large",
            }
        }
    )
    return Context(
        body={},
        namespace=namespace,
        name=f"ep-{uid}",
        uid=uid,
        generation=generation,
        created=datetime(2026, 1, 1, tzinfo=UTC),
        obj=obj,
        owner=Owner(namespace, f"ep-{uid}", uid),
        region=REGION,
        endpoint_name=endpoint_name or f"ep-{uid}",
        gateway=SageMakerGateway(REGION, client=gateway_client, identity=identity),
        default_role=default_role,
        identity=identity,
        reader=identity,
        scope=account_of(identity),
    )
