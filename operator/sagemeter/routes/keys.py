"""API keys of ``API_KEY`` routes: one key per ManagedEndpoint, in a usage plan bound to the
stage of its namespace's REST API only.

Owns finding, creating, moving and deleting them. Keys and plans are named
``sagemeter/<namespace>/<name>`` and tagged with the owner; a key or plan whose tags name another
owner (a same-named object that was deleted with ``deletionPolicy: Retain``, say) is never
reused or deleted. A usage plan is what makes API Gateway accept a key on a stage, and it
accepts it on every key-required method of that stage: so a plan is only ever bound to the
stage of its owner's namespace REST API (``core.route_homes``), one plan per (owner, REST API).

When a route moves to another REST API (sagemeter's shared REST API of old, to the namespace's),
the owner gets a new plan bound to the new stage, with the same key, before the route moves, so
the key keeps working throughout; the old plan goes once no route of the owner is left in the
old REST API (``prune``). A new plan costs a ``CreateUsagePlan``, not an ``UpdateUsagePlan``,
which API Gateway allows once per 20 s per account.

Keys and plans are listed once per (account, region, namespace), as the namespace's identity and
by name (``GetApiKeys`` with a ``nameQuery`` prefix): a namespace never lists another's keys.
The key's value is returned to the caller (the operator stores it in a Secret) and is never
logged. Callers serialize calls per REST API (``RouteManager`` holds its lock); the lists are
guarded here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sagemeter.aws.apigateway import ApiGatewayGateway
from sagemeter.core import routes as core
from sagemeter.core.endpoint.ownership import Owner

__all__ = ["KeyState", "RouteKeys"]

log = logging.getLogger("sagemeter.routes")

Scope = tuple[str, str, str]  # (account, region, namespace)


class KeyState:
    """An owner's key, and whether its plan binds it to the wanted stage already."""

    def __init__(self, key_id: str, value: str, created: bool, bound: bool) -> None:
        self.key_id = key_id
        self.value = value
        self.created = created
        self.bound = bound

    def __repr__(self) -> str:  # the value is a secret
        return f"KeyState({self.key_id}, created={self.created}, bound={self.bound})"


