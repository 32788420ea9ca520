"""The tenancy registry and its watcher fail closed: until EndpointPolicies and namespaces are
listed, after a list fails (401, 403, 404, a timeout), for a namespace not seen yet, and for a
policy that cannot be read, no verdict lets the operator act; an error is never "no policies".

The watcher is fed by a stand-in for sagemeter's apiserver client (its list call), so each
failure the API server or the network can produce is reproduced exactly.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.api.policy import EndpointPolicySpec
from sagemeter.core.tenancy.guardrails import OperatorDefaults
from sagemeter.core.tenancy.verdict import NOT_SYNCED, POLICY_UNREADABLE
from sagemeter.runtime.apiserver import ApiError
from sagemeter.tenancy.registry import Tenancy
from sagemeter.tenancy.watcher import NAMESPACES, ListFailed, PolicyWatcher

TENANT_ROLE = "arn:aws:iam::111111111111:role/sagemeter-team-a"
SPEC = ManagedEndpointSpec.model_validate(
    {"model": {"container": {"image": "repo/m:1"}}, "instanceType": "ml.m5.large"}
)
POLICY = {
    "metadata": {"name": "team-a", "uid": "uid-policy"},
    "spec": {
        "namespaceSelector": {"labelSelector": {"matchLabels": {"tenant": "a"}}},
        "aws": {"roleArn": TENANT_ROLE},
    },
}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


class FakeApi:
    """The list call the watcher makes, answering with what each test sets."""

    def __init__(self) -> None:
        self.policies: list[dict[str, Any]] | Exception = [POLICY]
        self.namespaces: list[Any] | Exception = [namespace("team-a", tenant="a")]

    def list(self, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        found = self.namespaces if path == NAMESPACES else self.policies
        if isinstance(found, Exception):
            raise found
        return {"items": found, "metadata": {"resourceVersion": "1"}}


def watcher(api: FakeApi) -> tuple[Tenancy, PolicyWatcher, list[set[str]]]:
    tenancy = Tenancy(OperatorDefaults(region="us-east-1", account_id="123456789012"))
    changes: list[set[str]] = []
    watch = PolicyWatcher(tenancy, changes.append, api=api)  # type: ignore[arg-type]
    return tenancy, watch, changes


def list_once(watch: PolicyWatcher, kind: str) -> None:
    """One list of `kind`, exactly as the watcher's loop makes it (before its watch)."""
    with contextlib.suppress(ListFailed):
        watch.list_policies() if kind == "policies" else watch.list_namespaces()


def reason(tenancy: Tenancy, ns: str = "team-a") -> str | None:
    return tenancy.verdict(SPEC, ns, None).reason


def test_nothing_is_known_before_both_kinds_are_listed() -> None:
    tenancy, watch, changes = watcher(FakeApi())
    assert reason(tenancy) == NOT_SYNCED
    list_once(watch, "policies")
    assert reason(tenancy) == NOT_SYNCED  # namespaces not listed yet
    list_once(watch, "namespaces")
    verdict = tenancy.verdict(SPEC, "team-a", None)
    assert verdict.allowed and verdict.placement is not None
    assert verdict.placement.role_arn == TENANT_ROLE
    assert changes and "team-a" in changes[-1]  # everything held back is woken


@pytest.mark.parametrize(
    "error",
    [
        ApiError(401, "Unauthorized"),
        ApiError(403, "Forbidden"),
        ApiError(404, "NotFound"),
        # What the client makes of urllib3's ReadTimeoutError (no answer: status 0).
        ApiError(0, "GET /apis/sagemeter.io/v1alpha1/endpointpolicies: read timed out"),
    ],
    ids=["401", "403", "404", "timeout"],
)
def test_a_failed_list_is_never_no_policies(error: Exception) -> None:
    api = FakeApi()
    api.policies = error
    tenancy, watch, _ = watcher(api)
    list_once(watch, "policies")
    list_once(watch, "namespaces")
    verdict = tenancy.verdict(SPEC, "team-a", None)
    # Without the policy, the object would be placed in the operator's own account: never.
    assert verdict.reason == NOT_SYNCED and not verdict.allowed and not verdict.settled
    assert verdict.placement is None
    assert "policies" in str(verdict.message)


def test_a_list_that_fails_after_a_good_one_stops_everything_until_one_works() -> None:
    api = FakeApi()
    tenancy, watch, _ = watcher(api)
    list_once(watch, "policies")
    list_once(watch, "namespaces")
    assert tenancy.verdict(SPEC, "team-a", None).allowed
    api.policies = ApiError(403, "Forbidden")
    list_once(watch, "policies")
    assert reason(tenancy) == NOT_SYNCED
    assert [p.name for p in tenancy.policies()] == ["team-a"]  # kept, not emptied
    api.policies = [POLICY]
    list_once(watch, "policies")
    assert tenancy.verdict(SPEC, "team-a", None).allowed


def test_a_namespace_not_seen_yet_is_not_a_namespace_without_labels() -> None:
    tenancy, watch, _ = watcher(FakeApi())
    list_once(watch, "policies")
    list_once(watch, "namespaces")
    # team-b was created after the namespace list: its labels may well select a policy.
    verdict = tenancy.verdict(SPEC, "team-b", None)
    assert verdict.reason == NOT_SYNCED and "team-b" in str(verdict.message)
    assert tenancy.policies_for("team-b") == []
    assert tenancy.put_namespace("team-b", {"tenant": "a"})
    verdict = tenancy.verdict(SPEC, "team-b", None)
    assert verdict.allowed and verdict.placement is not None
    assert verdict.placement.role_arn == TENANT_ROLE


def test_a_namespace_gone_from_a_fresh_list_is_forgotten() -> None:
    api = FakeApi()
    tenancy, watch, _ = watcher(api)
    list_once(watch, "policies")
    list_once(watch, "namespaces")
    api.namespaces = []
    list_once(watch, "namespaces")
    assert reason(tenancy) == NOT_SYNCED


def test_an_unreadable_policy_holds_back_the_namespaces_it_may_select() -> None:
    broken = {
        "metadata": {"name": "newer", "uid": "uid-newer"},
        "spec": {
            "namespaceSelector": {"names": ["team-a"]},
            "aws": {"roleArn": "not an arn"},
        },
    }
    api = FakeApi()
    api.policies = [POLICY, broken]
    api.namespaces = [namespace("team-a", tenant="a"), namespace("team-c")]
    tenancy, watch, _ = watcher(api)
    list_once(watch, "policies")
    list_once(watch, "namespaces")
    verdict = tenancy.verdict(SPEC, "team-a", None)
    assert verdict.reason == POLICY_UNREADABLE and "newer" in str(verdict.message)
    assert tenancy.verdict(SPEC, "team-c", None).allowed  # not selected by it
    # Not even the selector parses: it may select anything.
    api.policies = [{"metadata": {"name": "newer", "uid": "uid-newer"}, "spec": {"x": 1}}]
    list_once(watch, "policies")
    assert reason(tenancy, "team-c") == POLICY_UNREADABLE
    # Fixed: readable again.
    tenancy.put_policy("newer", "uid-newer", EndpointPolicySpec.model_validate(POLICY["spec"]))
    assert tenancy.verdict(SPEC, "team-c", None).allowed
