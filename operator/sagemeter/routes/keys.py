"""API keys of ``API_KEY`` routes: one key per ManagedEndpoint, in its namespace's usage plan,
which is bound to the stage of the namespace's REST API and nothing else.

Owns finding, creating and deleting keys and usage plans. API Gateway accepts a key on every
key-required method of every stage its usage plans are bound to, so a namespace's keys live in
one plan (``sagemeter/<namespace>``, tagged with the namespace) bound only to its own REST API's
stage (``core.route_homes``): a key opens the routes of its namespace, never another's. A key is
named ``sagemeter/<namespace>/<name>`` and tagged with its owner; a key whose tags name another
owner (a same-named object deleted with ``deletionPolicy: Retain``) is never reused or deleted.

Keys join and leave the plan with ``CreateUsagePlanKey`` / ``DeleteUsagePlanKey``. Changing a
plan's stages takes an ``UpdateUsagePlan``, which API Gateway allows once per 20 s per account
(https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html), so it is only
needed when a whole namespace's REST API goes (``remove_plans``), and to delete the per-object
plans sagemeter made before namespace plans existed (bound to its shared REST API of old): those
are retired in the background at that pace (``retire``), once their owner's route serves from
its namespace's API, so the old key binding keeps working until the route has moved.

Keys and plans are listed once per (account, region, namespace), as the namespace's identity and
by name (``GetApiKeys`` with a ``nameQuery`` prefix): a namespace never lists another's keys.
The key's value is returned to the caller (the operator stores it in a Secret) and is never
logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sagemeter.aws.apigateway import ApiGatewayGateway
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.core import routes as core
from sagemeter.core.endpoint.ownership import Owner, cluster_tags
from sagemeter.core.route_homes import namespace_api_tags

__all__ = ["KeyState", "RouteKeys"]

log = logging.getLogger("sagemeter.routes")

Scope = tuple[str, str, str]  # (account, region, namespace)
RETIRE_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class KeyState:
    """An owner's key, and whether its namespace's plan binds it to the stage already."""

    key_id: str
    value: str = field(repr=False)
    created: bool
    bound: bool


def namespace_plan_name(namespace: str) -> str:
    return f"sagemeter/{namespace}"


class RouteKeys:
    def __init__(self, stage: str, cluster: str | None = None) -> None:
        self._stage = stage
        self._cluster = cluster
        self._lock = threading.Lock()
        # (account, region, uid) -> (key id, value, api id its plan is bound to)
        self._known: dict[tuple[str, str, str], tuple[str, str, str]] = {}
        self._keys: dict[Scope, list[dict[str, Any]]] = {}
        self._plans: dict[Scope, list[dict[str, Any]]] = {}
        self._retiring: dict[str, tuple[ApiGatewayGateway, Scope, dict[str, Any]]] = {}
        self._reaper: threading.Thread | None = None

    # ------------------------------------------------------------------ keys

    def ensure(
        self,
        apigateway: ApiGatewayGateway,
        account: str,
        api_id: str,
        owner: Owner,
        stage_ready: bool,
    ) -> KeyState:
        """The owner's key, in its namespace's plan bound to ``api_id``'s stage once
        ``stage_ready`` (API Gateway refuses a plan naming a stage that was never deployed)."""
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
        plan = self._namespace_plan(apigateway, scope, api_id)
        if key_id not in apigateway.usage_plan_key_ids(str(plan["id"])):
            apigateway.create_usage_plan_key(str(plan["id"]), key_id)
        with self._lock:
            self._known[known_key] = (key_id, value, api_id)
        return KeyState(key_id, value, created, True)

    def remove(self, apigateway: ApiGatewayGateway, account: str, owner: Owner) -> bool:
        """Deletes the owner's key (after taking it out of its namespace's plans); per-object
        plans of old go in the background. True when something was deleted."""
        region = apigateway.region
        scope = (account, region, owner.namespace)
        with self._lock:
            self._known.pop((account, region, owner.uid), None)
        for plan in self._owned_plans(apigateway, scope, owner):
            self.retire(apigateway, scope, plan)
        key = self._find_key(apigateway, scope, owner)
        if key is None:
            return False
        key_id = str(key["id"])
        for plan in self._namespace_plans(apigateway, scope):
            if key_id in apigateway.usage_plan_key_ids(str(plan["id"])):
                apigateway.delete_usage_plan_key(str(plan["id"]), key_id)
        removed = apigateway.delete_api_key(key_id)
        with self._lock:
            self._keys[scope] = [k for k in self._keys[scope] if k.get("id") != key_id]
        if removed:
            log.info("deleted the API key of %s/%s", owner.namespace, owner.name)
        return removed

    # ------------------------------------------------------------------ plans

    def prune(
        self,
        apigateway: ApiGatewayGateway,
        account: str,
        owner: Owner,
        removable: Callable[[str], bool],
    ) -> None:
        """Retires the owner's per-object plans of old once ``removable(api_id)`` says none of
        its routes is served from their REST APIs any more."""
        scope = (account, apigateway.region, owner.namespace)
        for plan in self._owned_plans(apigateway, scope, owner):
            if all(removable(stage["apiId"]) for stage in _stages(plan)):
                self.retire(apigateway, scope, plan)

    def remove_plans(
        self, apigateway: ApiGatewayGateway, account: str, namespace: str, api_id: str
    ) -> None:
        """Deletes the namespace's plans bound to ``api_id`` (its REST API is about to go). Raises
        ``Paced`` while UpdateUsagePlan's slot is far: the caller tries again."""
        scope = (account, apigateway.region, namespace)
        for plan in self._namespace_plans(apigateway, scope):
            # One left unbound by a deletion AWS refused halfway is garbage too.
            if all(stage["apiId"] == api_id for stage in _stages(plan)):
                self._delete_plan(apigateway, scope, plan)

    def retire(self, apigateway: ApiGatewayGateway, scope: Scope, plan: dict[str, Any]) -> None:
        """Deletes a plan in the background, at UpdateUsagePlan's pace."""
        with self._lock:
            self._retiring.setdefault(str(plan["id"]), (apigateway, scope, plan))
            if self._reaper is None:
                self._reaper = threading.Thread(
                    target=self._reap, name="sagemeter-usage-plans", daemon=True
                )
                self._reaper.start()

    def retiring(self) -> int:
        with self._lock:
            return len(self._retiring)

    def _reap(self) -> None:
        while True:
            with self._lock:
                pending = list(self._retiring.items())
            if not pending:
                with self._lock:
                    if not self._retiring:
                        self._reaper = None
                        return
                continue
            for plan_id, (apigateway, scope, plan) in pending:
                try:
                    self._delete_plan(apigateway, scope, plan)
                except AwsError as error:
                    if error.kind not in (ErrorKind.THROTTLED, ErrorKind.RETRYABLE):
                        log.warning("cannot delete usage plan %s: %s", plan_id, error)
                        with self._lock:
                            self._retiring.pop(plan_id, None)
                    continue
                except Exception:  # a background thread must outlive any one failure
                    log.exception("deleting usage plan %s failed", plan_id)
                    continue
                with self._lock:
                    self._retiring.pop(plan_id, None)
            time.sleep(RETIRE_RETRY_SECONDS)

    def _namespace_plan(
        self, apigateway: ApiGatewayGateway, scope: Scope, api_id: str
    ) -> dict[str, Any]:
        wanted = {"apiId": api_id, "stage": self._stage}
        for plan in self._namespace_plans(apigateway, scope):
            if wanted in _stages(plan):
                return plan
        namespace = scope[2]
        plan = apigateway.create_usage_plan(
            namespace_plan_name(namespace),
            f"sagemeter: the API keys of namespace {namespace}, for its REST API only",
            api_id,
            self._stage,
            {**namespace_api_tags(namespace), **cluster_tags(self._cluster)},
        )
        with self._lock:
            self._plans[scope].append(plan)
        return plan

    def _delete_plan(
        self, apigateway: ApiGatewayGateway, scope: Scope, plan: dict[str, Any]
    ) -> None:
        # Unbind the stages first: API Gateway refuses to delete a plan still bound. The listed
        # plan learns each unbinding, so a retry after a refused delete does not unbind again
        # what AWS no longer has.
        for stage in _stages(plan):
            apigateway.remove_usage_plan_stage(str(plan["id"]), stage["apiId"], stage["stage"])
            with self._lock:
                plan["apiStages"] = [s for s in _stages(plan) if s != stage]
        apigateway.delete_usage_plan(str(plan["id"]))
        with self._lock:
            listed = self._plans.get(scope, [])
            self._plans[scope] = [p for p in listed if p.get("id") != plan.get("id")]
        log.info("deleted usage plan %s (%s)", plan.get("id"), plan.get("name"))

    # ------------------------------------------------------------------ lists

    def _listed_keys(self, apigateway: ApiGatewayGateway, scope: Scope) -> list[dict[str, Any]]:
        with self._lock:
            listed = self._keys.get(scope)
        if listed is None:
            listed = apigateway.api_keys(f"sagemeter/{scope[2]}/")
            with self._lock:
                listed = self._keys.setdefault(scope, listed)
        return listed

    def _listed_plans(self, apigateway: ApiGatewayGateway, scope: Scope) -> list[dict[str, Any]]:
        with self._lock:
            listed = self._plans.get(scope)
        if listed is None:
            namespace = scope[2]
            listed = [
                p
                for p in apigateway.usage_plans()
                if p.get("name") == namespace_plan_name(namespace)
                or str(p.get("name", "")).startswith(f"{namespace_plan_name(namespace)}/")
            ]
            with self._lock:
                listed = self._plans.setdefault(scope, listed)
        return listed

    def _namespace_plans(self, apigateway: ApiGatewayGateway, scope: Scope) -> list[dict[str, Any]]:
        listed = self._listed_plans(apigateway, scope)
        name, tags = namespace_plan_name(scope[2]), namespace_api_tags(scope[2])
        with self._lock:
            return [
                p
                for p in listed
                if p.get("name") == name
                and all((p.get("tags") or {}).get(k) == v for k, v in tags.items())
            ]

    def _owned_plans(
        self, apigateway: ApiGatewayGateway, scope: Scope, owner: Owner
    ) -> list[dict[str, Any]]:
        """The owner's per-object plans of old."""
        listed = self._listed_plans(apigateway, scope)
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
            found = _owners_key(listed, name, owner)
        if found is not None:
            return found
        # The scope's listing is kept from its first use: a key made since then by another
        # process (one killed before it recorded the key) or under another name of the same
        # account (before the operator learnt its own) is looked up by its own name before
        # concluding there is none, so no key is made twice and none is left behind.
        found = _owners_key(apigateway.api_keys(name), name, owner)
        if found is not None:
            with self._lock:
                self._keys[scope].append(found)
        return found


def _owners_key(keys: list[dict[str, Any]], name: str, owner: Owner) -> dict[str, Any] | None:
    for key in keys:
        if key.get("name") == name and owner.owns(dict(key.get("tags") or {})):
            return key
    return None


def _stages(plan: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"apiId": str(stage["apiId"]), "stage": str(stage["stage"])}
        for stage in plan.get("apiStages") or []
    ]
