"""What one reconcile pass works with: the object as read, its owner identity, its region
and SageMaker gateway; and `Degraded`, a problem only the operator can see."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sagemeter.api.models import ManagedEndpoint, ManagedEndpointSpec, ManagedEndpointStatus
from sagemeter.aws.clients import Identity
from sagemeter.aws.sagemaker import SageMakerGateway
from sagemeter.core.endpoint.desired import ExpiryPolicy
from sagemeter.core.endpoint.ownership import AdoptionGrant, Owner
from sagemeter.core.tenancy.verdict import TenancyVerdict


class EventSink(Protocol):
    def __call__(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None: ...


class Degraded(Exception):
    """A problem only the operator can see; reported, retried at the sync interval."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Context:
    body: Mapping[str, Any]
    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    obj: ManagedEndpoint
    owner: Owner
    region: str
    endpoint_name: str
    gateway: SageMakerGateway
    # What this object may adopt, and the execution role its policy gives by default.
    grant: AdoptionGrant = field(default_factory=AdoptionGrant)
    default_role: str | None = None
    # As whom AWS is called for this object (None: the operator itself), as whom the shared
    # readers of its account work (its policy's session; None: the operator itself), and the
    # account its calls land in (the operator's own when no role is assumed).
    identity: Identity | None = None
    reader: Identity | None = None
    scope: str = "self"
    # What the object's EndpointPolicies say (None: tenancy is not in use), and whether
    # sagemeter may act in AWS for it (not under NoPolicy, PolicyConflict, AccountChanged or
    # before the policies are known: then it has no identity, and nothing of its is written).
    tenancy: TenancyVerdict | None = None
    acting: bool = True
    expiry_policy: ExpiryPolicy = field(default_factory=ExpiryPolicy)
    invoke_role: str | None = None
    budgets: frozenset[str] = frozenset()
    # SNS topics its notifications go to (SPEC §7).
    topics: tuple[str, ...] = ()

    @property
    def spec(self) -> ManagedEndpointSpec:
        return self.obj.spec

    @property
    def status(self) -> ManagedEndpointStatus:
        return self.obj.status

    @property
    def labels(self) -> Mapping[str, str]:
        return dict(self.body["metadata"].get("labels") or {})
