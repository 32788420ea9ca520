"""kopf keeps no diff base for ManagedEndpoints (`runtime.diffbase`): that is only sound while
the deletion handler is sagemeter's one changing handler. A create, update, resume or field
handler added later would run on every event (each would look like a creation)."""

from __future__ import annotations

import kopf

import sagemeter.handlers.endpoints  # noqa: F401  (registers the handlers)
from sagemeter.runtime.diffbase import NoDiffBase


def test_the_deletion_handler_is_the_only_changing_handler() -> None:
    changing = kopf.get_default_registry()._changing.get_all_handlers()
    assert changing, "the deletion handler is registered"
    assert {h.reason for h in changing} == {kopf.Reason.DELETE}
    assert all(h.field is None for h in changing)


def test_nothing_is_stored_and_nothing_read_back() -> None:
    storage = NoDiffBase()
    body = kopf.Body({"metadata": {"name": "a", "annotations": {}}, "spec": {"x": 1}})
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert not patch
    assert storage.fetch(body=body) is None
