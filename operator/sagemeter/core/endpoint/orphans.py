"""Orphans: endpoints of this cluster whose ManagedEndpoint is gone (SPEC §5 "Orphans and
Retain").

    orphan_of(endpoint, arn, tags, cluster, live_uids, served) -> Orphan | None
    orphan_step(status, first_seen, now, grace) -> Step | None     (None: it only counts)
    gone_from_book(reported_before, live_uids, orphan_uids) -> set[str]

An object whose finalizer was removed by hand is deleted without its deletion pass: its endpoint
runs on, tagged with an owner uid that no longer exists. Such an endpoint still costs its
namespace money, so it counts against the namespace's budgets, and after the grace
(`SAGEMETER_ORPHAN_GRACE`) it is parked like any other: the endpoint is deleted, its config and
model stay (a new object may use them as is).

| the endpoint's tags                          | its owner uid        | orphan of this cluster |
|----------------------------------------------|----------------------|------------------------|
| not sagemeter's                              | -                    | no                     |
| another cluster's, or no cluster tag         | -                    | no: never touched      |
| released (`sagemeter.io/released=true`)      | -                    | no: no longer ours     |
| this cluster's                               | an object has it     | no: that object's      |
| this cluster's, a namespace not served here  | gone                 | no: not this operator's|
| this cluster's                               | gone                 | yes                    |

`live_uids` must be read after the tags: an object made between the two would otherwise look
gone. Everything here is pure: tags, uids and times come in as values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sagemeter.core.endpoint.ownership import (
    CLUSTER,
    MANAGED_BY,
    OPERATOR,
    OWNER_NAME,
    OWNER_NAMESPACE,
    OWNER_UID,
    released,
)
from sagemeter.core.endpoint.plan import Action, EndpointView, Step, plan_parked

__all__ = ["ORPHANED", "Orphan", "gone_from_book", "orphan_of", "orphan_step"]

# The parked reason of an orphan, in its Events and metric.
ORPHANED = "Orphaned"


@dataclass(frozen=True)
class Orphan:
    endpoint_name: str
    arn: str
    namespace: str
    name: str  # the gone ManagedEndpoint's name
    uid: str  # and uid: the book counts the orphan in its place

    def describe(self) -> str:
        return (
            f"endpoint {self.endpoint_name} of ManagedEndpoint {self.namespace}/{self.name}"
            f" (uid {self.uid}, gone)"
        )


def orphan_of(
    endpoint_name: str,
    arn: str,
    tags: Mapping[str, str],
    cluster: str | None,
    live_uids: Collection[str],
    served: Collection[str] | None = None,
) -> Orphan | None:
    """The orphan `tags` show, or None. `served`: the namespaces this operator serves (None:
    every namespace)."""
    if not cluster or tags.get(MANAGED_BY) != OPERATOR or tags.get(CLUSTER) != cluster:
        return None
    if released(tags):
        return None
    uid, namespace = tags.get(OWNER_UID), tags.get(OWNER_NAMESPACE)
    if not uid or not namespace or uid in live_uids:
        return None
    if served is not None and namespace not in served:
        return None
    return Orphan(endpoint_name, arn, namespace, tags.get(OWNER_NAME, ""), uid)


def orphan_step(status: str, first_seen: datetime, now: datetime, grace: timedelta) -> Step | None:
    """What to do with an orphan in SageMaker status `status`, first seen at `first_seen`:
    nothing before the grace ends (it counts); then park it as any endpoint is parked (delete,
    or wait while SageMaker refuses a delete)."""
    if now - first_seen < grace:
        return None
    step = plan_parked(EndpointView(status), ORPHANED)
    return step if step.action in (Action.DELETE, Action.WAIT) else None


def gone_from_book(
    reported_before: Collection[str], live_uids: Collection[str], orphan_uids: Collection[str]
) -> set[str]:
    """The book's entries to drop: reported before the objects were listed, and neither an
    object nor an orphan now (an object deleted without its deletion pass, whose endpoint is
    gone or released). An entry reported after the listing may be an object made since: kept."""
    return set(reported_before) - set(live_uids) - set(orphan_uids)
