"""Keep `Tenancy` current: list and watch EndpointPolicies and Namespaces.

One daemon thread per kind: a list, then a watch from that list's resourceVersion; the end of
a watch, an error in it or an expired resourceVersion (410) starts over with a fresh list. Each
change calls `on_change(namespaces)` with the namespaces whose objects must be looked at again,
so a policy edit or a relabelled namespace takes effect without a restart.

Failing closed: a list that fails (401, 403, 404, a timeout, anything) marks the kind not in
sync in the registry, so every verdict waits (`TenancyNotSynced`) until a list works again; it
is never read as "no policies". While a watch follows a good list, the registry stays as that
list and the watch left it (a watch that breaks is followed by a new list).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from sagemeter.api.policy import EndpointPolicySpec, NamespaceSelector
from sagemeter.runtime.apiserver import ApiClient, ApiError
from sagemeter.runtime.kube import POLICIES
from sagemeter.tenancy.registry import Tenancy

log = logging.getLogger("sagemeter.tenancy")

OnChange = Callable[[set[str]], None]
OnPolicy = Callable[[dict[str, Any] | None, str], None]
BACKOFF = 2.0
# After 401, 403 or 404 (RBAC or the CRD missing): retried less often, logged each time.
AUTH_BACKOFF = 15.0
WATCH_SECONDS = 300
# A list that takes longer has failed (a timeout is never "no policies").
LIST_TIMEOUT = 30
NAMESPACES = "/api/v1/namespaces"


class ListFailed(Exception):
    """A list did not go through (`auth`: 401, 403 or 404, retried less often)."""

    def __init__(self, why: str, auth: bool) -> None:
        super().__init__(why)
        self.why = why
        self.auth = auth


def _selector(item: dict[str, Any]) -> NamespaceSelector | None:
    """The namespaceSelector of a policy that does not parse as a whole, when it parses."""
    try:
        raw = (item.get("spec") or {}).get("namespaceSelector")
        return NamespaceSelector.model_validate(raw) if raw is not None else None
    except ValidationError:
        return None


def _version(listed: dict[str, Any]) -> str | None:
    version = listed["metadata"].get("resourceVersion")
    return str(version) if version else None


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
        runs = (
            ("policies", lambda: self._watch_policies(self.list_policies())),
            ("namespaces", lambda: self._watch_namespaces(self.list_namespaces())),
        )
        for kind, run in runs:
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
                self._stop.wait(0.2)  # the watch ended as watches do: list again
                continue
            except ListFailed as failed:
                self._stop.wait(AUTH_BACKOFF if failed.auth else BACKOFF)
                continue
            except ApiError as error:
                if error.status != 410:
                    log.warning("watching %s failed: %s", kind, error.reason)
            except Exception:  # a watch must outlive any one failure
                log.exception("watching %s failed", kind)
            self._stop.wait(BACKOFF)

    def _list(self, kind: str, path: str) -> dict[str, Any]:
        """A list of `kind`; when it fails, the registry is told (and `ListFailed` raised)."""
        try:
            return self._api.list(path, timeout=LIST_TIMEOUT)
        except Exception as error:
            failed = (
                ListFailed(str(error), error.status in (401, 403, 404))
                if isinstance(error, ApiError)
                else ListFailed(f"{type(error).__name__}: {error}", False)
            )
            self.tenancy.failed(kind, failed.why)
            log.warning(
                "cannot list %s (%s): nothing is done in AWS until it can", kind, failed.why
            )
            raise failed from error

    def _synced(self, kind: str, affected: set[str]) -> None:
        """A list of `kind` went through: report it, and wake everything when that completed
        the registry (objects held back while it was not in sync act now)."""
        if self.tenancy.listed(kind):
            affected = affected | self.tenancy.namespaces()
        if affected:
            self.on_change(affected)

    # ------------------------------------------------------------------ EndpointPolicies

    def list_policies(self) -> str | None:
        """List every EndpointPolicy into the registry; the list's resourceVersion."""
        listed = self._list("policies", POLICIES)
        seen = set()
        affected: set[str] = set()
        for item in listed.get("items", []):
            seen.add(item["metadata"]["name"])
            affected |= self._put_policy(item)
        for gone in self.tenancy.policy_names() - seen:
            affected |= self.tenancy.drop_policy(gone)
        self._listed["policies"].set()
        self._synced("policies", affected)
        return _version(listed)

    def _watch_policies(self, version: str | None) -> None:
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
        except ValidationError as error:
            # Admission validates, so this is a policy of another shape (a version skew): it
            # still exists, and holds back the namespaces it may select until it can be read.
            log.error("cannot read EndpointPolicy %s: %s", meta["name"], error)
            return self.tenancy.put_unreadable(
                meta["name"], _selector(item), f"{error.error_count()} invalid field(s)"
            )
        affected = self.tenancy.put_policy(meta["name"], meta["uid"], spec)
        if self.on_policy is not None:
            self.on_policy(item, meta["name"])
        return affected

    # ------------------------------------------------------------------ Namespaces

    def list_namespaces(self) -> str | None:
        """List every Namespace into the registry; the list's resourceVersion."""
        listed = self._list("namespaces", NAMESPACES)
        changed = self.tenancy.replace_namespaces(
            {ns["metadata"]["name"]: ns["metadata"].get("labels") or {} for ns in listed["items"]}
        )
        self._listed["namespaces"].set()
        self._synced("namespaces", changed)
        return _version(listed)

    def _watch_namespaces(self, version: str | None) -> None:
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
