"""What a pass works with, read from the object and from the EndpointPolicies over it: the
parsed object, its owner identity, where in AWS it lives and as whom sagemeter acts there.

The status a pass starts from is the newest one: the object's, or the one this process last
wrote when the watch has not brought that write back yet. A pass that began from an older
status would decide from it (an update it had just started looks never tried) and its merge
patch would undo the newer fields. Only the operator writes this status; a written one is
kept until the watch brings the write back, or for `WRITTEN_KEPT` seconds at most (another
replica may have written since).

The write is back when the object shows the resourceVersion the write returned, or shows the
written status itself. resourceVersions are opaque: clients "must not assume resource
versions are numeric or collate them" (Kubernetes API concepts, "Resource versions"), so they
are only compared for equality, and "later" is the watch's order: a watch delivers an object's
changes in the order they happened, so every body after the one that shows the write is newer.
A body that shows neither (one that came before the write, or a later one when the watch's
events were coalesced) leaves the written status in place, for `WRITTEN_KEPT` at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sagemeter.api.models import ManagedEndpoint, ManagedEndpointStatus
from sagemeter.aws.clients import Identity
from sagemeter.aws.gateway import account_of
from sagemeter.aws.sagemaker import SageMakerGateway
from sagemeter.core.endpoint import naming
from sagemeter.core.endpoint.ownership import AdoptionGrant, Owner
from sagemeter.core.meter.times import parse_time
from sagemeter.core.tenancy.adoption import adoption_grant
from sagemeter.core.tenancy.guardrails import expiry_policy
from sagemeter.core.tenancy.verdict import POLICY_VIOLATION
from sagemeter.runtime.context import Context
from sagemeter.runtime.settings import Settings
from sagemeter.tenancy.registry import Tenancy

WRITTEN_KEPT = 60.0


@dataclass(frozen=True)
class _Written:
    status: ManagedEndpointStatus
    version: str  # opaque: compared for equality only
    at: float


class Contexts:
    def __init__(
        self,
        settings: Settings,
        tenancy: Tenancy | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._written: dict[str, _Written] = {}
        self.tenancy = tenancy
        self._gateways: dict[tuple[str, Identity | None], SageMakerGateway] = {}
        tag = settings.adopt_tag.partition("=") if settings.adopt_tag else None
        self._adopt_tag = (tag[0], tag[2]) if tag else None

    def kept(self) -> int:
        """Status writes not yet seen on their object."""
        return len(self._written)

    def gateway(self, region: str, identity: Identity | None = None) -> SageMakerGateway:
        key = (region, identity)
        if key not in self._gateways:
            self._gateways[key] = SageMakerGateway(region, identity=identity)
        return self._gateways[key]

    def read(self, body: Mapping[str, Any]) -> Context:
        settings = self.settings
        meta = body["metadata"]
        obj = ManagedEndpoint.model_validate(
            {"spec": dict(body.get("spec") or {}), "status": dict(body.get("status") or {})}
        )
        namespace, name = meta["namespace"], meta["name"]
        newer = self._newer_than(meta, obj.status)
        if newer is not None:
            obj = obj.model_copy(update={"status": newer})
        verdict = (
            self.tenancy.verdict(obj.spec, namespace, obj.status.aws)
            if self.tenancy is not None
            else None
        )
        effective = verdict.effective if verdict is not None else None
        placement = verdict.placement if verdict is not None else None
        region = (placement.region if placement else None) or obj.spec.region or settings.region
        # No identity where sagemeter may not act (NoPolicy, PolicyConflict, AccountChanged).
        acting = verdict is None or verdict.allowed or verdict.reason == POLICY_VIOLATION
        role = placement.role_arn if placement and acting else None
        identity = Identity(role, namespace, settings.region) if role else None
        # The shared readers of the account: the session of the policy the role comes from.
        source = effective.role_arn.policy if effective and effective.role_arn else None
        reader = (
            Identity(role, sts_region=settings.region, policy=source) if role and source else None
        )
        return Context(
            body=body,
            namespace=namespace,
            name=name,
            uid=meta["uid"],
            generation=int(meta.get("generation") or 1),
            created=parse_time(meta["creationTimestamp"]),
            obj=obj,
            owner=Owner(namespace, name, meta["uid"], settings.cluster_id),
            region=region,
            endpoint_name=obj.spec.endpoint_name or naming.default_endpoint_name(namespace, name),
            gateway=self.gateway(region, identity),
            grant=(
                adoption_grant(effective, namespace, self._adopt_tag, settings.adopt_namespace)
                if self.tenancy is None or effective is not None
                else AdoptionGrant()  # no verdict to grant from: nothing may be adopted
            ),
            default_role=(
                effective.execution_role_default.value
                if effective is not None and effective.execution_role_default is not None
                else None
            ),
            identity=identity,
            reader=reader,
            scope=account_of(identity),
            tenancy=verdict,
            acting=acting,
            expiry_policy=(
                expiry_policy(settings.expiry_policy, effective)
                if effective is not None
                else settings.expiry_policy
            ),
            invoke_role=self._invoke_role(namespace, role),
            budgets=frozenset(b.policy for b in effective.budgets) if effective else frozenset(),
            topics=self._topics(namespace),
        )

    def _invoke_role(self, namespace: str, role: str | None) -> str | None:
        """The role API Gateway assumes for this object's routes: its policies' when they name a
        role of their own, else the operator's."""
        if role is None or self.tenancy is None:
            return self.settings.api_invoke_role_arn
        for policy in self.tenancy.policies_for(namespace):
            aws = policy.spec.aws
            if aws is not None and aws.api_invoke_role_arn:
                return aws.api_invoke_role_arn
        return None

    def _topics(self, namespace: str) -> tuple[str, ...]:
        """Where the object's notifications go: every selecting policy's topic; the operator's
        own (SAGEMETER_NOTIFY_SNS_TOPIC_ARN) when no policy selects the namespace."""
        policies = self.tenancy.policies_for(namespace) if self.tenancy is not None else []
        if not policies:
            topic = self.settings.notify_sns_topic_arn
            return (topic,) if topic else ()
        return tuple(
            sorted({p.spec.notifications.sns_topic_arn for p in policies if p.spec.notifications})
        )

    def wrote(self, uid: str, status: ManagedEndpointStatus, version: str | None) -> None:
        """A pass wrote `status`; the object reached resourceVersion `version` with it."""
        if version is not None:
            self._written[uid] = _Written(status, version, self._clock())

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)

    def _newer_than(
        self, meta: Mapping[str, Any], shown: ManagedEndpointStatus
    ) -> ManagedEndpointStatus | None:
        """The status this process wrote, while the object does not show it yet."""
        written = self._written.get(meta["uid"])
        if written is None:
            return None
        caught_up = meta.get("resourceVersion") == written.version or shown == written.status
        if caught_up or self._clock() - written.at > WRITTEN_KEPT:
            del self._written[meta["uid"]]
            return None
        return written.status
