"""How a pass learns what SageMaker shows, at the lowest cost that is still a proof.

    how_to_observe(status, generation, sighting, owner) -> Source

The region's paged `ListEndpoints` sweep shows every endpoint's status, creation and
modification times, but not its configuration. A settled endpoint whose sweep row matches what
status already describes (same incarnation proven ours, same modification time, same status,
same spec generation, and for a serving endpoint the production variants it serves) is read
from the sweep and status alone, at no call of its own. Anything
else (a spec change, a transition, a new or re-created incarnation, an out-of-band update)
costs one `DescribeEndpoint`. An endpoint the sweep does not show, for an object that was
parked and has not changed, is taken as absent without a call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sagemeter.api.models import ManagedEndpointStatus, Phase
from sagemeter.core.endpoint.ownership import Incarnation, Owner, precise_time, proof_holds

__all__ = ["SETTLED", "Sighting", "Source", "how_to_observe"]

# Statuses that do not change by themselves.
SETTLED: Final = frozenset({"InService", "Failed", "OutOfService", "UpdateRollbackFailed"})


class Source(StrEnum):
    SWEEP = "Sweep"
    DESCRIBE = "Describe"
    ABSENT = "Absent"


@dataclass(frozen=True)
class Sighting:
    """The endpoint as the latest sweep (or our own last call) showed it; status None: absent."""

    status: str | None
    incarnation: Incarnation | None = None
    arn: str | None = None


def how_to_observe(
    status: ManagedEndpointStatus, generation: int, sighting: Sighting, owner: Owner
) -> Source:
    unchanged = status.observed_generation == generation
    if sighting.status is None:
        parked = status.phase == Phase.PARKED and status.sagemaker_status is None
        return Source.ABSENT if unchanged and parked else Source.DESCRIBE
    record = status.incarnation
    incarnation = sighting.incarnation
    same_endpoint = proof_holds(record, incarnation, owner)
    same_revision = (
        same_endpoint
        and record is not None
        and incarnation is not None
        and incarnation.last_modified is not None
        and record.last_modified_time == precise_time(incarnation.last_modified)
    )
    settled = sighting.status in SETTLED and sighting.status == status.sagemaker_status
    # A serving endpoint's variants (what its idle alarm watches) come only from a describe;
    # a status written before they were recorded learns them once.
    variants_known = bool(status.variant_names) or sighting.status != "InService"
    if unchanged and settled and same_revision and status.endpoint_config_name and variants_known:
        return Source.SWEEP
    return Source.DESCRIBE
