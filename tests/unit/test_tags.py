"""Which tags sagemeter writes on what it creates, and which ones it may remove."""

from __future__ import annotations

import pytest

from sagemeter.core.endpoint.ownership import (
    ADOPTED,
    MANAGED_BY,
    OWNER_NAME,
    OWNER_NAMESPACE,
    OWNER_UID,
    Owner,
)
from sagemeter.core.endpoint.tags import (
    released_keys,
    resource_tags,
    spec_tag_keys,
    tag_changes,
    tag_dict,
    tag_list,
)

OWNER = Owner(namespace="team-a", name="falcon", uid="11111111-2222")


def test_tag_list_is_sorted_key_value_pairs() -> None:
    assert tag_list({"b": "2", "a": "1"}) == [
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "2"},
    ]
    assert tag_list({}) == []


def test_tag_dict_inverts_tag_list() -> None:
    tags = {"sagemeter.io/name": "falcon", "a": "1"}
    assert tag_dict(tag_list(tags)) == tags
    assert tag_dict([{"Key": "no-value"}]) == {"no-value": ""}  # AWS may omit an empty Value


def test_owner_tags() -> None:
    assert OWNER.tags() == {
        MANAGED_BY: "sagemeter",
        OWNER_NAMESPACE: "team-a",
        OWNER_NAME: "falcon",
        OWNER_UID: "11111111-2222",
    }


@pytest.mark.parametrize(
    ("spec_tags", "adopted", "expected_extra"),
    [
        (None, False, {}),
        ({"team": "a"}, False, {"team": "a"}),
        ({"team": "a"}, True, {"team": "a", ADOPTED: "true"}),
        # Spec tags that try to pose as owner tags lose: the owner tags are written last.
        ({OWNER_UID: "victim-uid", OWNER_NAMESPACE: "victim"}, False, {}),
        ({MANAGED_BY: "someone-else", "aws:cloudformation:stack-name": "x"}, False, {}),
    ],
)
def test_resource_tags_owner_tags_always_win(
    spec_tags: dict[str, str] | None, adopted: bool, expected_extra: dict[str, str]
) -> None:
    assert resource_tags(OWNER, spec_tags, adopted=adopted) == {**OWNER.tags(), **expected_extra}


def test_spec_tag_keys_are_the_user_keys_only() -> None:
    assert spec_tag_keys({"b": "1", "a": "2", f"{OWNER_UID}": "x", "aws:x": "y"}) == ["a", "b"]
    assert spec_tag_keys(None) == []


@pytest.mark.parametrize(
    ("current", "desired", "previously_set", "to_add", "to_remove"),
    [
        # Nothing to do when the tags already match.
        ({"a": "1"}, {"a": "1"}, {"a"}, {}, []),
        # New keys and changed values are (re)set; unchanged ones are not sent.
        (
            {"a": "1", "b": "2"},
            {"a": "1", "b": "3", "c": "4"},
            {"a", "b"},
            {"b": "3", "c": "4"},
            [],
        ),
        # A key sagemeter set before and no longer wants is removed.
        ({"a": "1", "old": "x"}, {"a": "1"}, {"a", "old"}, {}, ["old"]),
        # A key someone else added (cost allocation, tag policy) is left alone.
        ({"a": "1", "CostCenter": "42"}, {"a": "1"}, {"a"}, {}, []),
        # A key sagemeter set before that is already gone needs no removal.
        ({"a": "1"}, {"a": "1"}, {"a", "gone"}, {}, []),
        # Ownership and AWS keys are never removed, even if a record claims them.
        ({OWNER_UID: "u", "aws:x": "y"}, {}, {OWNER_UID, "aws:x"}, {}, []),
        # Removals come sorted.
        ({"z": "1", "m": "2", "k": "3"}, {}, {"z", "m", "k"}, {}, ["k", "m", "z"]),
    ],
)
def test_tag_changes(
    current: dict[str, str],
    desired: dict[str, str],
    previously_set: set[str],
    to_add: dict[str, str],
    to_remove: list[str],
) -> None:
    assert tag_changes(current, desired, previously_set) == (to_add, to_remove)


def test_released_keys_are_the_ownership_keys() -> None:
    tags = {**OWNER.tags(), ADOPTED: "true", "team": "a", "sagemeter.io/opt-out": "true"}
    assert released_keys(tags, keep={"sagemeter.io/opt-out"}) == sorted([*OWNER.tags(), ADOPTED])
