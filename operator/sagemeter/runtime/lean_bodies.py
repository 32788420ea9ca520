"""Objects as kopf keeps them, without ``metadata.managedFields``.

kopf keeps the latest body of every object it watches (its daemon's ``body``, the per-object
stream's last event) for the object's life. About half of a ManagedEndpoint's body as the API
server sends it is ``metadata.managedFields``: who last set which field (server-side apply
bookkeeping), which neither kopf nor sagemeter reads (kopf's own state lives in annotations
and status; sagemeter's in spec, status and annotations). At 1,000 objects that is some 9 MB
held for nothing. The watch is wrapped where kopf's reactor reads it
(``kopf._cogs.clients.watching.infinite_watch``, looked up on its module at each start) and
each event's object loses the field before kopf sees it. Patches are unaffected: kopf builds
them from its handlers' changes, never from a diff of the whole body.

kopf is pinned (requirements.lock); ``tests/unit/test_lean_bodies.py`` fails if the reactor
stops reading the watch through that module attribute.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

__all__ = ["lean_bodies"]

_MARK = "_sagemeter_lean"


def _strip(event: Any) -> None:
    if isinstance(event, dict):
        obj = event.get("object")
        if isinstance(obj, dict):
            metadata = obj.get("metadata")
            if isinstance(metadata, dict):
                metadata.pop("managedFields", None)


def lean_bodies() -> None:
    """Every watch kopf starts from now on drops ``metadata.managedFields`` (once per
    process; calling it again does nothing)."""
    from kopf._cogs.clients import watching

    original = watching.infinite_watch
    if getattr(original, _MARK, False):
        return

    async def infinite_watch(**kwargs: Any) -> AsyncIterator[Any]:
        async for event in original(**kwargs):
            _strip(event)
            yield event

    setattr(infinite_watch, _MARK, True)
    watching.infinite_watch = infinite_watch
