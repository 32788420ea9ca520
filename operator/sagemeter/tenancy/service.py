"""Tenancy wired into the running operator: the watcher, the bindings, the budget book, and
what each EndpointPolicy's status says.

Started by the kopf start-up handler. Policy and namespace changes wake the objects of the
namespaces they concern (`wake_namespaces`); the book wakes waiting objects when room appears
(`wake`). Every `REPORT_SECONDS` each policy's status gets the namespaces it selects, the spend
it sees and how many endpoints wait for it (patched only when that changed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.core.endpoint.desired import desired_state
from sagemeter.core.meter.pricing import endpoint_hourly, format_usd
from sagemeter.core.meter.times import parse_time
from sagemeter.core.tenancy.budget import Activity, Candidate
from sagemeter.core.tenancy.guardrails import OperatorDefaults, expiry_policy
from sagemeter.runtime import metrics
from sagemeter.runtime.apiserver import ApiError
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.prices import load_prices
from sagemeter.runtime.settings import Settings
from sagemeter.tenancy.bindings import BindingKeeper
from sagemeter.tenancy.book import BudgetBook
from sagemeter.tenancy.registry import Tenancy
from sagemeter.tenancy.watcher import PolicyWatcher

log = logging.getLogger("sagemeter.tenancy")
REPORT_SECONDS = 2.0
READY_TIMEOUT = 30.0


class TenancyService:
    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        account_id: str | None,
        wake: Callable[[str], None],
        wake_namespaces: Callable[[set[str]], None],
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.prices = load_prices(settings.price_file)
        self.tenancy = Tenancy(
            OperatorDefaults(
                region=settings.region,
                execution_role_arn=settings.execution_role_arn,
                account_id=account_id,
                require_policy=settings.require_policy,
            )
        )
        self.book = BudgetBook(wake)
        self.bindings = BindingKeeper(kube.api)
        self._wake_namespaces = wake_namespaces
        self.watcher = PolicyWatcher(self.tenancy, self._changed, self._policy, kube.api)
        self._stop = threading.Event()
        self._reported: dict[str, dict[str, Any]] = {}
        metrics.BUDGETS.source = self._budget_metrics

    def start(self) -> None:
        self.watcher.start()
        threading.Thread(target=self._run, name="sagemeter-tenancy", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.watcher.stop()

    # ------------------------------------------------------------------ changes

    def _changed(self, namespaces: set[str]) -> None:
        self.book.set_budgets(self.tenancy.budgets())
        if namespaces:
            self._wake_namespaces(namespaces)

    def _policy(self, item: dict[str, Any] | None, name: str) -> None:
        if item is None:
            self._reported.pop(name, None)
            return  # its bindings go with it (ownerReference)
        try:
            self.bindings.keep(item)
        except ApiError as error:
            log.warning(
                "cannot keep the admission bindings of EndpointPolicy %s: %s", name, error.reason
            )

    # ------------------------------------------------------------------ the book's first count

    def _run(self) -> None:
        if not self.watcher.wait_ready(READY_TIMEOUT):
            log.warning("EndpointPolicies not listed after %.0fs; budgets wait", READY_TIMEOUT)
            self.watcher.wait_ready(float("inf"))
        while not self.tenancy.synced and not self._stop.wait(REPORT_SECONDS):
            pass  # a list failed since: the seed needs every policy and namespace
        self.book.set_budgets(self.tenancy.budgets())
        self._seed()
        while not self._stop.wait(REPORT_SECONDS):
            try:
                self._report()
            except Exception:  # reporting must never stop
                log.exception("reporting EndpointPolicy status failed")

    def _seed(self) -> None:
        """Count what may run now under each budget, before any waiter may start.

        Nothing here reads an object's status (tenants may write it): every object whose spec
        wants it running now (not suspended, expired or out of its schedule) counts as running
        at its spec's price, since its creation, until its own pass reports what SageMaker
        shows. Counting too much only delays a start by one pass; too little would start one
        over budget."""
        runners: list[Candidate] = []
        now = datetime.now(UTC)
        for item in self.kube.endpoints():  # a page at a time: only candidates are kept
            try:
                spec = ManagedEndpointSpec.model_validate(item.get("spec") or {})
            except ValidationError:
                continue
            meta = item["metadata"]
            effective = self.tenancy.verdict(spec, meta["namespace"], None).effective
            if effective is None or not effective.budgets:
                continue
            created = parse_time(meta["creationTimestamp"])
            policy = expiry_policy(self.settings.expiry_policy, effective)
            if not desired_state(spec, created, now, policy).running:
                continue
            runners.append(
                Candidate(
                    meta["uid"],
                    frozenset(b.policy for b in effective.budgets),
                    endpoint_hourly(spec, self.prices),
                    Activity.RUNNING,
                    created,
                    meta["namespace"],
                )
            )
        self.book.seed(runners)
        log.info("budgets: %d endpoints counted until their first pass", len(runners))

    # ------------------------------------------------------------------ policy status

    def _report(self) -> None:
        spend = self.book.spend()
        now = datetime.now(UTC)
        for policy in self.tenancy.policies():
            used, waiting = spend.get(policy.name, (Decimal(0), 0))
            wanted = {
                "namespaces": len(self.tenancy.namespaces_of(policy.name)),
                "usdPerHour": format_usd(used) if policy.spec.budget else None,
                "waiting": waiting if policy.spec.budget else None,
            }
            if self._reported.get(policy.name) == wanted:
                continue
            self.kube.patch_policy_status(
                policy.name,
                {
                    **wanted,
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "Applied",
                            "message": f"selects {wanted['namespaces']} namespace(s)",
                            "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        }
                    ],
                },
            )
            self._reported[policy.name] = wanted

    def _budget_metrics(self) -> dict[str, tuple[Decimal, Decimal]]:
        spend = self.book.spend()
        return {
            name: (Decimal(limit.usd_per_hour), spend.get(name, (Decimal(0), 0))[0])
            for name, limit in self.tenancy.budgets().items()
        }
