"""The ValidatingAdmissionPolicyBindings kept per EndpointPolicy
(sagemeter.core.tenancy.admission): shape, names, and that together they select exactly
the namespaces the policy selects."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sagemeter.api.admission import POLICY_NAME
from sagemeter.api.policy import LabelSelector, NamespaceSelector
from sagemeter.core.tenancy.admission import (
    NAME_LABEL,
    POLICY_UID_LABEL,
    binding_name,
    bindings_for,
)
from sagemeter.core.tenancy.selection import label_selector_matches, selects

UID = "0b6f1d1e-2a4f-4c1e-9f55-6f3e6c1d2a10"


def selector(**fields: Any) -> NamespaceSelector:
    return NamespaceSelector.model_validate(fields)


def namespace_selectors(bindings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        b["metadata"]["name"]: b["spec"]["matchResources"]["namespaceSelector"] for b in bindings
    }


def test_names_only_is_one_binding_on_the_name_label() -> None:
    bindings = bindings_for("team-a", UID, selector(names=["team-a-dev", "team-a-test"]))
    assert namespace_selectors(bindings) == {
        "team-a.names.endpointpolicies.sagemeter.io": {
            "matchExpressions": [
                {"key": NAME_LABEL, "operator": "In", "values": ["team-a-dev", "team-a-test"]}
            ]
        }
    }


def test_labels_only_is_one_binding_with_the_same_selector() -> None:
    labels = {
        "matchLabels": {"tenant": "a"},
        "matchExpressions": [{"key": "tier", "operator": "Exists"}],
    }
    bindings = bindings_for("team-a", UID, selector(labelSelector=labels))
    assert namespace_selectors(bindings) == {"team-a.labels.endpointpolicies.sagemeter.io": labels}


def test_names_or_labels_is_two_bindings() -> None:
    bindings = bindings_for(
        "team-a", UID, selector(names=["team-a-dev"], labelSelector={"matchLabels": {"t": "a"}})
    )
    assert sorted(namespace_selectors(bindings)) == [
        "team-a.labels.endpointpolicies.sagemeter.io",
        "team-a.names.endpointpolicies.sagemeter.io",
    ]


def test_an_empty_label_selector_selects_everything_and_needs_no_names_binding() -> None:
    bindings = bindings_for("all", UID, selector(names=["x"], labelSelector={}))
    assert namespace_selectors(bindings) == {"all.labels.endpointpolicies.sagemeter.io": {}}


def test_binding_shape() -> None:
    (binding,) = bindings_for("team-a", UID, selector(names=["team-a-dev"]))
    assert binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    spec = binding["spec"]
    assert spec["policyName"] == POLICY_NAME
    assert spec["paramRef"] == {"name": "team-a", "parameterNotFoundAction": "Deny"}
    assert spec["validationActions"] == ["Deny"]
    meta = binding["metadata"]
    assert meta["labels"][POLICY_UID_LABEL] == UID
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "sagemeter"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "EndpointPolicy",
            "name": "team-a",
            "uid": UID,
            "controller": True,
        }
    ]


def test_binding_names_fit_and_never_collide() -> None:
    long = "p" * 253
    for part in ("names", "labels"):
        name = binding_name(long, part)
        assert len(name) <= 253 and name.endswith(f".{part}.{POLICY_NAME}")
    assert binding_name(long, "names") != binding_name(long[:-1] + "q", "names")
    # "a" with part "names" and a policy called "a.names" with part "labels" differ.
    names = {
        binding_name(p, part) for p in ("a", "a.names", "a.labels") for part in ("names", "labels")
    }
    assert len(names) == 6


# -- the bindings select what the policy selects ---------------------------------------------

VALUES = ("a", "b")
KEYS = ("tenant", "tier")
NAMESPACES = ("n1", "n2", "n3")

label_maps = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)
requirements = st.one_of(
    st.builds(
        lambda k, op, vs: {"key": k, "operator": op, "values": vs},
        st.sampled_from(KEYS),
        st.sampled_from(["In", "NotIn"]),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True),
    ),
    st.builds(
        lambda k, op: {"key": k, "operator": op},
        st.sampled_from(KEYS),
        st.sampled_from(["Exists", "DoesNotExist"]),
    ),
)
label_selectors = st.builds(
    lambda labels, exprs: {
        **({"matchLabels": labels} if labels is not None else {}),
        **({"matchExpressions": exprs} if exprs is not None else {}),
    },
    st.none() | label_maps,
    st.none() | st.lists(requirements, max_size=2),
)
namespace_selectors_ = st.builds(
    lambda names, labels: {
        **({"names": names} if names else {}),
        **({"labelSelector": labels} if labels is not None or not names else {}),
    },
    st.lists(st.sampled_from(NAMESPACES), max_size=2, unique=True),
    st.none() | label_selectors,
)


@settings(max_examples=300, deadline=None)
@given(namespace_selectors_, st.sampled_from(NAMESPACES), label_maps)
def test_bindings_select_exactly_the_policys_namespaces(
    raw: dict[str, Any], namespace: str, labels: dict[str, str]
) -> None:
    chosen = NamespaceSelector.model_validate(raw)
    # The API server gives every namespace this label, with its name.
    seen_labels = {**labels, NAME_LABEL: namespace}
    by_bindings = any(
        label_selector_matches(LabelSelector.model_validate(s), seen_labels)
        for s in namespace_selectors(bindings_for("p", UID, chosen)).values()
    )
    assert by_bindings == selects(chosen, namespace, labels)
