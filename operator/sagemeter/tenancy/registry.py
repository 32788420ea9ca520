"""The EndpointPolicies and namespace labels in force, and each object's verdict from them.

`Tenancy` is fed by `PolicyWatcher` (list and watch of EndpointPolicies and Namespaces) and
asked by every reconcile pass: `verdict(...)` composes the pure decisions of
`sagemeter.core.tenancy` (selection, effective policy, placement, guardrails). Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sagemeter.api.models import AwsPlacement, ManagedEndpointSpec
from sagemeter.api.policy import EndpointPolicySpec
from sagemeter.core.tenancy.effective import BudgetLimit, budget_limit
from sagemeter.core.tenancy.guardrails import OperatorDefaults
from sagemeter.core.tenancy.selection import Policy, selects
from sagemeter.core.tenancy.verdict import Verdict, tenancy_verdict


@dataclass
class Tenancy:
    defaults: OperatorDefaults
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _policies: dict[str, Policy] = field(default_factory=dict)
    _namespaces: dict[str, dict[str, str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ what the watcher feeds

    def put_policy(self, name: str, uid: str, spec: EndpointPolicySpec) -> set[str]:
        """Records a policy; the namespaces whose verdict may have changed."""
        with self._lock:
            old = self._policies.get(name)
            self._policies[name] = Policy(name, spec, uid)
            return self._selected(old) | self._selected(self._policies[name])

    def drop_policy(self, name: str) -> set[str]:
        with self._lock:
            return self._selected(self._policies.pop(name, None))

    def put_namespace(self, name: str, labels: Mapping[str, str]) -> bool:
        """Records a namespace's labels; True when they changed."""
        with self._lock:
            changed = self._namespaces.get(name) != dict(labels)
            self._namespaces[name] = dict(labels)
            return changed

    def drop_namespace(self, name: str) -> None:
        with self._lock:
            self._namespaces.pop(name, None)

    def _selected(self, policy: Policy | None) -> set[str]:
        if policy is None:
            return set()
        return {
            name
            for name, labels in self._namespaces.items()
            if selects(policy.spec.namespace_selector, name, labels)
        }

    def learn_account(self, account_id: str) -> None:
        """The operator's own account, once known (asked on the first pass, not at start)."""
        with self._lock:
            self.defaults = replace(self.defaults, account_id=account_id)

    # ------------------------------------------------------------------ what passes ask

    def verdict(
        self, spec: ManagedEndpointSpec, namespace: str, recorded: AwsPlacement | None
    ) -> Verdict:
        with self._lock:
            policies = list(self._policies.values())
            labels = self._namespaces.get(namespace, {"kubernetes.io/metadata.name": namespace})
            defaults = self.defaults
        return tenancy_verdict(spec, namespace, labels, policies, defaults, recorded)

    def policies(self) -> list[Policy]:
        with self._lock:
            return list(self._policies.values())

    def policies_for(self, namespace: str) -> list[Policy]:
        """The policies selecting `namespace`, by name."""
        with self._lock:
            labels = self._namespaces.get(namespace, {"kubernetes.io/metadata.name": namespace})
            found = [
                p
                for p in self._policies.values()
                if selects(p.spec.namespace_selector, namespace, labels)
            ]
        return sorted(found, key=lambda p: p.name)

    def namespaces_of(self, name: str) -> list[str]:
        with self._lock:
            return sorted(self._selected(self._policies.get(name)))

    def budgets(self) -> dict[str, BudgetLimit]:
        """Every policy's budget, by policy name."""
        with self._lock:
            policies = list(self._policies.values())
        return {p.name: limit for p in policies if (limit := budget_limit(p)) is not None}
