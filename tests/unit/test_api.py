"""The API models and the CRD generated from them (no cluster needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from sagemeter.api import crd, models

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "crds" / "managedendpoints.sagemeter.io.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


def test_committed_crd_matches_the_models() -> None:
    assert COMMITTED.read_text() == crd.render_crd_yaml(), (
        "crds/ is stale: run `make crds` and commit the result"
    )


def test_schema_is_structural() -> None:
    schema = crd.openapi_schema()
    for path, node in walk(schema):
        for banned in (
            "$ref",
            "$defs",
            "anyOf",
            "allOf",
            "oneOf",
            "title",
            "propertyNames",
            "patternProperties",
        ):
            assert banned not in node, f"{banned} at {path}"
        if "properties" in node or "additionalProperties" in node:
            assert node.get("type") == "object", f"object without type at {path}"
        if path.endswith("/items"):
            assert "type" in node, f"list items without type at {path}"


def test_every_string_checked_by_cel_is_bounded() -> None:
    # The API server refuses CEL rules whose estimated cost is unbounded.
    spec = crd.openapi_schema()["properties"]["spec"]
    uptime = spec["properties"]["schedule"]["properties"]["uptime"]
    assert uptime["maxItems"] <= 20 and uptime["items"]["maxLength"] <= 80
    assert spec["properties"]["tags"]["maxProperties"] <= 50


def test_crd_names_and_columns() -> None:
    doc = crd.crd()
    names = doc["spec"]["names"]
    assert names["shortNames"] == ["mep"] and names["categories"] == ["sagemeter"]
    version = doc["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c]
    assert columns == ["Phase", "Reason", "Instance", "Expires", "Age"]
    wide = [c["name"] for c in version["additionalPrinterColumns"] if c.get("priority")]
    assert {"URL", "Cost/h"} <= set(wide)
    expires = next(c for c in version["additionalPrinterColumns"] if c["name"] == "Expires")
    assert expires["type"] == "string"


def test_patterns_are_re2_compatible() -> None:
    # Go's RE2 has no lookarounds or backreferences; Python would accept them silently.
    for path, node in walk(crd.openapi_schema()):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            assert not re.search(r"\(\?[=!<]|\\[1-9]", pattern), f"non-RE2 pattern at {path}"
            re.compile(pattern)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_parse_with_the_models(example: Path) -> None:
    obj = models.ManagedEndpoint.model_validate(yaml.safe_load(example.read_text()))
    assert obj.spec.deletion_policy in {"Delete", "Retain"}


def test_examples_cover_every_scenario() -> None:
    specs = [yaml.safe_load(p.read_text())["spec"] for p in EXAMPLES]
    assert any("jumpStart" in s.get("model", {}) and "api" in s for s in specs)
    assert any(s.get("expiry", {}).get("ttl") == "0s" for s in specs)
    assert any(s.get("inferenceType") == "Async" for s in specs)
    assert any(s.get("inferenceType") == "Serverless" for s in specs)
    assert any("endpointConfigName" in s.get("model", {}) for s in specs)
    assert any(s.get("adopt") and "idle" in s for s in specs)
    assert any("schedule" in s for s in specs)


def test_model_reads_camel_case_and_applies_defaults() -> None:
    spec = models.ManagedEndpointSpec.model_validate(
        {
            "model": {"jumpStart": {"modelId": "falcon"}},
            "instanceType": "ml.g5.xlarge",
            "async": {"outputS3Uri": "s3://bucket/out"},
            "serverless": {"memorySizeMB": 4096},
            "expiry": {"ttl": "90m"},
        }
    )
    assert spec.model is not None and spec.model.jump_start is not None
    assert spec.model.jump_start.version == "*"
    assert spec.async_ is not None and spec.async_.output_s3_uri == "s3://bucket/out"
    assert spec.serverless is not None and spec.serverless.memory_size_mb == 4096
    assert spec.expiry is not None and spec.expiry.warn_before == "10m"
    assert spec.instance_count == 1 and spec.inference_type == "Realtime"
    assert spec.deletion_policy == "Delete"


def test_model_rejects_what_the_schema_rejects() -> None:
    with pytest.raises(ValidationError, match="instanceType"):
        models.ManagedEndpointSpec.model_validate({"instanceType": "g5"})
    with pytest.raises(ValidationError, match="memorySizeMB"):
        models.ManagedEndpointSpec.model_validate({"serverless": {"memorySizeMB": 1000}})


def test_status_round_trips_with_aliases() -> None:
    status = models.ManagedEndpointStatus(
        phase=models.Phase.PARKED,
        parked_reason=models.ParkedReason.IDLE,
        hourly_cost_usd="1.52",
        conditions=[models.Condition(type="Ready", status="False", reason="Parked")],
    )
    wire = status.model_dump(by_alias=True, exclude_none=True)
    assert wire["phase"] == "Parked" and wire["parkedReason"] == "Idle"
    assert wire["hourlyCostUSD"] == "1.52"
    assert models.ManagedEndpointStatus.model_validate(wire) == status
