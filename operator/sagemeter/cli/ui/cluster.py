"""The cluster as the page sees it, kept current by Kubernetes watches.

Two `Watcher` threads, one for ManagedEndpoints (one namespace, or every namespace with -A)
and one for EndpointPolicies, list and then watch with the user's own credentials (the
`kubernetes` client: kubeconfig, exec credential plugins and token refresh included). They
hand what they see to the `Hub` on the event loop, which keeps the rows and sends every open
page what changed. A watch the user may not make (RBAC) or that breaks is reported to the
page as the API worded it and retried with a backoff; an expired resource version lists again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sagemeter.cli.access import ApiError, PluginError
from sagemeter.cli.ui.rows import Json, endpoint_row, key, policy_applies, policy_summary

GONE = 410
MAX_BACKOFF = 30.0
Message = Json | None  # None ends a page's stream


@dataclass(frozen=True)
class Scope:
    context: str
    namespace: str | None  # None: every namespace

    def describe(self) -> str:
        return "all namespaces" if self.namespace is None else f"namespace {self.namespace}"


def _refusal_text(error: PluginError) -> str:
    if isinstance(error, ApiError):
        return f"{error.status} {error.reason}: {error.api_message}"
    return str(error.message)


class Hub:
    """What every page shows, and the pages' streams. Used on the event loop thread only."""

    def __init__(self, scope: Scope, read_labels: Callable[[str], None]) -> None:
        self.scope = scope
        self._read_labels = read_labels  # asks for `labels_read(namespace, ...)` later
        self.objects: dict[str, Json] = {}
        self.policies: dict[str, Json] = {}
        self.labels: dict[str, dict[str, str] | None] = {}
        self._asked: set[str] = set()
        self.health: dict[str, Json] = {
            "endpoints": {"ok": False, "message": "connecting"},
            "policies": {"ok": False, "message": "connecting"},
        }
        self.listed = asyncio.Event()  # set once the first endpoint list (or refusal) is in
        self._queues: set[asyncio.Queue[Message]] = set()

    # ------------------------------------------------------------------ pages

    def subscribe(self) -> asyncio.Queue[Message]:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        queue.put_nowait(self.snapshot())
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Message]) -> None:
        self._queues.discard(queue)

    def close(self) -> None:
        for queue in self._queues:
            queue.put_nowait(None)
        self._queues.clear()

    def _send(self, message: Json) -> None:
        for queue in self._queues:
            queue.put_nowait(message)

    def snapshot(self) -> Json:
        return {
            "type": "snapshot",
            "context": self.scope.context,
            "scope": self.scope.describe(),
            "rows": [self._row(obj) for _, obj in sorted(self.objects.items())],
            "policies": self._policies(),
            "health": self.health,
        }

    # ------------------------------------------------------------------ rows

    def _policies(self) -> dict[str, Json]:
        return {name: policy_summary(policy) for name, policy in sorted(self.policies.items())}

    def _needs_labels(self) -> bool:
        return any(
            ((p.get("spec") or {}).get("namespaceSelector") or {}).get("labelSelector")
            for p in self.policies.values()
        )

    def _row(self, obj: Json) -> Json:
        namespace = str((obj.get("metadata") or {}).get("namespace", ""))
        if self._needs_labels() and namespace not in self._asked:
            self._asked.add(namespace)
            self._read_labels(namespace)
        labels = self.labels.get(namespace)
        applying = [
            name
            for name, policy in sorted(self.policies.items())
            if policy_applies(policy, namespace, labels)
        ]
        return endpoint_row(obj, applying)

    # ------------------------------------------------------------------ what the watches saw

    def endpoints_listed(self, items: list[Json]) -> None:
        self.objects = {key(obj): obj for obj in items}
        self.listed.set()
        self._send(self.snapshot())

    def endpoint_event(self, kind: str, obj: Json, received: float) -> None:
        name = key(obj)
        if kind == "DELETED":
            self.objects.pop(name, None)
            self._send({"type": "gone", "key": name, "receivedAt": received})
            return
        self.objects[name] = obj
        self._send({"type": "row", "row": self._row(obj), "receivedAt": received})

    def policies_listed(self, items: list[Json]) -> None:
        self.policies = {str(p["metadata"]["name"]): p for p in items}
        self._policies_changed()

    def policy_event(self, kind: str, obj: Json, received: float) -> None:
        name = str(obj["metadata"]["name"])
        if kind == "DELETED":
            self.policies.pop(name, None)
        else:
            self.policies[name] = obj
        self._policies_changed()

    def _policies_changed(self) -> None:
        # A new or edited selector may need labels read again (a namespace relabelled since).
        self._asked.clear()
        self._send(self.snapshot())

    def labels_read(self, namespace: str, labels: dict[str, str] | None) -> None:
        self.labels[namespace] = labels
        for obj in self.objects.values():
            if (obj.get("metadata") or {}).get("namespace") == namespace:
                self._send({"type": "row", "row": self._row(obj), "receivedAt": time.time()})

    def health_changed(self, watch: str, ok: bool, message: str) -> None:
        self.health = {**self.health, watch: {"ok": ok, "message": message}}
        if watch == "endpoints":
            self.listed.set()
        self._send({"type": "health", "health": self.health})


class Watcher(threading.Thread):
    """List, then watch from the list's version, forever; each step handed to the loop."""

    def __init__(
        self,
        name: str,
        loop: asyncio.AbstractEventLoop,
        list_objects: Callable[[], Json],
        watch_objects: Callable[[str], Iterator[Json]],
        listed: Callable[[list[Json]], None],
        changed: Callable[[str, Json, float], None],
        health: Callable[[str, bool, str], None],
    ) -> None:
        super().__init__(name=f"watch-{name}", daemon=True)
        self.watch_name = name
        self._loop = loop
        self._list = list_objects
        self._watch = watch_objects
        self._listed = listed
        self._changed = changed
        self._health = health
        self.stopped = threading.Event()

    def _deliver(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the server is stopping
            self.stopped.set()

    def run(self) -> None:
        backoff = 1.0
        while not self.stopped.is_set():
            try:
                listing = self._list()
                self._deliver(self._listed, list(listing.get("items") or []))
                self._deliver(self._health, self.watch_name, True, "watching")
                version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
                backoff = 1.0
                while not self.stopped.is_set():
                    for event in self._watch(version):
                        obj = event["object"]
                        version = str(obj["metadata"]["resourceVersion"])
                        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                            self._deliver(self._changed, event["type"], obj, time.time())
                        if self.stopped.is_set():
                            return
            except ApiError as error:
                if error.status == GONE:
                    continue  # the version expired: list again at once
                self._deliver(self._health, self.watch_name, False, _refusal_text(error))
            except PluginError as error:
                self._deliver(self._health, self.watch_name, False, _refusal_text(error))
            self.stopped.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
