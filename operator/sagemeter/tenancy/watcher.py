"""Keep `Tenancy` current: list and watch EndpointPolicies and Namespaces.

One daemon thread per kind: a list, then a watch from that list's resourceVersion; any error
or an expired resourceVersion (410) starts over with a fresh list, after a short backoff. Each
change calls `on_change(namespaces)` with the namespaces whose objects must be looked at again,
so a policy edit or a relabelled namespace takes effect without a restart. `ready` is set once
both kinds were listed: before that no object's verdict is trusted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from sagemeter.api.policy import EndpointPolicySpec
from sagemeter.runtime.apiserver import ApiClient, ApiError
from sagemeter.runtime.kube import POLICIES
from sagemeter.tenancy.registry import Tenancy

log = logging.getLogger("sagemeter.tenancy")

OnChange = Callable[[set[str]], None]
OnPolicy = Callable[[dict[str, Any] | None, str], None]
BACKOFF = 2.0
WATCH_SECONDS = 300
NAMESPACES = "/api/v1/namespaces"


class PolicyWatcher:
    def __init__(
        self,
        tenancy: Tenancy,
        on_change: OnChange,
        on_policy: OnPolicy | None = None,
        api: ApiClient | None = None,
    ) -> None:
        self.tenancy = tenancy
        self.on_change = on_change
        self.on_policy = on_policy
        self._api = api or ApiClient()
        self._stop = threading.Event()
        self._listed = {"policies": threading.Event(), "namespaces": threading.Event()}
        self._threads: list[threading.Thread] = []

    @property
    def ready(self) -> bool:
        return all(event.is_set() for event in self._listed.values())

    def wait_ready(self, timeout: float) -> bool:
        return all(event.wait(timeout) for event in self._listed.values())

    def start(self) -> None:
        for kind, run in (("policies", self._policies), ("namespaces", self._namespaces)):
            thread = threading.Thread(
                target=self._loop, args=(kind, run), name=f"sagemeter-{kind}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, kind: str, run: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                run()
            except ApiError as error:
                if error.status in (401, 403, 404):
                    log.warning("cannot watch %s (%s): tenancy sees none", kind, error.reason)
                    self._listed[kind].set()
                    self._stop.wait(30 * BACKOFF)
                elif error.status != 410:
                    log.warning("watching %s failed: %s", kind, error)
            except Exception:  # a watch must outlive any one failure
                log.exception("watching %s failed", kind)
            self._stop.wait(BACKOFF)

    # ------------------------------------------------------------------ EndpointPolicies

    def _policies(self) -> None:
        listed = self._api.list(POLICIES)
        seen = set()
        affected: set[str] = set()
        for item in listed.get("items", []):
            seen.add(item["metadata"]["name"])
            affected |= self._put_policy(item)
        for gone in {p.name for p in self.tenancy.policies()} - seen:
            affected |= self.tenancy.drop_policy(gone)
        self._listed["policies"].set()
        if affected:
            self.on_change(affected)
        version = listed["metadata"].get("resourceVersion")
        for event in self._api.watch(POLICIES, version, WATCH_SECONDS):
            if self._stop.is_set():
                return
            item, kind = event["object"], event["type"]
            if kind == "ERROR":
                return
            name = item["metadata"]["name"]
            if kind == "DELETED":
                changed = self.tenancy.drop_policy(name)
                if self.on_policy is not None:
                    self.on_policy(None, name)
            else:
                changed = self._put_policy(item)
            self.on_change(changed)

    def _put_policy(self, item: dict[str, Any]) -> set[str]:
        meta = item["metadata"]
        try:
            spec = EndpointPolicySpec.model_validate(item.get("spec") or {})
        except ValidationError as error:  # admission validates; an older shape is skipped
            log.error("cannot read EndpointPolicy %s: %s", meta["name"], error)
            return set()
        affected = self.tenancy.put_policy(meta["name"], meta["uid"], spec)
        if self.on_policy is not None:
            self.on_policy(item, meta["name"])
        return affected

    # ------------------------------------------------------------------ Namespaces

    def _namespaces(self) -> None:
        listed = self._api.list(NAMESPACES)
        for namespace in listed["items"]:
            meta = namespace["metadata"]
            self.tenancy.put_namespace(meta["name"], meta.get("labels") or {})
        self._listed["namespaces"].set()
        version = listed["metadata"].get("resourceVersion")
        for event in self._api.watch(NAMESPACES, version, WATCH_SECONDS):
            if self._stop.is_set():
                return
            namespace, kind = event["object"], event["type"]
            if kind == "ERROR":
                return
            meta = namespace["metadata"]
            if kind == "DELETED":
                self.tenancy.drop_namespace(meta["name"])
            elif self.tenancy.put_namespace(meta["name"], meta.get("labels") or {}):
                self.on_change({meta["name"]})
