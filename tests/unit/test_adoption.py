"""The one adoption rule (SPEC §2 "Adopt" with §5 "Adoption"): who may adopt an endpoint made
elsewhere, from the selecting EndpointPolicies, the operator's adopt tag and the namespace."""

from __future__ import annotations

from typing import Any

import pytest

from sagemeter.api.policy import EndpointPolicySpec
from sagemeter.core.endpoint.ownership import AdoptionGrant, adoption_allowed
from sagemeter.core.tenancy.adoption import adoption_grant
from sagemeter.core.tenancy.effective import EffectivePolicy, effective_policy
from sagemeter.core.tenancy.selection import Policy

TAG = ("auto-maintain", "true")
DISCOVERY = "sagemeter-adopted"


def policy(name: str, names: list[str] | None = None) -> Policy:
    spec: dict[str, Any] = {"namespaceSelector": {"labelSelector": {}}}
    if names is not None:
        spec["adoption"] = {"endpointNames": names}
    return Policy(name, EndpointPolicySpec.model_validate(spec))


def effective(*policies: Policy) -> EffectivePolicy:
    result = effective_policy(policies)
    assert isinstance(result, EffectivePolicy)
    return result


NB = policy("nb", ["nb-*"])
NB1 = policy("nb1", ["nb-1"])
BARE = policy("bare")

# (case, policies selecting the namespace, namespace, endpoint carries the tag, name, adopt?)
TABLE: list[tuple[str, list[Policy], str, bool, str, bool]] = [
    ("no policy, no tag: never a default", [], "team-a", False, "nb-1", False),
    ("no policy, tagged: the tag counts where no policy governs", [], "team-a", True, "nb-1", True),
    ("discovery namespace, tagged", [], DISCOVERY, True, "nb-1", True),
    ("governed, tagged: the tag alone is not enough", [BARE], "team-a", True, "nb-1", False),
    ("governed, no list anywhere", [BARE], "team-a", False, "nb-1", False),
    ("governed discovery namespace, tagged", [BARE], DISCOVERY, True, "nb-1", True),
    ("a list grants by name, no tag needed", [NB], "team-a", False, "nb-1", True),
    ("a list refuses other names", [NB], "team-a", False, "prod", False),
    ("a list refuses other names, tag or not", [NB], DISCOVERY, True, "prod", False),
    ("a list refuses in an ungoverned-looking case too", [NB, BARE], "team-a", True, "prod", False),
    ("lists intersect: both match", [NB, NB1], "team-a", False, "nb-1", True),
    ("lists intersect: one refuses", [NB, NB1], "team-a", False, "nb-2", False),
    (
        "one policy sets a list, another none: the list decides",
        [NB, BARE],
        "team-a",
        False,
        "nb-3",
        True,
    ),
]


@pytest.mark.parametrize(
    ("case", "policies", "namespace", "tagged", "name", "allowed"),
    TABLE,
    ids=[row[0] for row in TABLE],
)
def test_the_adoption_rule(
    case: str, policies: list[Policy], namespace: str, tagged: bool, name: str, allowed: bool
) -> None:
    grant = adoption_grant(effective(*policies), namespace, TAG, DISCOVERY)
    tags = {TAG[0]: TAG[1]} if tagged else {"team": "x"}
    assert adoption_allowed(name, tags, grant) is allowed, case


def test_without_tenancy_the_tag_counts_everywhere() -> None:
    grant = adoption_grant(None, "team-a", TAG, DISCOVERY)
    assert adoption_allowed("nb-1", {TAG[0]: TAG[1]}, grant)
    assert not adoption_allowed("nb-1", {TAG[0]: "false"}, grant)


def test_no_configured_tag_grants_nothing() -> None:
    grant = adoption_grant(effective(), "team-a", None, DISCOVERY)
    assert not adoption_allowed("nb-1", {TAG[0]: TAG[1]}, grant)


def test_an_empty_grant_refuses() -> None:
    assert not adoption_allowed("nb-1", {TAG[0]: TAG[1]}, AdoptionGrant())
