"""The sandbox's SageMaker public hub: recorded ``DescribeHubContent`` answers served locally.

moto has no hub API. This module serves the packaged responses in ``sandbox/hub/*.json`` (one
model version each, copies of ``tests/fixtures/jumpstart``) for ``DescribeHubContent`` and
``ListHubContentVersions`` on ``SageMakerPublicHub``, so a ``jumpStart`` model resolves against
the local AWS as it would in us-east-1 (other regions get the document with the region's name
substituted, as the real per-region documents differ only there). Unknown names answer
``ResourceNotFound``, like SageMaker. ``response_patches()`` wires both operations into moto's
``SageMakerResponse``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ResourceNotFound
from moto.sagemaker.responses import SageMakerResponse

__all__ = ["describe_hub_content", "list_hub_content_versions", "response_patches"]

PUBLIC_HUB = "SageMakerPublicHub"
RECORDED_REGION = "us-east-1"
HUB_DIR = Path(__file__).with_name("hub")


@cache
def _recorded() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(HUB_DIR.glob("*.json"))}


def _content(params: Mapping[str, Any]) -> dict[str, Any]:
    hub, kind, name = (params.get(k) for k in ("HubName", "HubContentType", "HubContentName"))
    if hub not in (PUBLIC_HUB, None):
        raise ResourceNotFound(f"Hub with name {hub} does not exist.")
    recorded = _recorded().get(str(name))
    if kind != "Model" or recorded is None:
        raise ResourceNotFound(f"Hub content with name {name} does not exist.")
    return recorded


def _regional(response: dict[str, Any], region: str) -> dict[str, Any]:
    # Image registries, cache buckets and ARNs all carry the region; nothing else does.
    text = json.dumps(response).replace(RECORDED_REGION, region)
    regional: dict[str, Any] = json.loads(text)
    regional["CreationTime"] = datetime.fromisoformat(regional["CreationTime"])
    return regional


def describe_hub_content(
    params: Mapping[str, Any], region: str = RECORDED_REGION
) -> dict[str, Any]:
    """The ``DescribeHubContent`` response for ``params``; raises moto's ``ResourceNotFound``
    (code ``ResourceNotFound``, HTTP 400) for an unknown hub, name or version."""
    recorded = _content(params)
    version = params.get("HubContentVersion")
    if version and version != recorded["HubContentVersion"]:
        raise ResourceNotFound(
            f"Hub content with name {params['HubContentName']} and version {version} "
            "does not exist."
        )
    return _regional(recorded, region)


def list_hub_content_versions(
    params: Mapping[str, Any], region: str = RECORDED_REGION
) -> dict[str, Any]:
    """The ``ListHubContentVersions`` response: the one recorded version of the model."""
    summary_keys = (
        "HubContentName",
        "HubContentArn",
        "HubContentVersion",
        "HubContentType",
        "DocumentSchemaVersion",
        "HubContentDisplayName",
        "HubContentDescription",
        "SupportStatus",
        "HubContentSearchKeywords",
        "HubContentStatus",
        "CreationTime",
    )
    described = describe_hub_content({**params, "HubContentVersion": None}, region)
    return {"HubContentSummaries": [{k: described[k] for k in summary_keys if k in described}]}


def _serve(handler: Callable[..., dict[str, Any]]) -> Callable[[SageMakerResponse], ActionResult]:
    def action(self: SageMakerResponse) -> ActionResult:
        names = ("HubName", "HubContentType", "HubContentName", "HubContentVersion")
        return ActionResult(handler({n: self._get_param(n) for n in names}, self.region))

    return action


def response_patches() -> list[tuple[type, str, Any]]:
    """``(class, attribute, value)`` triples that add the hub operations to moto's SageMaker;
    moto dispatches an action to the ``SageMakerResponse`` method of its snake_case name."""
    return [
        (SageMakerResponse, "describe_hub_content", _serve(describe_hub_content)),
        (SageMakerResponse, "list_hub_content_versions", _serve(list_hub_content_versions)),
    ]
