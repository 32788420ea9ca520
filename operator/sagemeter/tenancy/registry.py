"""The EndpointPolicies and namespace labels in force, and each object's verdict from them.

`Tenancy` is fed by `PolicyWatcher` (list and watch of EndpointPolicies and Namespaces) and
asked by every reconcile pass: `verdict(...)` composes the pure decisions of
`sagemeter.core.tenancy` (selection, effective policy, placement, guardrails). Thread-safe.

It fails closed. Until both kinds have been listed, and whenever the last attempt to list one
failed (401, 403, 404, a timeout), every verdict is `TenancyNotSynced`: an error is never read
as "no policies". A namespace the watch has not brought yet is not a namespace without labels
(its verdict is `TenancyNotSynced` too), and a policy that exists but cannot be read
(`PolicyUnreadable`) holds back every namespace it may select.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sagemeter.api.models import AwsPlacement, ManagedEndpointSpec
from sagemeter.api.policy import EndpointPolicySpec, NamespaceSelector
from sagemeter.core.tenancy.effective import BudgetLimit, budget_limit
from sagemeter.core.tenancy.guardrails import OperatorDefaults
from sagemeter.core.tenancy.selection import Policy, selects
from sagemeter.core.tenancy.verdict import (
    NOT_SYNCED,
    POLICY_UNREADABLE,
    TenancyVerdict,
    tenancy_verdict,
    unsettled,
)

KINDS = ("policies", "namespaces")


@dataclass(frozen=True)
class _Unreadable:
    """A policy whose spec does not parse; `selector` None: not even which namespaces it
    selects can be read, so it may select any."""

    name: str
    selector: NamespaceSelector | None
    error: str


@dataclass
class Tenancy:
    defaults: OperatorDefaults
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _policies: dict[str, Policy] = field(default_factory=dict)
    _unreadable: dict[str, _Unreadable] = field(default_factory=dict)
    _namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    # Per kind: None once listed (and the last list worked), else why not.
    _unsynced: dict[str, str] = field(
        default_factory=lambda: {kind: "not listed yet" for kind in KINDS}
    )

    # ------------------------------------------------------------------ what the watcher feeds

    def put_policy(self, name: str, uid: str, spec: EndpointPolicySpec) -> set[str]:
        """Records a policy; the namespaces whose verdict may have changed."""
        with self._lock:
            old = self._policies.get(name)
            gone = self._unreadable.pop(name, None)
            self._policies[name] = Policy(name, spec, uid)
            return (
                self._selected(old)
                | self._selected(self._policies[name])
                | self._selected_by_unreadable(gone)
            )

    def put_unreadable(self, name: str, selector: NamespaceSelector | None, error: str) -> set[str]:
        """Records a policy that exists but does not parse: it may still select namespaces."""
        with self._lock:
            old = self._policies.pop(name, None)
            self._unreadable[name] = _Unreadable(name, selector, error)
            return self._selected(old) | self._selected_by_unreadable(self._unreadable[name])

    def drop_policy(self, name: str) -> set[str]:
        with self._lock:
            gone = self._unreadable.pop(name, None)
            return self._selected(self._policies.pop(name, None)) | self._selected_by_unreadable(
                gone
            )

    def put_namespace(self, name: str, labels: Mapping[str, str]) -> bool:
        """Records a namespace's labels; True when they changed."""
        with self._lock:
            changed = self._namespaces.get(name) != dict(labels)
            self._namespaces[name] = dict(labels)
            return changed

    def drop_namespace(self, name: str) -> None:
        with self._lock:
            self._namespaces.pop(name, None)

    def replace_namespaces(self, namespaces: Mapping[str, Mapping[str, str]]) -> set[str]:
        """A fresh list: exactly these namespaces exist; those that changed or went."""
        with self._lock:
            changed = {
                name
                for name in set(self._namespaces) | set(namespaces)
                if self._namespaces.get(name)
                != (dict(namespaces[name]) if name in namespaces else None)
            }
            self._namespaces = {name: dict(labels) for name, labels in namespaces.items()}
            return changed

    def listed(self, kind: str) -> bool:
        """A list of `kind` worked; True when this made the whole registry synced."""
        with self._lock:
            was = not self._unsynced
            self._unsynced.pop(kind, None)
            return not was and not self._unsynced

    def failed(self, kind: str, why: str) -> None:
        """Listing `kind` failed: verdicts wait until a list works again."""
        with self._lock:
            self._unsynced[kind] = why

    @property
    def synced(self) -> bool:
        with self._lock:
            return not self._unsynced

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

    def _selected_by_unreadable(self, policy: _Unreadable | None) -> set[str]:
        if policy is None:
            return set()
        if policy.selector is None:
            return set(self._namespaces)
        return {
            name
            for name, labels in self._namespaces.items()
            if selects(policy.selector, name, labels)
        }

    # ------------------------------------------------------------------ what passes ask

    def verdict(
        self, spec: ManagedEndpointSpec, namespace: str, recorded: AwsPlacement | None
    ) -> TenancyVerdict:
        with self._lock:
            problem = self._problem(namespace)
            policies = list(self._policies.values())
            labels = self._namespaces.get(namespace, {})
            defaults = self.defaults
        if problem is not None:
            return problem
        return tenancy_verdict(spec, namespace, labels, policies, defaults, recorded)

    def _problem(self, namespace: str) -> TenancyVerdict | None:
        """Why no verdict can be given for `namespace` now (lock held)."""
        if self._unsynced:
            why = "; ".join(f"{kind}: {reason}" for kind, reason in sorted(self._unsynced.items()))
            return unsettled(
                NOT_SYNCED,
                f"EndpointPolicies and namespaces are not in sync ({why}); nothing is done in AWS"
                " until they are",
            )
        labels = self._namespaces.get(namespace)
        if labels is None:
            return unsettled(
                NOT_SYNCED,
                f"namespace {namespace} has not been seen yet; nothing is done in AWS until its"
                " labels are known",
            )
        for broken in sorted(self._unreadable.values(), key=lambda p: p.name):
            if broken.selector is None or selects(broken.selector, namespace, labels):
                return unsettled(
                    POLICY_UNREADABLE,
                    f"EndpointPolicy {broken.name} may select this namespace and cannot be read"
                    f" ({broken.error}); nothing is done in AWS until it can: correct or delete"
                    " that EndpointPolicy",
                )
        return None

    def policies(self) -> list[Policy]:
        with self._lock:
            return list(self._policies.values())

    def policy_names(self) -> set[str]:
        """Every policy known, readable or not."""
        with self._lock:
            return set(self._policies) | set(self._unreadable)

    def policies_for(self, namespace: str) -> list[Policy]:
        """The policies selecting `namespace`, by name (none while it has not been seen)."""
        with self._lock:
            labels = self._namespaces.get(namespace)
            if labels is None:
                return []
            found = [
                p
                for p in self._policies.values()
                if selects(p.spec.namespace_selector, namespace, labels)
            ]
        return sorted(found, key=lambda p: p.name)

    def namespaces_of(self, name: str) -> list[str]:
        with self._lock:
            return sorted(self._selected(self._policies.get(name)))

    def namespaces(self) -> set[str]:
        with self._lock:
            return set(self._namespaces)

    def budgets(self) -> dict[str, BudgetLimit]:
        """Every policy's budget, by policy name."""
        with self._lock:
            policies = list(self._policies.values())
        return {p.name: limit for p in policies if (limit := budget_limit(p)) is not None}
