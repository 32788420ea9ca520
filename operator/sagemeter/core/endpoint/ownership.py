"""Who owns a SageMaker endpoint: the one decision every path that writes to AWS obeys.

    decide_ownership(tags, identity, adoption) -> Ownership    (Ours | Adoptable | Foreign)

Ownership is proven from the tags on the endpoint *incarnation* that exists now. SageMaker
derives ARNs from names, so an endpoint deleted and re-created under the same name has the same
ARN: only its `CreationTime` tells the two apart. An `Incarnation` is therefore (name, creation
time). Status may cache a proof, but only together with the incarnation it was made for
(`status.incarnation`), and `proof_holds` accepts it only for that very incarnation: a park
followed by someone else's create under the same name is never mistaken for ours.

Adoption is a privilege (SPEC §2 "Adopt", §5 "Adoption"), decided by one rule,
`adoption_allowed`: an endpoint made outside sagemeter may be taken under management only when
its name is granted by the EndpointPolicies selecting the object's namespace
(`adoption.endpointNames`: the lists intersect, and at least one policy must set one), or when it
carries the operator's adopt tag and the object lives where that tag counts (the discovery
namespace, or a namespace no EndpointPolicy selects; `core.tenancy.adoption.adoption_grant` says
which). A list that does not name the endpoint refuses it, tag or not. Anything else is `Foreign`
with the reason `AdoptionNotAllowed`, and nothing in AWS is touched.

Everything here is pure: tags and times come in as values, decisions come out as values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from sagemeter.api.globs import matches_any
from sagemeter.api.models import GROUP, EndpointIncarnation

MANAGED_BY: Final = f"{GROUP}/managed-by"
OWNER_NAMESPACE: Final = f"{GROUP}/namespace"
OWNER_NAME: Final = f"{GROUP}/name"
OWNER_UID: Final = f"{GROUP}/uid"
ADOPTED: Final = f"{GROUP}/adopted"
# The cluster whose sagemeter made a resource (SAGEMETER_CLUSTER_ID), and the mark a `Retain`
# release leaves: from then on the endpoint is no longer sagemeter's (SPEC §5 "Orphans and
# Retain").
CLUSTER: Final = f"{GROUP}/cluster"
RELEASED: Final = f"{GROUP}/released"
OPERATOR: Final = "sagemeter"

# Degraded reasons an ownership decision can give.
NAME_CONFLICT: Final = "EndpointNameConflict"
ADOPTION_NOT_ALLOWED: Final = "AdoptionNotAllowed"

__all__ = [
    "ADOPTED",
    "ADOPTION_NOT_ALLOWED",
    "CLUSTER",
    "MANAGED_BY",
    "NAME_CONFLICT",
    "OPERATOR",
    "OWNER_NAME",
    "OWNER_NAMESPACE",
    "OWNER_UID",
    "RELEASED",
    "AdoptionGrant",
    "Incarnation",
    "Owner",
    "Ownership",
    "OwnershipVerdict",
    "adoption_allowed",
    "cluster_tags",
    "decide_ownership",
    "owner_of",
    "precise_time",
    "proof_for",
    "proof_holds",
    "released",
]


def cluster_tags(cluster: str | None) -> dict[str, str]:
    """The cluster tag every resource sagemeter creates carries (none while it is unknown)."""
    return {CLUSTER: cluster} if cluster else {}


def released(tags: Mapping[str, str]) -> bool:
    """Whether a `Retain` release handed the resource back: it is nobody's in sagemeter."""
    return tags.get(RELEASED) == "true"


@dataclass(frozen=True)
class Owner:
    """The Kubernetes object that owns what sagemeter creates in AWS, and its cluster."""

    namespace: str
    name: str
    uid: str
    cluster: str | None = None

    def tags(self) -> dict[str, str]:
        return {
            MANAGED_BY: OPERATOR,
            OWNER_NAMESPACE: self.namespace,
            OWNER_NAME: self.name,
            OWNER_UID: self.uid,
            **cluster_tags(self.cluster),
        }

    def owns(self, tags: Mapping[str, str]) -> bool:
        return (
            tags.get(MANAGED_BY) == OPERATOR
            and tags.get(OWNER_UID) == self.uid
            and not released(tags)
        )

    def describe(self) -> str:
        return f"ManagedEndpoint {self.namespace}/{self.name} (uid {self.uid})"


