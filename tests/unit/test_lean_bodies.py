"""runtime.lean_bodies: kopf's watch events reach kopf without metadata.managedFields, and
kopf's reactor still reads its watch through the module attribute that is wrapped."""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kopf._cogs.clients import watching
from kopf._core.reactor import queueing

from sagemeter.runtime.lean_bodies import lean_bodies

OBJECT = {
    "apiVersion": "sagemeter.io/v1alpha1",
    "kind": "ManagedEndpoint",
    "metadata": {
        "name": "a",
        "namespace": "team-a",
        "uid": "uid-a",
        "annotations": {"sagemeter.io/last-handled-configuration": "{}"},
        "finalizers": ["sagemeter.io/finalizer"],
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {"instanceType": "ml.m5.large"},
    "status": {"phase": "InService"},
}


def test_the_reactor_reads_its_watch_through_the_wrapped_attribute() -> None:
    assert "watching.infinite_watch(" in inspect.getsource(queueing.watcher)


def test_events_lose_managed_fields_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    seen_kwargs: dict[str, Any] = {}

    async def original(**kwargs: Any) -> AsyncIterator[Any]:
        seen_kwargs.update(kwargs)
        yield watching.Bookmark.LISTED
        yield {"type": "ADDED", "object": copy.deepcopy(OBJECT)}
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}

    monkeypatch.setattr(watching, "infinite_watch", original)
    lean_bodies()
    lean_bodies()  # twice wraps once

    async def read() -> list[Any]:
        return [e async for e in watching.infinite_watch(settings=None, resource="r")]

    events = asyncio.run(read())
    assert seen_kwargs == {"settings": None, "resource": "r"}
    assert events[0] is watching.Bookmark.LISTED
    added = events[1]["object"]
    assert "managedFields" not in added["metadata"]
    expected = copy.deepcopy(OBJECT)
    del expected["metadata"]["managedFields"]
    assert added == expected
    assert events[2] == {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}
