"""Generates the CRDs (ManagedEndpoint, EndpointPolicy) from the pydantic models.

Each kind is described once (`Kind`: names, scope, spec and status models,
printer columns); `crd(kind)` builds its CustomResourceDefinition and
`render_crd_yaml(kind)` the committed file `crds/<plural>.sagemeter.io.yaml`.

pydantic emits JSON Schema; Kubernetes wants a *structural* OpenAPI v3 schema.
The conversion here inlines every `$ref`, drops `title`, turns `anyOf [X, null]`
into plain optional `X`, turns constrained map keys (`propertyNames`) into CEL
rules, and merges field-level CEL rules with the model they point at.

Optional fields are not marked `nullable`: the API server prunes a `null`
written to a non-nullable field, so `field: null` in a manifest means "unset",
exactly like `None` in the models, and CEL rules can rely on `has()` without
null checks.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from sagemeter.api import models as m
from sagemeter.api import policy as p

JsonSchema = dict[str, Any]

CRD_NAME = f"{m.PLURAL}.{m.GROUP}"

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    # The Degraded reason when there is one, else the parked reason (a column takes one
    # JSONPath, so the operator writes the choice into status.reason).
    {"name": "Reason", "type": "string", "jsonPath": ".status.reason"},
    {"name": "Instance", "type": "string", "jsonPath": ".spec.instanceType"},
    # A `date` column renders future times as <invalid>; the expiry is usually
    # in the future, so it is shown as the timestamp itself.
    {"name": "Expires", "type": "string", "jsonPath": ".status.expiresAt"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Endpoint", "type": "string", "jsonPath": ".status.endpointName", "priority": 1},
    {"name": "URL", "type": "string", "jsonPath": ".status.invokeUrl", "priority": 1},
    {"name": "Cost/h", "type": "string", "jsonPath": ".status.hourlyCostUSD", "priority": 1},
]

POLICY_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Namespaces", "type": "integer", "jsonPath": ".status.namespaces"},
    {"name": "Budget", "type": "string", "jsonPath": ".spec.budget.usdPerHour"},
    {"name": "Spend", "type": "string", "jsonPath": ".status.usdPerHour"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Role", "type": "string", "jsonPath": ".spec.aws.roleArn", "priority": 1},
    {"name": "Waiting", "type": "integer", "jsonPath": ".status.waiting", "priority": 1},
]


@dataclass(frozen=True)
class Kind:
    """One custom resource: its names, scope, models and columns."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    namespaced: bool
    spec: type[m.ApiModel]
    status: type[m.ApiModel]
    description: str
    columns: tuple[dict[str, Any], ...]

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{m.GROUP}"

    @property
    def file_name(self) -> str:
        return f"{self.crd_name}.yaml"


MANAGED_ENDPOINT = Kind(
    kind=m.KIND,
    plural=m.PLURAL,
    singular=m.SINGULAR,
    short_names=tuple(m.SHORT_NAMES),
    namespaced=True,
    spec=m.ManagedEndpointSpec,
    status=m.ManagedEndpointStatus,
    description=(
        "A SageMaker inference endpoint run by sagemeter, with an expiry, an idle policy,"
        " an optional schedule and an optional API Gateway route."
    ),
    columns=tuple(PRINTER_COLUMNS),
)
ENDPOINT_POLICY = Kind(
    kind=m.POLICY_KIND,
    plural=m.POLICY_PLURAL,
    singular=m.POLICY_SINGULAR,
    short_names=tuple(m.POLICY_SHORT_NAMES),
    namespaced=False,
    spec=p.EndpointPolicySpec,
    status=p.EndpointPolicyStatus,
    description=(
        "A platform team's policy for the namespaces it selects: the AWS role their"
        " ManagedEndpoints use, guardrails on what they may ask for, and a cost budget."
    ),
    columns=tuple(POLICY_PRINTER_COLUMNS),
)
KINDS: tuple[Kind, ...] = (MANAGED_ENDPOINT, ENDPOINT_POLICY)

_DROPPED_KEYS = {"title"}
_VALIDATIONS = "x-kubernetes-validations"


