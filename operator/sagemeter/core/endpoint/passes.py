"""What one pass does beside its step in SageMaker: what it may do to the object's route."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RouteAction"]


class RouteAction(StrEnum):
    """What a pass may do to the object's route."""

    SYNC = "sync"  # the endpoint is proven the object's own, or parked: the route follows it
    REMOVE = "remove"  # the endpoint is someone else's: the object's own route goes
    SKIP = "skip"  # nothing is proven yet (a create not yet seen, a refusal): the route stays
