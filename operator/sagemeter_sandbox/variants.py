"""What a SageMaker endpoint shows once a config is deployed on it, for the local AWS.

``deployment(backend, endpoint, config)`` gives the production variants DescribeEndpoint
shows (with ``DeployedImages``: each image resolved to a stable fake digest, and the weights
SageMaker defaults to) and, for a model image tagged ``fail``, the ping health check failure
SageMaker reports. Used by ``localaws`` for CreateEndpoint and UpdateEndpoint.
"""

from __future__ import annotations

import hashlib
from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, Model, SageMakerModelBackend

__all__ = ["FAIL_TAG", "deployment"]

FAIL_TAG = "fail"


def _split_image(image: str) -> tuple[str, str]:
    """Repository and tag of an image reference (a registry port is not a tag)."""
    reference = image.split("@", 1)[0]
    if ":" in reference.rsplit("/", 1)[-1]:
        repository, tag = reference.rsplit(":", 1)
        return repository, tag
    return reference, "latest"


def _resolved(image: str) -> str:
    # A stable fake digest, so that the same image always resolves the same way.
    return f"{_split_image(image)[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _model_images(model: Model | None) -> list[str]:
    if model is None:
        return []
    containers = [model.primary_container or {}, *(model.containers or [])]
    return [c["Image"] for c in containers if c.get("Image")]


def deployment(
    backend: SageMakerModelBackend, endpoint: FakeEndpoint, config: FakeEndpointConfig
) -> tuple[list[dict[str, Any]], str | None]:
    """The variants DescribeEndpoint shows once ``config`` is deployed, and why it would fail.

    Taken when the call is made: SageMaker reads the models then, so deleting them later
    changes nothing.
    """
    variants = endpoint._process_production_variants(config.production_variants)
    failure = None
    resolved_at = utcnow()
    for variant, spec in zip(variants, config.production_variants, strict=True):
        images = _model_images(backend._models.get(spec["ModelName"]))
        if failure is None and any(_split_image(i)[1] == FAIL_TAG for i in images):
            failure = (
                f"The primary container for production variant {variant['VariantName']} did "
                "not pass the ping health check. Please check CloudWatch logs for this endpoint."
            )
        variant["DeployedImages"] = [
            {
                "SpecifiedImage": image,
                "ResolvedImage": _resolved(image),
                "ResolutionTime": resolved_at,
            }
            for image in images
        ]
        variant.setdefault("CurrentWeight", 1.0)  # SageMaker's default InitialVariantWeight
        variant.setdefault("DesiredWeight", 1.0)
    return variants, failure
