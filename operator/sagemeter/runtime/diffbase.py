"""kopf's diff base, not kept: sagemeter has no handler that needs one.

kopf stores an object's last handled spec, labels and annotations (its "diff base") so that
create, update, resume and field handlers can be told what changed; with the annotations
storage that is a PATCH of the object after every spec change it sees, and one more watch
event back. sagemeter registers none of those handlers: its daemon reads the live body and
``wake_on_change`` compares generations itself; the deletion handler is chosen by
``deletionTimestamp``, which kopf reads before any diff base. So nothing is stored and nothing
is read back (every event is a "creation" with no handler to call), and a spec change costs
the apiserver one write (the user's) instead of two.

An object written by an earlier version keeps its ``sagemeter.io/last-handled-configuration``
annotation; it is never read.
"""

from __future__ import annotations

from typing import Any

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    def fetch(self, *, body: kopf.Body) -> None:
        return None

    def store(self, *, body: kopf.Body, patch: Any, essence: Any) -> None:
        return None
