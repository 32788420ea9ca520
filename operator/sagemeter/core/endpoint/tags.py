"""Tags on what sagemeter creates: which ones it writes, and which ones it may take away.

    resource_tags(owner, spec_tags, adopted) -> the tags every resource of the object carries
    tag_changes(current, desired, previously_set) -> what to add or change, what to remove
    tag_list(tags) / tag_dict(pairs) -> AWS's Key/Value pairs and back

Owner tags always win over `spec.tags` (admission refuses reserved prefixes, and this is the
second line). Only keys sagemeter itself set before (`previously_set`, recorded in status as
`appliedTagKeys`) are ever removed, so cost-allocation tags, tag policies and anything else other
systems put on an endpoint stay where they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from sagemeter.api.models import GROUP, RESERVED_TAG_PREFIXES
from sagemeter.core.endpoint.ownership import ADOPTED, Owner

__all__ = [
    "OWNERSHIP_PREFIX",
    "released_keys",
    "resource_tags",
    "spec_tag_keys",
    "tag_changes",
    "tag_dict",
    "tag_list",
]

OWNERSHIP_PREFIX: Final = f"{GROUP}/"


def _user_tags(spec_tags: Mapping[str, str] | None) -> dict[str, str]:
    return {
        key: value
        for key, value in (spec_tags or {}).items()
        if not key.startswith(RESERVED_TAG_PREFIXES)
    }


def resource_tags(
    owner: Owner, spec_tags: Mapping[str, str] | None, *, adopted: bool = False
) -> dict[str, str]:
    """`spec.tags` plus the owner tags, the owner tags last so that they always win."""
    tags = {**_user_tags(spec_tags), **owner.tags()}
    if adopted:
        tags[ADOPTED] = "true"
    return tags


def spec_tag_keys(spec_tags: Mapping[str, str] | None) -> list[str]:
    """The keys sagemeter sets on behalf of `spec.tags` (recorded so they can be removed later)."""
    return sorted(_user_tags(spec_tags))


def tag_changes(
    current: Mapping[str, str], desired: Mapping[str, str], previously_set: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """Tags to add or change, and keys to remove.

    A key is removed only when sagemeter set it before and the spec no longer asks for it;
    ownership keys and AWS's own never are.
    """
    to_add = {k: v for k, v in desired.items() if current.get(k) != v}
    to_remove = sorted(
        key
        for key in set(previously_set)
        if key in current and key not in desired and not key.startswith(RESERVED_TAG_PREFIXES)
    )
    return to_add, to_remove


def released_keys(current: Mapping[str, str], keep: Iterable[str] = ()) -> list[str]:
    """The ownership keys to drop when an adopted endpoint is handed back (`keep` stays)."""
    kept = set(keep)
    return sorted(k for k in current if k.startswith(OWNERSHIP_PREFIX) and k not in kept)


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``{"k": "v"}`` -> AWS's ``[{"Key": "k", "Value": "v"}]``, sorted by key so that the same
    tags always make the same request."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tag_dict(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """AWS's ``[{"Key": "k", "Value": "v"}]`` -> ``{"k": "v"}`` (a missing Value is "")."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags}