def _resolve(node: Any, defs: dict[str, JsonSchema]) -> Any:
    """Inline `$ref`s and `allOf` wrappers; keep sibling keys of a `$ref`."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is None and len(node.get("allOf", [])) == 1:
        ref = node.pop("allOf")[0]["$ref"]
    if ref is not None:
        target = copy.deepcopy(defs[ref.rsplit("/", 1)[-1]])
        node = _merge(target, node)
    return {key: _resolve(value, defs) for key, value in node.items()}


def _merge(base: JsonSchema, extra: JsonSchema) -> JsonSchema:
    merged = dict(base)
    for key, value in extra.items():
        if key == _VALIDATIONS:
            merged[key] = list(merged.get(key, [])) + list(value)
        else:
            merged[key] = value
    return merged


def _structural(node: Any) -> Any:
    """Rewrite pydantic's JSON Schema idioms into structural OpenAPI v3."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        options = [option for option in any_of if option.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {options} structurally")
        node = _merge(options[0], node)
    node = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    if "default" in node and node["default"] is None:
        del node["default"]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    # Kubernetes has neither propertyNames nor patternProperties: map keys are
    # checked by a CEL rule instead.
    key_patterns: list[str] = []
    key_schema = node.pop("propertyNames", None) or {}
    if "pattern" in key_schema:
        key_patterns.append(key_schema["pattern"])
    pattern_properties = node.pop("patternProperties", None)
    if pattern_properties:
        (key_pattern, value_schema), *rest = pattern_properties.items()
        if rest:
            raise ValueError("only one key pattern per map can be expressed")
        key_patterns.append(key_pattern)
        node["additionalProperties"] = value_schema
    said = key_schema.get(m.PATTERN_MESSAGE)
    low, high = key_schema.get("minLength"), key_schema.get("maxLength")
    if low is not None or high is not None:
        bounds = [f"k.size() >= {low}"] if low else []
        bounds += [f"k.size() <= {high}"] if high is not None else []
        message = (
            f"keys must be {low} to {high} characters long"
            if low
            else f"keys must be at most {high} characters long"
        )
        rule = m.cel(f"self.all(k, {' && '.join(bounds)})", message)
        node[_VALIDATIONS] = [*node.get(_VALIDATIONS, []), rule]
    for pattern in key_patterns:
        quoted = pattern.replace("\\", "\\\\")
        message = f"keys {said}" if said else f"keys must match {pattern}"
        rule = m.cel(f"self.all(k, k.matches('{quoted}'))", message)
        node[_VALIDATIONS] = [*node.get(_VALIDATIONS, []), rule]
    message = node.pop(m.PATTERN_MESSAGE, None)
    if message is not None:
        pattern = node.pop("pattern").replace("\\", "\\\\")
        rule = m.cel(f"self.matches('{pattern}')", message)
        node[_VALIDATIONS] = [*node.get(_VALIDATIONS, []), rule]
    if "enum" in node and "type" not in node:
        node["type"] = _json_type(node["enum"][0])
    return {key: _structural(value) for key, value in node.items()}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "string"


def _strip_defaults(node: Any) -> Any:
    """The status is written by the operator only; defaults there would mislead."""
    if isinstance(node, list):
        return [_strip_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {k: _strip_defaults(v) for k, v in node.items() if k != "default"}


def model_schema(model: type[m.ApiModel]) -> JsonSchema:
    """The structural OpenAPI v3 schema of one model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return dict(_structural(_resolve(raw, defs)))


def _description(model: type[m.ApiModel]) -> str:
    return (model.__doc__ or "").strip()


def openapi_schema(kind: Kind = MANAGED_ENDPOINT) -> JsonSchema:
    spec = model_schema(kind.spec)
    status = _strip_defaults(model_schema(kind.status))
    spec["description"] = _description(kind.spec)
    status["description"] = _description(kind.status)
    return {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def crd(kind: Kind = MANAGED_ENDPOINT) -> JsonSchema:
    """The whole CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/name": "sagemeter"},
        },
        "spec": {
            "group": m.GROUP,
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": list(m.CATEGORIES),
            },
            "versions": [
                {
                    "name": m.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.columns),
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                }
            ],
        },
    }


SOURCES = {
    MANAGED_ENDPOINT.kind: "operator/sagemeter/api/models.py",
    ENDPOINT_POLICY.kind: "operator/sagemeter/api/policy.py",
}


def header(kind: Kind) -> str:
    return (
        f"# Generated by `sagemeter crd --kind {kind.plural}` (make crds)"
        f" from {SOURCES[kind.kind]}.\n"
        "# Do not edit by hand: tests fail when this file and the models disagree.\n"
    )


def render_crd_yaml(kind: Kind = MANAGED_ENDPOINT) -> str:
    body = yaml.safe_dump(crd(kind), sort_keys=False, width=100, allow_unicode=True)
    return header(kind) + body


def kind_named(name: str) -> Kind:
    """The kind whose kind, plural, singular or short name is `name` (case-insensitive)."""
    wanted = name.lower()
    for kind in KINDS:
        if wanted in {kind.kind.lower(), kind.plural, kind.singular, *kind.short_names}:
            return kind
    raise KeyError(name)
