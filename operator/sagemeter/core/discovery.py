"""Adopt by tag: which endpoints found in a sweep become adopt-mode ManagedEndpoints.

    qualifies(tags, adopt_tag) -> bool

An endpoint qualifies when it carries the operator's adopt tag (`SAGEMETER_ADOPT_TAG`), is
not managed by sagemeter already, and was not opted out (`sagemeter.io/opt-out=true`, set
when a discovered object is deleted, so discovery does not adopt it again until someone
removes the tag).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from sagemeter.api.models import GROUP, KIND, VERSION
from sagemeter.core.endpoint.naming import short_hash
from sagemeter.core.endpoint.ownership import MANAGED_BY, OPERATOR

__all__ = ["DISCOVERED", "DISCOVERED_FROM", "OPT_OUT", "adopt_object", "object_name", "qualifies"]

OPT_OUT: Final = f"{GROUP}/opt-out"
DISCOVERED: Final = f"{GROUP}/discovered"
DISCOVERED_FROM: Final = f"{GROUP}/discovered-from"


def qualifies(tags: Mapping[str, str], adopt_tag: tuple[str, str]) -> bool:
    key, value = adopt_tag
    return (
        tags.get(key) == value and tags.get(OPT_OUT) != "true" and tags.get(MANAGED_BY) != OPERATOR
    )


def object_name(endpoint_name: str) -> str:
    """A Kubernetes name for an endpoint: lowercase DNS label, unique per endpoint."""
    readable = re.sub(r"[^a-z0-9-]+", "-", endpoint_name.lower()).strip("-")[:56].rstrip("-")
    if readable == endpoint_name:
        return readable
    return f"{readable or 'endpoint'}-{short_hash(endpoint_name, 6)}"


def adopt_object(endpoint_name: str, arn: str, namespace: str, idle_after: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": object_name(endpoint_name),
            "namespace": namespace,
            "labels": {DISCOVERED: "true"},
            "annotations": {DISCOVERED_FROM: arn},
        },
        "spec": {
            "adopt": True,
            "endpointName": endpoint_name,
            "idle": {"after": idle_after},
            # The endpoint was made elsewhere: deleting the object lets it go.
            "deletionPolicy": "Retain",
        },
    }
