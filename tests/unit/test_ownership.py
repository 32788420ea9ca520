"""The ownership decision: who owns an endpoint, proven from the incarnation that exists now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sagemeter.core.endpoint.ownership import (
    ADOPTION_NOT_ALLOWED,
    MANAGED_BY,
    NAME_CONFLICT,
    OWNER_UID,
    AdoptionGrant,
    Incarnation,
    Owner,
    OwnershipVerdict,
    conflict_message,
    decide_ownership,
    owner_of,
    proof_for,
    proof_holds,
)

OURS = Owner(namespace="team-a", name="falcon", uid="uid-a")
THEIRS = Owner(namespace="team-b", name="falcon", uid="uid-b")
PREDECESSOR = Owner(namespace="team-a", name="falcon", uid="uid-old")
ADOPT_TAG = ("auto-maintain", "true")
T0 = datetime(2026, 11, 28, 7, 0, 0, 123456, tzinfo=UTC)


# (case, tags, adopt, grant, verdict, reason)
TABLE = [
    ("ours", OURS.tags(), False, AdoptionGrant(), OwnershipVerdict.OURS, None),
    (
        "ours, adopted",
        {**OURS.tags(), "sagemeter.io/adopted": "true"},
        True,
        AdoptionGrant(),
        OwnershipVerdict.OURS,
        None,
    ),
    (
        "another object's",
        THEIRS.tags(),
        False,
        AdoptionGrant(),
        OwnershipVerdict.FOREIGN,
        NAME_CONFLICT,
    ),
    (
        "another object's, even with adopt and the tag",
        {**THEIRS.tags(), "auto-maintain": "true"},
        True,
        AdoptionGrant(tag=ADOPT_TAG),
        OwnershipVerdict.FOREIGN,
        NAME_CONFLICT,
    ),
    (
        "a re-created object's predecessor",
        PREDECESSOR.tags(),
        False,
        AdoptionGrant(),
        OwnershipVerdict.FOREIGN,
        NAME_CONFLICT,
    ),
    (
        "not sagemeter's, no adopt",
        {},
        False,
        AdoptionGrant(tag=ADOPT_TAG),
        OwnershipVerdict.FOREIGN,
        NAME_CONFLICT,
    ),
    (
        "not sagemeter's, adopt without any grant",
        {"team": "x"},
        True,
        AdoptionGrant(),
        OwnershipVerdict.FOREIGN,
        ADOPTION_NOT_ALLOWED,
    ),
    (
        "not sagemeter's, adopt, tag configured but absent",
        {},
        True,
        AdoptionGrant(tag=ADOPT_TAG),
        OwnershipVerdict.FOREIGN,
        ADOPTION_NOT_ALLOWED,
    ),
    (
        "not sagemeter's, adopt, tag with another value",
        {"auto-maintain": "false"},
        True,
        AdoptionGrant(tag=ADOPT_TAG),
        OwnershipVerdict.FOREIGN,
        ADOPTION_NOT_ALLOWED,
    ),
    (
        "not sagemeter's, adopt, carries the adopt tag",
        {"auto-maintain": "true"},
        True,
        AdoptionGrant(tag=ADOPT_TAG),
        OwnershipVerdict.ADOPTABLE,
        None,
    ),
    (
        "not sagemeter's, adopt, name granted by a policy",
        {},
        True,
        AdoptionGrant(name_lists=(("notebook-*",),)),
        OwnershipVerdict.ADOPTABLE,
        None,
    ),
    (
        "not sagemeter's, adopt, name not granted",
        {},
        True,
        AdoptionGrant(name_lists=(("other-*",),)),
        OwnershipVerdict.FOREIGN,
        ADOPTION_NOT_ALLOWED,
    ),
    (
        "a uid without the managed-by tag is not a proof",
        {OWNER_UID: OURS.uid},
        False,
        AdoptionGrant(),
        OwnershipVerdict.FOREIGN,
        NAME_CONFLICT,
    ),
    (
        "managed-by someone else",
        {**OURS.tags(), MANAGED_BY: "other"},
        False,
        AdoptionGrant(),
        OwnershipVerdict.FOREIGN,
        NAME_CONFLICT,
    ),
]


@pytest.mark.parametrize(
    ("case", "tags", "adopt", "grant", "verdict", "reason"), TABLE, ids=[row[0] for row in TABLE]
)
def test_ownership_table(
    case: str,
    tags: dict[str, str],
    adopt: bool,
    grant: AdoptionGrant,
    verdict: OwnershipVerdict,
    reason: str | None,
) -> None:
    decided = decide_ownership("notebook-7", tags, OURS, adopt=adopt, grant=grant)
    assert decided.verdict == verdict, case
    assert decided.reason == reason, case
    assert decided.ours == (verdict == OwnershipVerdict.OURS)


def test_foreign_owner_is_named() -> None:
    decided = decide_ownership("x", THEIRS.tags(), OURS, adopt=False, grant=AdoptionGrant())
    assert decided.owner is not None
    assert "team-b/falcon" in decided.owner and "uid-b" in decided.owner
    assert owner_of({}) is None
    # Made outside sagemeter: no owner to name, whichever reason refuses it.
    for adopt in (False, True):
        made_elsewhere = decide_ownership("x", {}, OURS, adopt=adopt, grant=AdoptionGrant())
        assert made_elsewhere.verdict == OwnershipVerdict.FOREIGN and made_elsewhere.owner is None


# -- proofs cached in status -----------------------------------------------------------------


def test_a_proof_holds_for_its_own_incarnation_only() -> None:
    now = Incarnation("shared", T0)
    record = proof_for(now, OURS)
    assert proof_holds(record, now, OURS)
    # Deleted and re-created under the same name: same ARN, another creation time.
    assert not proof_holds(record, Incarnation("shared", T0 + timedelta(seconds=5)), OURS)
    # A microsecond is enough to tell two incarnations apart.
    assert not proof_holds(record, Incarnation("shared", T0 + timedelta(microseconds=1)), OURS)
    # Another endpoint name, another object, nothing observed, nothing cached: no proof.
    assert not proof_holds(record, Incarnation("other", T0), OURS)
    assert not proof_holds(record, now, THEIRS)
    assert not proof_holds(record, None, OURS)
    assert not proof_holds(None, now, OURS)


def test_proof_time_is_utc_with_microseconds() -> None:
    record = proof_for(Incarnation("shared", T0), OURS)
    assert (record.endpoint_name, record.creation_time, record.owner_uid) == (
        "shared",
        "2026-11-28T07:00:00.123456Z",
        "uid-a",
    )
    # The same instant in another zone is the same incarnation.
    other_zone = T0.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert proof_holds(record, Incarnation("shared", other_zone), OURS)


# (case, tags, adopt, grant, words the message must hold, words it must not)
HINTS = [
    (
        "another object's: recreate under another name or delete the owner",
        THEIRS.tags(),
        False,
        AdoptionGrant(),
        [
            "belongs to ManagedEndpoint team-b/falcon (uid uid-b)",
            "spec.endpointName cannot change: delete this object and create it again",
            "or delete ManagedEndpoint team-b/falcon (uid uid-b) first",
        ],
        ["set spec.endpointName to another name"],
    ),
    (
        "made elsewhere: recreate, or adopt",
        {},
        False,
        AdoptionGrant(),
        ["was made outside sagemeter", "spec.adopt: true and no spec.model"],
        ["set spec.endpointName to another name"],
    ),
    (
        "adoption refused: the operator's tag, named",
        {},
        True,
        AdoptionGrant(tag=ADOPT_TAG),
        ["tag the endpoint auto-maintain=true", "adoption.endpointNames", "namespace team-a"],
        [],
    ),
    (
        "adoption refused where the adopt tag does not count",
        {},
        True,
        AdoptionGrant(),
        ["have an EndpointPolicy that selects namespace team-a list it", "counts only in"],
        ["tag the endpoint"],
    ),
    (
        "adoption refused by a policy's name list",
        {"auto-maintain": "true"},
        True,
        AdoptionGrant(tag=ADOPT_TAG, name_lists=(("notebook-*",),)),
        ["adoption.endpointNames must name it (the adopt tag does not count then)"],
        ["tag the endpoint"],
    ),
    (
        "adopting another object's endpoint",
        THEIRS.tags(),
        True,
        AdoptionGrant(tag=ADOPT_TAG),
        ["It is managed by ManagedEndpoint team-b/falcon", "delete this object"],
        ["tag the endpoint"],
    ),
]


@pytest.mark.parametrize(
    ("tags", "adopt", "grant", "says", "never"),
    [case[1:] for case in HINTS],
    ids=[c[0] for c in HINTS],
)
def test_conflict_messages_name_a_fix_that_works(
    tags: dict[str, str],
    adopt: bool,
    grant: AdoptionGrant,
    says: list[str],
    never: list[str],
) -> None:
    ownership = decide_ownership("shared-ep", tags, OURS, adopt=adopt, grant=grant)
    assert ownership.verdict == OwnershipVerdict.FOREIGN
    message = conflict_message("shared-ep", ownership, namespace="team-a", adopt=adopt, grant=grant)
    for words in says:
        assert words in message
    for words in never:
        assert words not in message