def owner_of(tags: Mapping[str, str]) -> str | None:
    """Who the tags say owns a resource, in words; None when sagemeter does not manage it (a
    released one included: only the adoption rule may take it under management again)."""
    if tags.get(MANAGED_BY) != OPERATOR or released(tags):
        return None
    return (
        f"ManagedEndpoint {tags.get(OWNER_NAMESPACE, '?')}/{tags.get(OWNER_NAME, '?')}"
        f" (uid {tags.get(OWNER_UID, '?')})"
    )


def precise_time(instant: datetime) -> str:
    """An AWS timestamp as status stores it: UTC, microseconds, never rounded away."""
    instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Incarnation:
    """One life of an endpoint: its name and the instant SageMaker created it."""

    name: str
    created: datetime
    last_modified: datetime | None = None


def proof_for(incarnation: Incarnation, owner: Owner) -> EndpointIncarnation:
    """The status record of a proof made just now, from the endpoint's own tags."""
    return EndpointIncarnation(
        endpoint_name=incarnation.name,
        creation_time=precise_time(incarnation.created),
        last_modified_time=(
            precise_time(incarnation.last_modified) if incarnation.last_modified else None
        ),
        owner_uid=owner.uid,
    )


def proof_holds(
    record: EndpointIncarnation | None, incarnation: Incarnation | None, owner: Owner
) -> bool:
    """Whether a proof cached in status covers the endpoint that exists now.

    Only the exact incarnation (name and creation time) the proof was made for, and only for
    the object that made it; nothing observed, or nothing cached, is never a proof.
    """
    if record is None or incarnation is None:
        return False
    return (
        record.owner_uid == owner.uid
        and record.endpoint_name == incarnation.name
        and record.creation_time == precise_time(incarnation.created)
    )


class OwnershipVerdict(StrEnum):
    OURS = "Ours"
    ADOPTABLE = "Adoptable"
    FOREIGN = "Foreign"


@dataclass(frozen=True)
class Ownership:
    verdict: OwnershipVerdict
    # For FOREIGN: the sagemeter object its tags name (in words; None when sagemeter does not
    # manage it) and the Degraded reason to report (NAME_CONFLICT or ADOPTION_NOT_ALLOWED).
    owner: str | None = None
    reason: str | None = None
    # For ADOPTABLE: a `Retain` release left it (its mark goes when it is adopted).
    released: bool = False

    @property
    def ours(self) -> bool:
        return self.verdict == OwnershipVerdict.OURS


@dataclass(frozen=True)
class AdoptionGrant:
    """What an object's namespace may adopt.

    `tag`: the operator's adopt tag, only where it counts for this namespace (None elsewhere);
    `name_lists`: `adoption.endpointNames` of every selecting EndpointPolicy that sets it.
    """

    tag: tuple[str, str] | None = None
    name_lists: tuple[tuple[str, ...], ...] = ()


def adoption_allowed(endpoint_name: str, tags: Mapping[str, str], grant: AdoptionGrant) -> bool:
    """May an endpoint made elsewhere be adopted under `grant`? The one adoption rule.

    | the selecting policies' name lists | the adopt tag (where it counts) | adopt |
    |------------------------------------|---------------------------------|-------|
    | one of them does not match         | any                             | no    |
    | at least one set, every one matches| any                             | yes   |
    | none set                           | on the endpoint                 | yes   |
    | none set                           | absent, or does not count here  | no    |
    """
    if any(not matches_any(names, endpoint_name) for names in grant.name_lists):
        return False
    if grant.name_lists:
        return True
    return grant.tag is not None and tags.get(grant.tag[0]) == grant.tag[1]