class RouteKeys:
    def __init__(self, stage: str) -> None:
        self._stage = stage
        self._lock = threading.Lock()
        # (account, region, uid) -> (key id, value, api id its plan is bound to)
        self._known: dict[tuple[str, str, str], tuple[str, str, str]] = {}
        self._keys: dict[Scope, list[dict[str, Any]]] = {}
        self._plans: dict[Scope, list[dict[str, Any]]] = {}

    # ------------------------------------------------------------------ public

    def ensure(
        self,
        apigateway: ApiGatewayGateway,
        account: str,
        api_id: str,
        owner: Owner,
        stage_ready: bool,
    ) -> KeyState:
        """The owner's key, in a plan bound to ``api_id``'s stage once ``stage_ready`` (API
        Gateway refuses a plan naming a stage that was never deployed)."""
        region = apigateway.region
        known_key = (account, region, owner.uid)
        with self._lock:
            known = self._known.get(known_key)
        if known is not None and known[2] == api_id:
            return KeyState(known[0], known[1], False, True)
        scope = (account, region, owner.namespace)
        key = self._find_key(apigateway, scope, owner)
        created = key is None
        if key is None:
            key = apigateway.create_api_key(
                core.api_key_name(owner),
                f"sagemeter: API key of ManagedEndpoint {owner.namespace}/{owner.name}",
                owner.tags(),
            )
            with self._lock:
                self._keys[scope].append(key)
            log.info("created API key %s for %s/%s", key["id"], owner.namespace, owner.name)
        key_id, value = str(key["id"]), str(key["value"])
        if not stage_ready:
            return KeyState(key_id, value, created, False)
        wanted = {"apiId": api_id, "stage": self._stage}
        plan = next(
            (p for p in self._owned_plans(apigateway, scope, owner) if wanted in _stages(p)), None
        )
        if plan is None:
            plan = apigateway.create_usage_plan(
                core.usage_plan_name(owner),
                f"sagemeter: usage plan of ManagedEndpoint {owner.namespace}/{owner.name}",
                api_id,
                self._stage,
                owner.tags(),
            )
            with self._lock:
                self._plans[scope].append(plan)
        if key_id not in apigateway.usage_plan_key_ids(str(plan["id"])):
            apigateway.create_usage_plan_key(str(plan["id"]), key_id)
        with self._lock:
            self._known[known_key] = (key_id, value, api_id)
        return KeyState(key_id, value, created, True)

    def prune(
        self,
        apigateway: ApiGatewayGateway,
        account: str,
        owner: Owner,
        keep: str,
        removable: Callable[[str], bool],
    ) -> bool:
        """Deletes the owner's plans bound elsewhere than REST API ``keep``, once
        ``removable(api_id)`` says the owner has no route left there; True when one went."""
        scope = (account, apigateway.region, owner.namespace)
        removed = False
        for plan in self._owned_plans(apigateway, scope, owner):
            apis = {stage["apiId"] for stage in _stages(plan)}
            if keep in apis or not all(removable(api) for api in apis):
                continue
            removed = self._delete_plan(apigateway, scope, plan) or removed
        return removed

    def remove(self, apigateway: ApiGatewayGateway, account: str, owner: Owner) -> bool:
        """Deletes the owner's usage plans and key, if any; True when something was deleted."""
        region = apigateway.region
        scope = (account, region, owner.namespace)
        with self._lock:
            self._known.pop((account, region, owner.uid), None)
        removed = False
        for plan in self._owned_plans(apigateway, scope, owner):
            removed = self._delete_plan(apigateway, scope, plan) or removed
        key = self._find_key(apigateway, scope, owner)
        if key is not None:
            removed = apigateway.delete_api_key(str(key["id"])) or removed
            with self._lock:
                self._keys[scope] = [k for k in self._keys[scope] if k.get("id") != key["id"]]
        if removed:
            log.info("deleted API key and usage plans of %s/%s", owner.namespace, owner.name)
        return removed

    # ------------------------------------------------------------------ lists

    def _delete_plan(
        self, apigateway: ApiGatewayGateway, scope: Scope, plan: dict[str, Any]
    ) -> bool:
        # Unbind the stages first: API Gateway refuses to delete a plan still bound. The listed
        # plan learns each unbinding, so a retry after a refused delete does not unbind again
        # what AWS no longer has.
        for stage in _stages(plan):
            apigateway.remove_usage_plan_stage(str(plan["id"]), stage["apiId"], stage["stage"])
            with self._lock:
                plan["apiStages"] = [s for s in _stages(plan) if s != stage]
        deleted = apigateway.delete_usage_plan(str(plan["id"]))
        with self._lock:
            self._plans[scope] = [p for p in self._plans[scope] if p.get("id") != plan.get("id")]
        return deleted

    def _listed_keys(self, apigateway: ApiGatewayGateway, scope: Scope) -> list[dict[str, Any]]:
        with self._lock:
            listed = self._keys.get(scope)
        if listed is None:
            listed = apigateway.api_keys(f"sagemeter/{scope[2]}/")
            with self._lock:
                listed = self._keys.setdefault(scope, listed)
        return listed

    def _owned_plans(
        self, apigateway: ApiGatewayGateway, scope: Scope, owner: Owner
    ) -> list[dict[str, Any]]:
        with self._lock:
            listed = self._plans.get(scope)
        if listed is None:
            prefix = f"sagemeter/{scope[2]}/"
            listed = [
                p for p in apigateway.usage_plans() if str(p.get("name", "")).startswith(prefix)
            ]
            with self._lock:
                listed = self._plans.setdefault(scope, listed)
        name = core.usage_plan_name(owner)
        with self._lock:
            return [
                p for p in listed if p.get("name") == name and owner.owns(dict(p.get("tags") or {}))
            ]

    def _find_key(
        self, apigateway: ApiGatewayGateway, scope: Scope, owner: Owner
    ) -> dict[str, Any] | None:
        name = core.api_key_name(owner)
        listed = self._listed_keys(apigateway, scope)
        with self._lock:
            for key in listed:
                if key.get("name") == name and owner.owns(dict(key.get("tags") or {})):
                    return key
        return None


def _stages(plan: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"apiId": str(stage["apiId"]), "stage": str(stage["stage"])}
        for stage in plan.get("apiStages") or []
    ]
