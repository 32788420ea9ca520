"""One ValidatingAdmissionPolicyBinding set per EndpointPolicy (SPEC §5 "Admission").

The shipped ValidatingAdmissionPolicy reads EndpointPolicies as its params; a binding makes one
policy apply to the namespaces it selects (`core.tenancy.admission.bindings_for`: one binding,
or two when both `names` and `labelSelector` are given). Bindings carry an ownerReference to
their policy (they go when it goes) and the label `sagemeter.io/endpoint-policy-uid`, by which
ones a policy no longer wants are found and deleted.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from sagemeter.api.policy import EndpointPolicySpec
from sagemeter.core.tenancy.admission import POLICY_UID_LABEL, bindings_for
from sagemeter.runtime.apiserver import ApiClient, ApiError

log = logging.getLogger("sagemeter.tenancy")
BINDINGS = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"


class BindingKeeper:
    def __init__(self, api: ApiClient | None = None) -> None:
        self._api = api or ApiClient()

    def keep(self, policy: dict[str, Any]) -> None:
        """Make the policy's bindings exactly what it selects now."""
        meta = policy["metadata"]
        try:
            spec = EndpointPolicySpec.model_validate(policy.get("spec") or {})
        except ValidationError:
            return
        wanted = {
            b["metadata"]["name"]: b
            for b in bindings_for(meta["name"], meta["uid"], spec.namespace_selector)
        }
        existing = self._api.list(BINDINGS, {"labelSelector": f"{POLICY_UID_LABEL}={meta['uid']}"})[
            "items"
        ]
        for binding in existing:
            name = binding["metadata"]["name"]
            if name not in wanted:
                self._delete(name)
        current = {b["metadata"]["name"]: b for b in existing}
        for name, body in wanted.items():
            found = current.get(name)
            if found is None:
                self._create(body)
            elif not _same(found.get("spec") or {}, body["spec"]):
                body["metadata"]["resourceVersion"] = found["metadata"]["resourceVersion"]
                self._api.request("PUT", f"{BINDINGS}/{name}", body)
                log.info("updated admission binding %s", name)

    def _create(self, body: dict[str, Any]) -> None:
        try:
            self._api.request("POST", BINDINGS, body)
            log.info("created admission binding %s", body["metadata"]["name"])
        except ApiError as error:
            if error.status != 409:
                raise

    def _delete(self, name: str) -> None:
        try:
            self._api.request("DELETE", f"{BINDINGS}/{name}")
            log.info("deleted admission binding %s", name)
        except ApiError as error:
            if error.status != 404:
                raise


def _same(have: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a binding's spec already says what `wanted` says (the server adds defaults, such
    as `matchPolicy`, that are not compared)."""
    selector = (have.get("matchResources") or {}).get("namespaceSelector") or {}
    return bool(
        have.get("policyName") == wanted["policyName"]
        and have.get("paramRef") == wanted["paramRef"]
        and have.get("validationActions") == wanted["validationActions"]
        and selector == wanted["matchResources"]["namespaceSelector"]
    )