def conflict_message(
    endpoint_name: str,
    ownership: Ownership,
    *,
    namespace: str,
    adopt: bool,
    grant: AdoptionGrant,
) -> str:
    """The Degraded message of an endpoint the object may not touch, with a fix that works.

    `spec.endpointName` and `spec.adopt` are immutable (CEL), so a fix on this object's side is
    a new object; on the endpoint's side, a grant (the adopt tag, a policy) or its owner's
    consent."""
    if ownership.reason == ADOPTION_NOT_ALLOWED:
        policy = (
            f"an EndpointPolicy that selects namespace {namespace} list it in"
            " adoption.endpointNames"
        )
        if grant.name_lists:
            fix = f"every EndpointPolicy that selects namespace {namespace} and sets"
            fix += " adoption.endpointNames must name it (the adopt tag does not count then)"
        elif grant.tag:
            fix = f"tag the endpoint {grant.tag[0]}={grant.tag[1]} (the operator's"
            fix += f" SAGEMETER_ADOPT_TAG), or have {policy}"
        else:
            fix = f"have {policy} (the operator's SAGEMETER_ADOPT_TAG counts only in its"
            fix += " SAGEMETER_ADOPT_NAMESPACE and in namespaces no EndpointPolicy selects)"
        return (
            f"SageMaker endpoint {endpoint_name} was made outside sagemeter and may not be"
            f" adopted; nothing was changed. To allow it: {fix}"
        )
    owner = ownership.owner or "someone else"
    holder = f"belongs to {ownership.owner}" if ownership.owner else "was made outside sagemeter"
    text = f"SageMaker endpoint {endpoint_name} already exists and {holder};"
    text += " sagemeter leaves it alone."
    if adopt:
        return text + (
            f" It is managed by {owner}: delete this object, or delete {owner} first"
            " (with deletionPolicy Retain, to keep the endpoint) and this object adopts it"
        )
    fix = (
        " spec.endpointName cannot change: delete this object and create it again with another"
        " spec.endpointName (unset, the name derives from namespace and name)"
    )
    if ownership.owner is not None and ownership.owner.startswith("ManagedEndpoint "):
        return text + fix + f", or delete {owner} first"
    return (
        text
        + fix
        + (
            ", or create it with spec.adopt: true and no spec.model to manage that endpoint"
            " (adoption needs the adopt tag or an EndpointPolicy grant)"
        )
    )


def decide_ownership(
    endpoint_name: str,
    tags: Mapping[str, str],
    owner: Owner,
    *,
    adopt: bool,
    grant: AdoptionGrant,
) -> Ownership:
    """The ownership of the endpoint whose tags are `tags`, for the object `owner`.

    | tags say                          | adopt | grant | verdict                         |
    |-----------------------------------|-------|-------|---------------------------------|
    | sagemeter, this uid               |  any  |  any  | Ours                            |
    | sagemeter, another uid            |  any  |  any  | Foreign (EndpointNameConflict)  |
    | not sagemeter (or released)       |  no   |  any  | Foreign (EndpointNameConflict)  |
    | not sagemeter (or released)       |  yes  |  no   | Foreign (AdoptionNotAllowed)    |
    | not sagemeter (or released)       |  yes  |  yes  | Adoptable                       |
    """
    if owner.owns(tags):
        return Ownership(OwnershipVerdict.OURS)
    other = owner_of(tags)
    if other is not None:
        return Ownership(OwnershipVerdict.FOREIGN, other, NAME_CONFLICT)
    if not adopt:
        return Ownership(OwnershipVerdict.FOREIGN, None, NAME_CONFLICT)
    if not adoption_allowed(endpoint_name, tags, grant):
        return Ownership(OwnershipVerdict.FOREIGN, None, ADOPTION_NOT_ALLOWED)
    return Ownership(OwnershipVerdict.ADOPTABLE, released=released(tags))
