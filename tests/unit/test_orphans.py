"""The rules of orphans and Retain releases (SPEC §5 "Orphans and Retain"), as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sagemeter.core.endpoint.orphans import gone_from_book, orphan_of, orphan_step
from sagemeter.core.endpoint.ownership import (
    AdoptionGrant,
    Owner,
    OwnershipVerdict,
    decide_ownership,
    owner_of,
)
from sagemeter.core.endpoint.plan import Action
from sagemeter.core.endpoint.tags import resource_tags

OURS = "cluster-a"
GONE = Owner("team-a", "falcon", "uid-gone", OURS)
TAGS = GONE.tags()


@pytest.mark.parametrize(
    ("case", "tags", "live", "served", "orphan"),
    [
        ("this cluster's, owner gone", TAGS, set(), None, True),
        ("its owner exists", TAGS, {"uid-gone"}, None, False),
        ("another cluster's", {**TAGS, "sagemeter.io/cluster": "cluster-b"}, set(), None, False),
        (
            "no cluster tag",
            {k: v for k, v in TAGS.items() if "cluster" not in k},
            set(),
            None,
            False,
        ),
        ("released by Retain", {**TAGS, "sagemeter.io/released": "true"}, set(), None, False),
        ("not sagemeter's", {"team": "a"}, set(), None, False),
        ("a namespace served here", TAGS, set(), {"team-a"}, True),
        ("a namespace not served here", TAGS, set(), {"team-b"}, False),
    ],
)
def test_orphan_of(
    case: str, tags: dict[str, str], live: set[str], served: set[str] | None, orphan: bool
) -> None:
    found = orphan_of("ep", "arn:ep", tags, OURS, live, served)
    assert (found is not None) == orphan, case
    if found is not None:
        assert (found.namespace, found.name, found.uid) == ("team-a", "falcon", "uid-gone")


def test_nothing_is_an_orphan_while_the_cluster_id_is_unknown() -> None:
    assert orphan_of("ep", "arn:ep", TAGS, None, set()) is None


T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("status", "after", "action"),
    [
        ("InService", timedelta(minutes=9, seconds=59), None),
        ("InService", GRACE, Action.DELETE),
        ("OutOfService", GRACE, Action.DELETE),
        ("Failed", GRACE, Action.DELETE),
        ("Creating", GRACE, Action.WAIT),
        ("Updating", GRACE, Action.WAIT),
    ],
)
def test_orphan_step(status: str, after: timedelta, action: Action | None) -> None:
    step = orphan_step(status, T0, T0 + after, GRACE)
    assert (step.action if step else None) == action


def test_gone_from_book_keeps_objects_reported_after_the_listing() -> None:
    # "new" was reported after the objects were listed: not in `before`, so kept.
    before = {"alive", "gone", "orphan"}
    assert gone_from_book(before, {"alive"}, {"orphan"}) == {"gone"}


def test_every_resource_tag_carries_the_cluster() -> None:
    tags = resource_tags(GONE, {"team": "a", "sagemeter.io/cluster": "forged"})
    assert tags["sagemeter.io/cluster"] == OURS and tags["team"] == "a"


def test_a_released_endpoint_is_nobodys() -> None:
    released = {**TAGS, "sagemeter.io/released": "true"}
    assert not GONE.owns(released)
    assert owner_of(released) is None
    newcomer = Owner("team-a", "new", "uid-new", OURS)
    # Without adopt: a conflict, nothing touched. With adopt: only by the adoption rule.
    assert decide_ownership("ep", released, newcomer, adopt=False, grant=AdoptionGrant()).reason
    refused = decide_ownership("ep", released, newcomer, adopt=True, grant=AdoptionGrant())
    assert refused.verdict == OwnershipVerdict.FOREIGN and refused.reason == "AdoptionNotAllowed"
    granted = decide_ownership(
        "ep", released, newcomer, adopt=True, grant=AdoptionGrant(name_lists=(("ep",),))
    )
    assert granted.verdict == OwnershipVerdict.ADOPTABLE and granted.released
