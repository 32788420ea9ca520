"""What deleting a ManagedEndpoint does in AWS, decided from what is proven.

    plan_deletion(policy, dry_run, adopt, ownership, endpoint) -> DeletionPlan

| policy / mode     | the endpoint is ...   | endpoint         | alarm, route, key | GC  | done |
|-------------------|-----------------------|------------------|-------------------|-----|------|
| Retain or dry run | ours, adopted         | handed back      | alarm dropped     | no  | yes  |
| Retain            | ours, made by us      | tagged released  | left              | no  | yes  |
| Retain or dry run | anything else         | left             | left              | no  | yes  |

A `Retain` release tags the endpoint `sagemeter.io/released=true` (SPEC §5 "Orphans and Retain"):
from then on it is nobody's in sagemeter, neither counted against a budget nor parked as an
orphan, and only the adoption rule takes it under management again. An adopted endpoint handed
back also loses its ownership tags. A dry run with `Delete` leaves the endpoint as it is: an
orphan of the cluster, which the orphan sweep reports and would park.
| Delete            | another's, unadopted  | left             | own route and key | own | yes  |
| Delete            | ours, still there     | deleted / waited | later             | no  | no   |
| Delete            | gone                  | -                | all own           | own | yes  |

"Own" is always proven: models and configs by their owner tags, routes by their route record,
keys by their tags, the alarm by its tags. An adopted endpoint's models and configs were made
elsewhere and are never collected.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemeter.api.models import DeletionPolicy
from sagemeter.core.endpoint.ownership import OwnershipVerdict
from sagemeter.core.endpoint.plan import Action, EndpointView, Step, plan_parked

__all__ = ["DELETING", "DeletionPlan", "plan_deletion"]

DELETING = "Deleting"


@dataclass(frozen=True)
class DeletionPlan:
    step: Step | None = None  # while the endpoint itself still has to go
    # Tag the endpoint released; an adopted one is also handed back (ownership tags dropped).
    release: bool = False
    drop_alarm: bool = False
    remove_route: bool = False  # the object's own route, key and Secret
    collect_garbage: bool = False  # models and configs tagged as this object's
    done: bool = False  # the finalizer may go
    event: tuple[str, str, str] | None = None  # (type, reason, message) when done


def plan_deletion(
    policy: DeletionPolicy | str,
    dry_run: bool,
    adopt: bool,
    verdict: OwnershipVerdict | None,
    endpoint: EndpointView | None,
    endpoint_name: str,
) -> DeletionPlan:
    """`verdict` is None when no endpoint exists under the name."""
    if policy == DeletionPolicy.RETAIN or dry_run:
        reason = "Retained" if policy == DeletionPolicy.RETAIN else "WouldDelete"
        ours = verdict == OwnershipVerdict.OURS
        return DeletionPlan(
            release=ours and (adopt or policy == DeletionPolicy.RETAIN),
            drop_alarm=ours and adopt,
            done=True,
            event=("Normal", reason, f"leaving endpoint {endpoint_name} in AWS"),
        )
    if verdict in (OwnershipVerdict.FOREIGN, OwnershipVerdict.ADOPTABLE):
        return DeletionPlan(
            remove_route=True,
            collect_garbage=not adopt,
            done=True,
            event=(
                "Warning",
                "NotDeleted",
                f"endpoint {endpoint_name} is not this object's; it was left as it is",
            ),
        )
    if verdict == OwnershipVerdict.OURS and endpoint is not None:
        step = plan_parked(endpoint, DELETING)
        if step.action in (Action.DELETE, Action.WAIT):
            return DeletionPlan(step=step)
    return DeletionPlan(
        drop_alarm=True,
        remove_route=True,
        collect_garbage=not adopt,
        done=True,
        event=("Normal", "Deleted", f"removed endpoint {endpoint_name} from AWS"),
    )
