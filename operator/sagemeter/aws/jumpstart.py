"""JumpStart model resolution through SageMaker's public model hub.

Owns turning ``(modelId, version, instanceType)`` into what ``CreateModel`` needs: one
``DescribeHubContent`` call on ``SageMakerPublicHub`` (plus paged ``ListHubContentVersions`` for a
``2.*``-style version), then a pure reading of the ``HubContentDocument`` JSON string.

The document's fields are the ones the SageMaker Python SDK parses, read from its source:
``sagemaker-core/src/sagemaker/core/jumpstart/models.py`` (the pydantic ``HubContentDocument``:
HostingEcrUri, HostingArtifactUri, HostingArtifactS3DataType, HostingArtifactCompressionType,
HostingPrepackedArtifactUri, HostingUseScriptUri, HostingEulaUri, InferenceEnvironmentVariables
``[{Name, Type, Default, Scope, RequiredForModelClass}]``, HostingInstanceTypeVariants
``{Aliases, Variants: {<family or instance type>: {Properties: {ImageUri,
EnvironmentVariables}}}}``, InferenceConfigs/InferenceConfigComponents/InferenceConfigRankings,
InferenceEnableNetworkIsolation, DefaultInferenceInstanceType) and the v2 SDK's
``src/sagemaker/jumpstart/hub/{interfaces,parsers}.py``, ``jumpstart/types.py`` (variant lookup:
exact instance type, then its family; ``$alias`` images) and ``jumpstart/factory/utils.py`` (an S3
prefix artifact becomes an ``S3DataSource``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sagemeter.aws.errors import AwsError, ErrorKind, checked_call

__all__ = ["PUBLIC_HUB", "ResolvedModel", "resolve_document", "resolve_jumpstart"]

PUBLIC_HUB = "SageMakerPublicHub"
_EXACT_VERSION = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")  # the API's HubContentVersion
_PARTIAL_VERSION = re.compile(r"^\d{1,4}(\.\d{1,4})?$")  # 2 or 2.1: PEP 440 pads them with .0
_WILDCARD_VERSION = re.compile(r"^(\d{1,4}\.){1,2}\*$")  # 2.* or 2.1.*
_DEFAULT_RANKING = "overall"  # the SDK's JumpStartConfigRankingName.DEFAULT


@dataclass(frozen=True)
class ResolvedModel:
    """The container of a JumpStart model for one instance type.

    At most one of ``model_data_url`` (a model.tar.gz) and ``model_data_source`` (an
    ``S3DataSource`` for uncompressed artifacts) is set. ``eula_uri`` is set for gated models
    (Llama): their ``S3DataSource`` needs ``ModelAccessConfig: {AcceptEula: true}``, which only
    the user may grant.
    """

    image: str
    model_data_url: str | None
    model_data_source: dict[str, Any] | None
    environment: dict[str, str]
    version: str
    enable_network_isolation: bool
    eula_uri: str | None = None


def resolve_jumpstart(
    client: Any, model_id: str, version: str, region: str, instance_type: str | None
) -> ResolvedModel:
    """Resolves a public-hub model. ``version`` is ``*`` (latest), ``X.Y.Z`` (``X`` and ``X.Y``
    mean ``X.0.0`` and ``X.Y.0``, as in the SDK's PEP 440 matching) or ``X.*``/``X.Y.*``.

    An unknown model id, or no version matching, raises ``AwsError`` of kind NOT_FOUND; a
    malformed version or a model sagemeter cannot deploy, kind TERMINAL.
    """
    params = {"HubName": PUBLIC_HUB, "HubContentType": "Model", "HubContentName": model_id}
    pinned = _pinned_version(client, model_id, version)
    if pinned:
        params["HubContentVersion"] = pinned
    response = checked_call(client, "DescribeHubContent", **params)
    where = f"{model_id} {response.get('HubContentVersion', '')} in {region}"
    try:
        document = json.loads(response["HubContentDocument"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _unusable(where, f"unreadable HubContentDocument ({exc})") from exc
    return resolve_document(document, response["HubContentVersion"], instance_type, where)


def _pinned_version(client: Any, model_id: str, version: str) -> str | None:
    """The exact version to ask for; None for the latest (DescribeHubContent's default)."""
    if version in ("", "*"):
        return None
    if _EXACT_VERSION.match(version):
        return version
    if _PARTIAL_VERSION.match(version):
        return ".".join([*version.split("."), "0", "0"][:3])
    if not _WILDCARD_VERSION.match(version):
        raise AwsError(
            ErrorKind.TERMINAL,
            "InvalidVersion",
            f"JumpStart version {version!r} of {model_id}: use *, X.Y.Z, X.* or X.Y.*",
            "DescribeHubContent",
        )
    prefix = version[:-1]  # "2.*" -> "2."
    params: dict[str, Any] = {
        "HubName": PUBLIC_HUB,
        "HubContentType": "Model",
        "HubContentName": model_id,
        "MaxResults": 100,
    }
    known: list[str] = []
    while True:
        page = checked_call(client, "ListHubContentVersions", **params)
        known += [s["HubContentVersion"] for s in page.get("HubContentSummaries", [])]
        if not page.get("NextToken"):
            break
        params["NextToken"] = page["NextToken"]
    matching = [v for v in known if v.startswith(prefix) and _EXACT_VERSION.match(v)]
    if not matching:
        raise AwsError(
            ErrorKind.NOT_FOUND,
            "VersionNotFound",
            f"no version of {model_id} matches {version} (the hub has {', '.join(known)})",
            "ListHubContentVersions",
        )
    return max(matching, key=lambda v: tuple(int(part) for part in v.split(".")))


def resolve_document(
    document: dict[str, Any], version: str, instance_type: str | None, where: str = ""
) -> ResolvedModel:
    """Reads a parsed HubContentDocument (pure; ``where`` only names it in errors)."""
    doc = _inference_config(document, instance_type)
    instance = instance_type or doc.get("DefaultInferenceInstanceType") or ""
    variants_doc = doc.get("HostingInstanceTypeVariants") or {}
    aliases = _field(variants_doc, "Aliases") or {}
    variants = _field(variants_doc, "Variants") or {}
    # The SDK reads the instance type's own variant first, then its family's ("g5").
    exact, family = _properties(variants, instance), _properties(variants, _family(instance))

    image = _field(exact, "ImageUri") or _field(family, "ImageUri") or doc.get("HostingEcrUri")
    if image and image.startswith("$"):
        image = aliases.get(image[1:])
    if not image:
        if doc.get("HostingModelPackageArn"):
            raise _unusable(where, "it is a model package; use spec.model.modelPackageArn")
        raise _unusable(where, f"no container image for instance type {instance or '(none)'}")

    environment = {
        var["Name"]: str(var["Default"])
        for var in doc.get("InferenceEnvironmentVariables") or []
        if var.get("Scope", "container") == "container" and var.get("Default") is not None
    }
    for props in (family, exact):  # the instance type's own values win over its family's
        environment.update(
            {k: str(v) for k, v in (_field(props, "EnvironmentVariables") or {}).items()}
        )

    url, source = _artifact(doc, where)
    return ResolvedModel(
        image=image,
        model_data_url=url,
        model_data_source=source,
        environment=environment,
        version=version,
        enable_network_isolation=bool(doc.get("InferenceEnableNetworkIsolation", False)),
        eula_uri=doc.get("HostingEulaUri") or None,
    )


def _artifact(doc: dict[str, Any], where: str) -> tuple[str | None, dict[str, Any] | None]:
    uri: str | None = doc.get("HostingArtifactUri")
    data_type = doc.get("HostingArtifactS3DataType")
    compression = doc.get("HostingArtifactCompressionType")
    if doc.get("HostingUseScriptUri"):
        # Script-mode models: the SDK repacks HostingScriptUri into the artifact in the user's
        # bucket. The prepacked artifact already has the script inside; without one we refuse.
        uri, data_type, compression = doc.get("HostingPrepackedArtifactUri"), None, None
        if not uri:
            raise _unusable(where, "its inference script must be repacked into the artifact")
    if not uri:
        return None, None  # the container fetches the weights itself
    if data_type == "S3Prefix" or uri.endswith("/"):
        return None, _s3_source(uri, "S3Prefix")
    if compression == "None":
        return None, _s3_source(uri, "S3Object")
    return uri, None


def _s3_source(uri: str, data_type: str) -> dict[str, Any]:
    return {"S3DataSource": {"S3Uri": uri, "S3DataType": data_type, "CompressionType": "None"}}


def _inference_config(doc: dict[str, Any], instance_type: str | None) -> dict[str, Any]:
    """The document with its top-ranked inference config that supports ``instance_type``
    overlaid, as the SDK resolves configs; the document itself when it has none."""
    configs = doc.get("InferenceConfigs") or {}
    if not configs:
        return doc
    components = doc.get("InferenceConfigComponents") or {}
    ranking = (doc.get("InferenceConfigRankings") or {}).get(_DEFAULT_RANKING) or {}
    for name in ranking.get("Rankings") or list(configs):
        resolved = doc
        for component in (configs.get(name) or {}).get("ComponentNames") or []:
            resolved = _overlay(resolved, components.get(component) or {})
        supported = resolved.get("SupportedInferenceInstanceTypes")
        if instance_type is None or not supported or instance_type in supported:
            return resolved
    return doc


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            value = _overlay(below, value)
        merged[key] = value
    return merged


def _family(instance_type: str) -> str:
    parts = instance_type.split(".")  # ml.g5.2xlarge -> g5
    return parts[1] if len(parts) == 3 and parts[0] == "ml" else ""


def _properties(variants: dict[str, Any], key: str) -> dict[str, Any]:
    variant = (variants.get(key) or {}) if key else {}
    return _field(variant, "Properties") or {}


def _field(obj: dict[str, Any], name: str) -> Any:
    """``obj[name]``, or its snake_case twin: the v3 SDK models the variants in PascalCase,
    the v2 SDK snake-cases them before reading, so documents of either casing parse there."""
    if name in obj:
        return obj[name]
    return obj.get(re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())


def _unusable(where: str, why: str) -> AwsError:
    return AwsError(
        ErrorKind.TERMINAL,
        "UnsupportedJumpStartModel",
        f"JumpStart model {where}: {why}",
        "DescribeHubContent",
    )
