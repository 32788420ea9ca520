"""Observe: what SageMaker shows for an object's endpoint, and whose it is.

The sweep (`EndpointDirectory`) answers for settled endpoints; a `DescribeEndpoint` answers
while something changes (`core.endpoint.observe.how_to_observe` decides which). Ownership is then
proven for the incarnation seen: from a proof this process made for this very incarnation, else
from the endpoint's tags (`ListTags`), decided by `core.endpoint.ownership.decide_ownership`.
Nothing here writes to AWS.

Status keeps the proof too (`status.incarnation`), but a tenant can write its object's status:
there it is a cache that only spares a `DescribeEndpoint` (`how_to_observe`), never a proof. A
forged one (the victim's endpoint name and creation time, the forger's uid) would otherwise make
the forger the owner of the victim's endpoint. So the proofs that count are kept here, in the
process, per (account, region, object uid); after a restart each object's first pass reads its
endpoint's tags once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sagemeter.api.models import EndpointIncarnation
from sagemeter.aws.clients import Identity
from sagemeter.aws.gateway import known_scope
from sagemeter.aws.sagemaker import EndpointDescription, SageMakerGateway
from sagemeter.controller.directory import EndpointDirectory
from sagemeter.core.endpoint.observe import Sighting, Source, how_to_observe
from sagemeter.core.endpoint.ownership import (
    Incarnation,
    Ownership,
    OwnershipVerdict,
    decide_ownership,
    proof_for,
    proof_holds,
)
from sagemeter.core.endpoint.requests import Target
from sagemeter.core.endpoint.status import Seen
from sagemeter.runtime.context import Context
from sagemeter.runtime.workers import Workers


@dataclass(frozen=True)
class Observation:
    endpoint: EndpointDescription | None
    # None when no endpoint exists under the name.
    ownership: Ownership | None = None
    # The proof status keeps (only for an endpoint proven ours).
    proof: EndpointIncarnation | None = None


def incarnation_of(endpoint: EndpointDescription) -> Incarnation | None:
    if endpoint.creation_time is None:
        return None
    return Incarnation(endpoint.name, endpoint.creation_time, endpoint.last_modified_time)


class Observer:
    def __init__(self, workers: Workers, sync_seconds: float) -> None:
        self.workers = workers
        self._sync_seconds = sync_seconds
        self._directories: dict[tuple[str, str, Identity | None], EndpointDirectory] = {}
        self._lock = threading.Lock()
        # Proofs this process made from tags (or by creating or adopting the endpoint).
        self._proofs: dict[tuple[str, str, str], EndpointIncarnation] = {}
        # Tags per endpoint incarnation (ARN and creation time) as a pass's ListTags showed
        # them; the orphan sweep reads these before reading any itself (`Orphans`), so an
        # endpoint's tags cost one call per incarnation, not one per reader. sagemeter's own
        # tags on an endpoint do not change while its object lives.
        self.tags: dict[tuple[str, datetime | None], dict[str, str]] = {}

    def directory(self, ctx: Context) -> EndpointDirectory:
        """One sweep per (account, region, shared reader): made as the account's policy session
        (SPEC §5 "Shared readers"), or the operator's own identity where no role is assumed;
        never as whichever object asked first."""
        return self.directory_at(ctx.scope, ctx.region, ctx.reader)

    def directory_at(self, scope: str, region: str, reader: Identity | None) -> EndpointDirectory:
        # A context made before the account was learnt and the orphan sweep (which names the
        # account) share one sweep.
        key = (known_scope(scope), region, reader)
        with self._lock:
            if key not in self._directories:
                sweeper = SageMakerGateway(region, identity=reader)
                self._directories[key] = EndpointDirectory(
                    sweeper.sweep_endpoints, self._sync_seconds
                )
            return self._directories[key]

    def readers(self) -> list[tuple[str, str, Identity | None]]:
        """Every (account, region, shared reader) a pass has swept so far."""
        return list(self._directories)

    def record(self, ctx: Context, status: str | None) -> None:
        """What our own action just did (the status it leaves the endpoint in)."""
        self.directory(ctx).record(ctx.endpoint_name, Sighting(status))

    def note(self, scope: str, region: str, endpoint_name: str, status: str) -> bool:
        """An endpoint state change EventBridge reported; True when the object's next pass
        has something to learn from it (then it describes the endpoint)."""
        scope = known_scope(scope)
        with self._lock:
            known = list(self._directories.items())
        found = [d for (s, r, _), d in known if (s, r) == (scope, region)]
        return not found or any([d.note(endpoint_name, status) for d in found])

    def forget(self, ctx: Context) -> None:
        """What this process knew of the object's endpoint: its sighting and its proofs."""
        self.directory(ctx).forget(ctx.endpoint_name)
        self.forget_proof(ctx.uid)

    def forget_proof(self, uid: str) -> None:
        """The object is deleted: its proofs go with it (under whichever account name and
        region they were made)."""
        with self._lock:
            for key in [k for k in self._proofs if k[2] == uid]:
                del self._proofs[key]

    def kept(self) -> int:
        """Proofs kept (one per object this process proved)."""
        return len(self._proofs)

    def proven(self, ctx: Context, proof: EndpointIncarnation) -> None:
        """The pass proved the endpoint incarnation `proof` names the object's own (it adopted
        it, or its tags say so)."""
        with self._lock:
            self._proofs[(ctx.scope, ctx.region, ctx.uid)] = proof

    async def observe(self, ctx: Context) -> Observation:
        directory = self.directory(ctx)
        sighting = directory.cached(ctx.endpoint_name)
        if sighting is None:  # a sweep is due or under way: it blocks, so in a worker thread
            sighting = await self.workers.run(directory.lookup, ctx.endpoint_name)
        source = how_to_observe(ctx.status, ctx.generation, sighting, ctx.owner)
        if source == Source.ABSENT:
            return Observation(None)
        if source == Source.SWEEP:
            endpoint = self._from_sweep(ctx, sighting)
        else:
            described = await self.workers.run(ctx.gateway.describe_endpoint, ctx.endpoint_name)
            if described is None:
                directory.record(ctx.endpoint_name, Sighting(None))
                return Observation(None)
            endpoint = described
            directory.record(
                ctx.endpoint_name,
                Sighting(endpoint.status, incarnation_of(endpoint), endpoint.arn),
            )
        return await self._prove(ctx, endpoint)

    def _from_sweep(self, ctx: Context, sighting: Sighting) -> EndpointDescription:
        status, incarnation = ctx.status, sighting.incarnation
        assert sighting.status is not None and incarnation is not None
        assert status.endpoint_config_name is not None
        return EndpointDescription(
            name=ctx.endpoint_name,
            arn=sighting.arn or status.endpoint_arn or "",
            status=sighting.status,
            config_name=status.endpoint_config_name,
            failure_reason=status.failure_reason,
            creation_time=incarnation.created,
            last_modified_time=incarnation.last_modified,
            # The names status recorded from the DescribeEndpoint of this very revision.
            production_variants=[{"VariantName": name} for name in status.variant_names or []],
        )

    async def _prove(self, ctx: Context, endpoint: EndpointDescription) -> Observation:
        incarnation = incarnation_of(endpoint)
        with self._lock:
            held = self._proofs.get((ctx.scope, ctx.region, ctx.uid))
        if incarnation is not None and proof_holds(held, incarnation, ctx.owner):
            held = proof_for(incarnation, ctx.owner)
            return Observation(endpoint, Ownership(OwnershipVerdict.OURS), held)
        tags = await self.workers.run(ctx.gateway.list_tags, endpoint.arn)
        if incarnation is not None:
            self.tags[(endpoint.arn, incarnation.created)] = tags
        ownership = decide_ownership(
            endpoint.name, tags, ctx.owner, adopt=ctx.spec.adopt, grant=ctx.grant
        )
        proof = (
            proof_for(incarnation, ctx.owner)
            if ownership.ours and incarnation is not None
            else None
        )
        if proof is not None:
            self.proven(ctx, proof)
        return Observation(endpoint, ownership, proof)


def seen_of(ctx: Context, endpoint: EndpointDescription | None, target: Target | None) -> Seen:
    """What the pass saw of the endpoint (and the target it works towards), for status."""
    return Seen(
        endpoint_name=ctx.endpoint_name,
        sagemaker_status=endpoint.status if endpoint else None,
        endpoint_arn=endpoint.arn if endpoint else None,
        config_name=(endpoint.config_name if endpoint else None)
        or (target.config_name if target else None),
        model_name=target.model_name if target else None,
        failure_reason=endpoint.failure_reason if endpoint else None,
        variant_names=tuple(endpoint.variant_names) if endpoint else (),
    )
