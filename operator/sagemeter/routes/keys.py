"""API keys of ``API_KEY`` routes: one key and one usage plan per ManagedEndpoint.

Owns finding, creating and deleting them. Both are named ``sagemeter/<namespace>/<name>`` and
tagged with the owner; a key or plan whose tags name another owner (a same-named object that
was deleted with ``deletionPolicy: Retain``, say) is never reused or deleted. The usage plan is
bound to the REST API's stage, which is what makes API Gateway accept the key there; it exists
per object so that quotas and throttles can later be set per object.

The key's value is returned to the caller (the operator stores it in a Secret) and is never
logged. Callers serialize calls per region (``RouteManager`` holds the region's lock).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sagemeter.aws.apigateway import ApiGatewayGateway
from sagemeter.core import routes as core
from sagemeter.core.endpoint.ownership import Owner

__all__ = ["RouteKeys"]

log = logging.getLogger("sagemeter.routes")


class RouteKeys:
    """API keys and usage plans; remembers each owner's key so that an unchanged ``ensure``
    costs no call."""

    def __init__(self, stage: str) -> None:
        self._stage = stage
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[str, str]] = {}  # (region, uid) -> (id, value)
        # Every key and plan of a region, listed once (then kept current by our own changes):
        # a restart with a thousand API_KEY routes costs two paged listings, not a thousand.
        self._keys: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._plans: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def ensure(
        self,
        apigateway: ApiGatewayGateway,
        api_id: str,
        owner: Owner,
        stage_ready: Callable[[], None],
    ) -> tuple[str, str, bool]:
        """The owner's key ``(id, value, created_now)``, in a usage plan bound to ``api_id``'s
        stage.

        ``stage_ready`` is called before binding a plan to the stage: API Gateway refuses a
        usage plan that names a stage not deployed yet.
        """
        cache_key = (apigateway.region, owner.uid)
        with self._lock:
            known = self._known.get(cache_key)
        if known is not None:
            return (*known, False)
        key = self._find_key(apigateway, owner)
        created = key is None
        if key is None:
            key = apigateway.create_api_key(
                core.api_key_name(owner),
                f"sagemeter: API key of ManagedEndpoint {owner.namespace}/{owner.name}",
                owner.tags(),
            )
            self._listed_keys(apigateway).setdefault(str(key["name"]), []).append(key)
            log.info("created API key %s for %s/%s", key["id"], owner.namespace, owner.name)
        plan = self._find_plan(apigateway, owner)
        wanted = {"apiId": api_id, "stage": self._stage}
        if plan is None:
            stage_ready()
            plan = apigateway.create_usage_plan(
                core.usage_plan_name(owner),
                f"sagemeter: usage plan of ManagedEndpoint {owner.namespace}/{owner.name}",
                api_id,
                self._stage,
                owner.tags(),
            )
            self._listed_plans(apigateway).setdefault(str(plan["name"]), []).append(plan)
        elif wanted not in _stages(plan):
            stage_ready()
            apigateway.add_usage_plan_stage(str(plan["id"]), api_id, self._stage)
            with self._lock:
                plan["apiStages"] = [*_stages(plan), wanted]
        if str(key["id"]) not in apigateway.usage_plan_key_ids(str(plan["id"])):
            apigateway.create_usage_plan_key(str(plan["id"]), str(key["id"]))
        result = (str(key["id"]), str(key["value"]))
        with self._lock:
            self._known[cache_key] = result
        return (*result, created)

    def remove(self, apigateway: ApiGatewayGateway, owner: Owner) -> bool:
        """Deletes the owner's usage plan and key, if any; True when something was deleted."""
        with self._lock:
            self._known.pop((apigateway.region, owner.uid), None)
        removed = False
        plan = self._find_plan(apigateway, owner)
        if plan is not None:
            # Unbind the stages first: API Gateway refuses to delete a plan still bound.
            # The listed plan learns each unbinding, so a retry after a refused delete does not
            # unbind again what AWS no longer has.
            for stage in _stages(plan):
                apigateway.remove_usage_plan_stage(str(plan["id"]), stage["apiId"], stage["stage"])
                with self._lock:
                    plan["apiStages"] = [s for s in _stages(plan) if s != stage]
            removed = apigateway.delete_usage_plan(str(plan["id"])) or removed
            self._drop(self._listed_plans(apigateway), plan)
        key = self._find_key(apigateway, owner)
        if key is not None:
            removed = apigateway.delete_api_key(str(key["id"])) or removed
            self._drop(self._listed_keys(apigateway), key)
        if removed:
            log.info("deleted API key and usage plan of %s/%s", owner.namespace, owner.name)
        return removed

    def _listed_keys(self, apigateway: ApiGatewayGateway) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            listed = self._keys.get(apigateway.region)
        if listed is None:
            listed = _by_name(apigateway.all_api_keys())
            with self._lock:
                listed = self._keys.setdefault(apigateway.region, listed)
        return listed

    def _listed_plans(self, apigateway: ApiGatewayGateway) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            listed = self._plans.get(apigateway.region)
        if listed is None:
            listed = _by_name(apigateway.usage_plans())
            with self._lock:
                listed = self._plans.setdefault(apigateway.region, listed)
        return listed

    def _drop(self, listed: dict[str, list[dict[str, Any]]], item: dict[str, Any]) -> None:
        with self._lock:
            same = listed.get(str(item.get("name")), [])
            listed[str(item.get("name"))] = [i for i in same if i.get("id") != item.get("id")]

    def _find_key(self, apigateway: ApiGatewayGateway, owner: Owner) -> dict[str, Any] | None:
        for key in self._listed_keys(apigateway).get(core.api_key_name(owner), []):
            if owner.owns(dict(key.get("tags") or {})):
                return key
        return None

    def _find_plan(self, apigateway: ApiGatewayGateway, owner: Owner) -> dict[str, Any] | None:
        for plan in self._listed_plans(apigateway).get(core.usage_plan_name(owner), []):
            if owner.owns(dict(plan.get("tags") or {})):
                return plan
        return None


def _by_name(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        found.setdefault(str(item.get("name")), []).append(item)
    return found


def _stages(plan: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"apiId": str(stage["apiId"]), "stage": str(stage["stage"])}
        for stage in plan.get("apiStages") or []
    ]
