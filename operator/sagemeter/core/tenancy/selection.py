"""Which EndpointPolicies select a namespace.

Kubernetes label-selector semantics: `matchLabels` AND every `matchExpressions`
requirement; `In` needs the key with one of the values, `NotIn` matches when
the key is absent or has another value, `Exists`/`DoesNotExist` test the key;
an empty selector (`{}`) selects every namespace. A policy's
`namespaceSelector` selects a namespace named in `names` OR matched by
`labelSelector`. The bindings built in `sagemeter.core.tenancy.admission`
select exactly the same namespaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sagemeter.api.policy import (
    EndpointPolicySpec,
    LabelSelector,
    LabelSelectorRequirement,
    NamespaceSelector,
    SelectorOperator,
)


@dataclass(frozen=True)
class Policy:
    """An EndpointPolicy as the decisions need it: its name, uid and spec."""

    name: str
    spec: EndpointPolicySpec
    uid: str = ""


def requirement_matches(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    values = requirement.values or []
    match requirement.operator:
        case SelectorOperator.IN:
            return present and labels[requirement.key] in values
        case SelectorOperator.NOT_IN:
            return not present or labels[requirement.key] not in values
        case SelectorOperator.EXISTS:
            return present
        case SelectorOperator.DOES_NOT_EXIST:
            return not present
    raise ValueError(f"unknown label selector operator {requirement.operator!r}")


def label_selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """matchLabels AND matchExpressions; `{}` matches everything."""
    wanted = selector.match_labels or {}
    if any(labels.get(key) != value for key, value in wanted.items()):
        return False
    return all(requirement_matches(r, labels) for r in selector.match_expressions or [])


def selects(selector: NamespaceSelector, name: str, labels: Mapping[str, str]) -> bool:
    """The namespace is named in `names` OR matched by `labelSelector`."""
    if name in (selector.names or []):
        return True
    return selector.label_selector is not None and label_selector_matches(
        selector.label_selector, labels
    )


def policies_selecting(
    policies: Iterable[Policy], name: str, labels: Mapping[str, str]
) -> list[Policy]:
    """The policies that select namespace `name` with `labels`, ordered by name."""
    chosen = [p for p in policies if selects(p.spec.namespace_selector, name, labels)]
    return sorted(chosen, key=lambda p: p.name)
