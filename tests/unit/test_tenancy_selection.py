"""Which EndpointPolicies select a namespace: Kubernetes label-selector semantics,
names OR labelSelector (sagemeter.core.tenancy.selection)."""

from __future__ import annotations

from typing import Any

import pytest

from sagemeter.api.policy import EndpointPolicySpec, LabelSelector, NamespaceSelector
from sagemeter.core.tenancy.selection import (
    Policy,
    label_selector_matches,
    policies_selecting,
    selects,
)

LABELS = {"tenant": "a", "tier": "dev", "kubernetes.io/metadata.name": "team-a-dev"}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


# (case, labelSelector, labels, matches)
LABEL_TABLE: list[tuple[str, dict[str, Any], dict[str, str], bool]] = [
    ("empty-selects-everything", {}, {}, True),
    ("empty-lists-select-everything", {"matchLabels": {}, "matchExpressions": []}, {}, True),
    ("match-labels", {"matchLabels": {"tenant": "a"}}, LABELS, True),
    ("match-labels-all-of-them", {"matchLabels": {"tenant": "a", "tier": "prod"}}, LABELS, False),
    ("match-labels-missing-key", {"matchLabels": {"team": "a"}}, LABELS, False),
    ("match-labels-empty-value", {"matchLabels": {"flag": ""}}, {"flag": ""}, True),
    ("in", {"matchExpressions": [expr("tier", "In", "dev", "test")]}, LABELS, True),
    ("in-other-value", {"matchExpressions": [expr("tier", "In", "prod")]}, LABELS, False),
    ("in-missing-key", {"matchExpressions": [expr("zone", "In", "a")]}, LABELS, False),
    ("not-in", {"matchExpressions": [expr("tier", "NotIn", "prod")]}, LABELS, True),
    ("not-in-listed", {"matchExpressions": [expr("tier", "NotIn", "dev")]}, LABELS, False),
    (
        "not-in-missing-key-matches",
        {"matchExpressions": [expr("zone", "NotIn", "a")]},
        LABELS,
        True,
    ),
    ("exists", {"matchExpressions": [expr("tier", "Exists")]}, LABELS, True),
    ("exists-missing", {"matchExpressions": [expr("zone", "Exists")]}, LABELS, False),
    ("does-not-exist", {"matchExpressions": [expr("zone", "DoesNotExist")]}, LABELS, True),
    ("does-not-exist-present", {"matchExpressions": [expr("tier", "DoesNotExist")]}, LABELS, False),
    (
        "labels-and-expressions",
        {"matchLabels": {"tenant": "a"}, "matchExpressions": [expr("tier", "In", "prod")]},
        LABELS,
        False,
    ),
    (
        "expressions-all-of-them",
        {"matchExpressions": [expr("tier", "Exists"), expr("tenant", "In", "a")]},
        LABELS,
        True,
    ),
]


@pytest.mark.parametrize(
    ("case", "selector", "labels", "matches"), LABEL_TABLE, ids=[c[0] for c in LABEL_TABLE]
)
def test_label_selector(
    case: str, selector: dict[str, Any], labels: dict[str, str], matches: bool
) -> None:
    assert label_selector_matches(LabelSelector.model_validate(selector), labels) is matches


# (case, namespaceSelector, namespace name, labels, selected)
NAMESPACE_TABLE: list[tuple[str, dict[str, Any], str, dict[str, str], bool]] = [
    ("by-name", {"names": ["team-a-dev"]}, "team-a-dev", {}, True),
    ("by-name-other", {"names": ["team-a-dev"]}, "team-a-prod", {"tenant": "a"}, False),
    ("by-labels", {"labelSelector": {"matchLabels": {"tenant": "a"}}}, "x", {"tenant": "a"}, True),
    (
        "names-or-labels-name",
        {"names": ["n"], "labelSelector": {"matchLabels": {"t": "a"}}},
        "n",
        {},
        True,
    ),
    (
        "names-or-labels-labels",
        {"names": ["n"], "labelSelector": {"matchLabels": {"t": "a"}}},
        "m",
        {"t": "a"},
        True,
    ),
    (
        "names-or-labels-neither",
        {"names": ["n"], "labelSelector": {"matchLabels": {"t": "a"}}},
        "m",
        {"t": "b"},
        False,
    ),
    ("every-namespace", {"labelSelector": {}}, "kube-system", {}, True),
]


@pytest.mark.parametrize(
    ("case", "selector", "name", "labels", "selected"),
    NAMESPACE_TABLE,
    ids=[c[0] for c in NAMESPACE_TABLE],
)
def test_namespace_selector(
    case: str, selector: dict[str, Any], name: str, labels: dict[str, str], selected: bool
) -> None:
    assert selects(NamespaceSelector.model_validate(selector), name, labels) is selected


def test_policies_selecting_a_namespace_in_name_order() -> None:
    def policy(name: str, selector: dict[str, Any]) -> Policy:
        return Policy(name, EndpointPolicySpec.model_validate({"namespaceSelector": selector}))

    policies = [
        policy("zeta", {"labelSelector": {}}),
        policy("alpha", {"names": ["team-a-dev"]}),
        policy("beta", {"labelSelector": {"matchLabels": {"tenant": "b"}}}),
    ]
    chosen = policies_selecting(policies, "team-a-dev", LABELS)
    assert [p.name for p in chosen] == ["alpha", "zeta"]
    assert [p.name for p in policies_selecting(policies, "x", {"tenant": "b"})] == ["beta", "zeta"]
