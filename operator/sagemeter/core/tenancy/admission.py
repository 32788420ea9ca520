"""The ValidatingAdmissionPolicyBindings the operator keeps for each EndpointPolicy.

    bindings_for(policy_name, policy_uid, namespace_selector) -> list[dict]

A binding applies the shipped admission policy (`sagemeter.api.admission`) with
one EndpointPolicy as its parameter, to the namespaces its `namespaceSelector`
selects. A binding has ONE `namespaceSelector`, whose requirements are ANDed,
while a policy selects `names` OR `labelSelector`. So:

* names only: one binding, `kubernetes.io/metadata.name In names` (the API
  server sets that label on every namespace to its name);
* labelSelector only: one binding with that selector (`{}`: every namespace);
* both: two bindings, one for each. A namespace that both select is checked
  twice with the same parameter, which gives the same answer as once. (When the
  labelSelector is `{}`, it selects every namespace and the names binding is
  dropped.)

Each binding: `paramRef.name` the policy, `parameterNotFoundAction: Deny`,
`validationActions: [Deny]`, an ownerReference to the policy (so it goes when
the policy goes), and the label `sagemeter.io/endpoint-policy-uid` by which the
operator finds the bindings of a policy and deletes those no longer wanted.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from sagemeter.api.admission import POLICY_NAME
from sagemeter.api.common import GROUP, POLICY_KIND, VERSION
from sagemeter.api.policy import LabelSelector, NamespaceSelector

NAME_LABEL: Final = "kubernetes.io/metadata.name"
POLICY_UID_LABEL: Final = f"{GROUP}/endpoint-policy-uid"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "sagemeter"}
# Object names are DNS subdomains: at most 253 characters.
_MAX_NAME: Final = 253


def binding_name(policy_name: str, part: str) -> str:
    """`<policy>.<part>.endpointpolicies.sagemeter.io`, cut with a hash to 253 characters.

    `part` (names | labels) is always present, so two policies never share a name:
    the suffix is fixed and the part before it ends in the part's own word.
    """
    suffix = f".{part}.{POLICY_NAME}"
    room = _MAX_NAME - len(suffix)
    if len(policy_name) <= room:
        return policy_name + suffix
    digest = hashlib.sha256(policy_name.encode()).hexdigest()[:10]
    head = policy_name[: room - len(digest) - 1].rstrip(".-")
    return f"{head}-{digest}{suffix}"


def _selector(selector: LabelSelector) -> dict[str, Any]:
    wire = selector.model_dump(by_alias=True, exclude_none=True)
    return {key: value for key, value in wire.items() if value}


def _binding(
    name: str, policy_name: str, policy_uid: str, namespace_selector: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {
            "name": name,
            "labels": {**MANAGED_BY, POLICY_UID_LABEL: policy_uid},
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": POLICY_KIND,
                    "name": policy_name,
                    "uid": policy_uid,
                    "controller": True,
                }
            ],
        },
        "spec": {
            "policyName": POLICY_NAME,
            "paramRef": {"name": policy_name, "parameterNotFoundAction": "Deny"},
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": namespace_selector},
        },
    }


def bindings_for(
    policy_name: str, policy_uid: str, namespace_selector: NamespaceSelector
) -> list[dict[str, Any]]:
    """The bindings that together select exactly the policy's namespaces (one or two)."""
    labels = namespace_selector.label_selector
    selectors: list[tuple[str, dict[str, Any]]] = []
    if labels is not None:
        selectors.append(("labels", _selector(labels)))
    everything = labels is not None and not _selector(labels)
    if namespace_selector.names and not everything:
        by_name = {"key": NAME_LABEL, "operator": "In", "values": list(namespace_selector.names)}
        selectors.insert(0, ("names", {"matchExpressions": [by_name]}))
    return [
        _binding(binding_name(policy_name, part), policy_name, policy_uid, selector)
        for part, selector in selectors
    ]
