"""EndpointPolicy admission against a real kube-apiserver.

* Bad EndpointPolicies are refused at `kubectl apply` with a message naming the field;
  the example is accepted and `kubectl get mepol` shows the columns.
* With the shipped ValidatingAdmissionPolicy (applied by the sandbox at start-up) and
  bindings built by `sagemeter.core.tenancy.admission.bindings_for`, a ManagedEndpoint
  that breaks a guardrail admission can check is refused, naming the policy and the
  rule; the shared case table (tests/unit/tenancy_cases.py) gets the same answers, and
  the same first message, from the API server and from the Python guardrail function.
* A tightened policy never blocks extending, suspending, waking, status writes or
  finalizer removal of an existing object; other spec changes are checked.
* Two policies on one namespace both apply; names OR labels select the namespaces.

No operator runs here: the tests apply the bindings the operator would keep.
"""

from __future__ import annotations

import copy
import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemeter.api.admission import POLICY_NAME
from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.api.policy import EndpointPolicySpec, NamespaceSelector
from sagemeter.core.tenancy.admission import POLICY_UID_LABEL, bindings_for
from sagemeter.core.tenancy.effective import EffectivePolicy, effective_policy
from sagemeter.core.tenancy.guardrails import violations
from sagemeter.core.tenancy.selection import Policy
from sagemeter_sandbox import Sandbox
from tests.integration.conftest import wait_for
from tests.unit.tenancy_cases import CASES, OPERATOR_DEFAULTS, POLICIES, Case, endpoint

pytestmark = pytest.mark.cluster

EXAMPLE = Path(__file__).parents[2] / "examples" / "tenancy" / "endpointpolicy-team-a.yaml"
HOLD = "sagemeter.io/test-hold"


def suffix() -> str:
    return secrets.token_hex(3)


class Cluster:
    """kubectl against the sandbox, remembering what to clean up."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.policies: list[tuple[str, str]] = []  # (name, uid)
        self.namespaces: list[str] = []

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.sandbox.kubectl_run(*args, input=input, check=False)

    def ok(self, *args: str, input: str | None = None) -> str:
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stderr}"
        return done.stdout

    def namespace(self, prefix: str, labels: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{suffix()}"
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}},
        }
        self.ok("apply", "-f", "-", input=json.dumps(body))
        self.namespaces.append(name)
        return name

    def policy(self, name: str, spec: dict[str, Any]) -> str:
        """Applies an EndpointPolicy and the bindings the operator would keep; its uid."""
        body = {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "EndpointPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
        self.ok("apply", "-f", "-", input=json.dumps(body))
        uid = self.ok("get", "mepol", name, "-o", "jsonpath={.metadata.uid}")
        self.policies.append((name, uid))
        selector = NamespaceSelector.model_validate(spec["namespaceSelector"])
        for binding in bindings_for(name, uid, selector):
            self.ok("apply", "-f", "-", input=json.dumps(binding))
        return uid

    def patch_policy(self, name: str, patch: dict[str, Any]) -> None:
        self.ok("patch", "mepol", name, "--type=merge", "-p", json.dumps(patch))

    def apply(
        self, namespace: str, name: str, spec: dict[str, Any], *, dry_run: bool = False
    ) -> subprocess.CompletedProcess[str]:
        body = {
            "apiVersion": "sagemeter.io/v1alpha1",
            "kind": "ManagedEndpoint",
            "metadata": {"name": name},
            "spec": spec,
        }
        extra = ["--dry-run=server"] if dry_run else []
        return self.run("apply", "-n", namespace, *extra, "-f", "-", input=json.dumps(body))

    def patch(
        self, namespace: str, name: str, patch: Any, *extra: str
    ) -> subprocess.CompletedProcess[str]:
        kind = "json" if isinstance(patch, list) else "merge"
        return self.run(
            "patch", "mep", name, "-n", namespace, f"--type={kind}", "-p", json.dumps(patch), *extra
        )

    def refused_soon(self, namespace: str, spec: dict[str, Any], text: str) -> str:
        """Waits (bounded) until the API server has loaded a policy or binding change:
        a dry-run create of `spec` is refused with `text`."""

        def refusal() -> str | None:
            done = self.apply(namespace, f"probe-{suffix()}", spec, dry_run=True)
            return done.stderr if done.returncode != 0 and text in done.stderr else None

        return wait_for(f"a refusal mentioning {text!r} in {namespace}", refusal, timeout=60)

    def cleanup(self) -> None:
        for name, uid in self.policies:
            self.run(
                "delete",
                "validatingadmissionpolicybinding",
                "-l",
                f"{POLICY_UID_LABEL}={uid}",
                "--wait=false",
            )
            self.run("delete", "mepol", name, "--wait=false")
        for namespace in self.namespaces:
            self.run("delete", "namespace", namespace, "--wait=false")


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Iterator[Cluster]:
    kube = Cluster(sandbox)
    try:
        yield kube
    finally:
        kube.cleanup()


def by_names(*names: str) -> dict[str, Any]:
    return {"names": list(names)}


# -- the EndpointPolicy schema ----------------------------------------------------------------

ROLE = "arn:aws:iam::111111111111:role"
VALID: dict[str, Any] = {"namespaceSelector": by_names("team-x")}


def with_(**fields: Any) -> dict[str, Any]:
    return {**VALID, **fields}


def expr(key: str, operator: str, values: list[str] | None = None) -> dict[str, Any]:
    return {
        "labelSelector": {
            "matchExpressions": [
                {
                    "key": key,
                    "operator": operator,
                    **({"values": values} if values is not None else {}),
                }
            ]
        }
    }


# (case, spec, text the error must contain: the field's path)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no-namespace-selector", {"instanceTypes": ["ml.g5.*"]}, "spec.namespaceSelector"),
    ("empty-namespace-selector", {"namespaceSelector": {}}, "spec.namespaceSelector"),
    ("names-empty", {"namespaceSelector": {"names": []}}, "spec.namespaceSelector.names"),
    (
        "names-not-a-namespace",
        {"namespaceSelector": by_names("Team_A")},
        "spec.namespaceSelector.names",
    ),
    ("names-twice", {"namespaceSelector": by_names("a", "a")}, "spec.namespaceSelector.names"),
    (
        "label-key-bad",
        {"namespaceSelector": {"labelSelector": {"matchLabels": {"-x": "a"}}}},
        "spec.namespaceSelector.labelSelector.matchLabels",
    ),
    (
        "label-value-bad",
        {"namespaceSelector": {"labelSelector": {"matchLabels": {"x": "a b"}}}},
        "spec.namespaceSelector.labelSelector.matchLabels",
    ),
    (
        "operator-unknown",
        {"namespaceSelector": expr("x", "Equals", ["a"])},
        "spec.namespaceSelector.labelSelector.matchExpressions[0].operator",
    ),
    (
        "in-without-values",
        {"namespaceSelector": expr("x", "In")},
        "spec.namespaceSelector.labelSelector.matchExpressions[0].values",
    ),
    (
        "not-in-empty-values",
        {"namespaceSelector": expr("x", "NotIn", [])},
        "spec.namespaceSelector.labelSelector.matchExpressions[0].values",
    ),
    (
        "exists-with-values",
        {"namespaceSelector": expr("x", "Exists", ["a"])},
        "spec.namespaceSelector.labelSelector.matchExpressions[0].values",
    ),
    (
        "expression-key-bad",
        {"namespaceSelector": expr("a/b/c", "Exists")},
        "spec.namespaceSelector.labelSelector.matchExpressions[0].key",
    ),
    ("role-arn-bad", with_(aws={"roleArn": "sagemeter-team-a"}), "spec.aws.roleArn"),
    ("region-bad", with_(aws={"regions": ["europe"]}), "spec.aws.regions"),
    ("regions-twice", with_(aws={"regions": ["us-east-1", "us-east-1"]}), "spec.aws.regions"),
    ("default-role-bad", with_(executionRoles={"default": "sm"}), "spec.executionRoles.default"),
    (
        "allowed-role-inner-star",
        with_(executionRoles={"allowed": [f"{ROLE}/sm-*-a"]}),
        "spec.executionRoles.allowed",
    ),
    (
        "allowed-role-account-star",
        with_(executionRoles={"allowed": ["arn:aws:iam::*"]}),
        "spec.executionRoles.allowed",
    ),
    (
        "default-not-allowed",
        with_(executionRoles={"default": f"{ROLE}/other", "allowed": [f"{ROLE}/sm-*"]}),
        "spec.executionRoles.default",
    ),
    ("instance-type-glob-bad", with_(instanceTypes=["ml.*.xlarge"]), "spec.instanceTypes"),
    ("instance-type-not-ml", with_(instanceTypes=["g5.xlarge"]), "spec.instanceTypes"),
    ("max-count-zero", with_(maxInstanceCount=0), "spec.maxInstanceCount"),
    ("max-lifetime-words", with_(maxLifetime="8 hours"), "spec.maxLifetime"),
    ("budget-number", with_(budget={"usdPerHour": 25}), "spec.budget.usdPerHour"),
    ("budget-three-decimals", with_(budget={"usdPerHour": "25.001"}), "spec.budget.usdPerHour"),
    ("budget-negative", with_(budget={"usdPerHour": "-1"}), "spec.budget.usdPerHour"),
    ("budget-missing", with_(budget={"onDecrease": "Park"}), "spec.budget.usdPerHour"),
    (
        "unknown-price-bad",
        with_(budget={"usdPerHour": "1", "unknownPriceUSDPerHour": "cheap"}),
        "spec.budget.unknownPriceUSDPerHour",
    ),
    (
        "on-decrease-unknown",
        with_(budget={"usdPerHour": "1", "onDecrease": "Stop"}),
        "spec.budget.onDecrease",
    ),
    ("adoption-empty", with_(adoption={"endpointNames": []}), "spec.adoption.endpointNames"),
    (
        "adoption-glob-bad",
        with_(adoption={"endpointNames": ["*-notebook"]}),
        "spec.adoption.endpointNames",
    ),
    (
        "authorization-unknown",
        with_(routes={"authorizations": ["OPEN"]}),
        "spec.routes.authorizations",
    ),
    (
        "path-prefix-leading-slash",
        with_(routes={"pathPrefix": "/team-a/"}),
        "spec.routes.pathPrefix",
    ),
    (
        "lambda-glob-bad",
        with_(routes={"lambdaArns": ["arn:aws:lambda:*"]}),
        "spec.routes.lambdaArns",
    ),
    ("unknown-field", with_(instanceType=["ml.g5.*"]), "spec.instanceType"),
]


@pytest.mark.parametrize(("case", "spec", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_policy_is_refused_naming_the_field(
    cluster: Cluster, case: str, spec: dict[str, Any], field: str
) -> None:
    name = f"bad-{case}"
    body = {
        "apiVersion": "sagemeter.io/v1alpha1",
        "kind": "EndpointPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }
    done = cluster.run("apply", "-f", "-", input=json.dumps(body))
    assert done.returncode != 0, f"{case} was accepted"
    assert field in done.stderr, f"{case}: error does not name {field}:\n{done.stderr}"
    assert cluster.run("get", "mepol", name).returncode != 0


def test_example_is_accepted_and_get_shows_the_columns(cluster: Cluster) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    name = example["metadata"]["name"]
    cluster.ok("apply", "-f", str(EXAMPLE))
    cluster.policies.append(
        (name, cluster.ok("get", "mepol", name, "-o", "jsonpath={.metadata.uid}"))
    )
    status = {"status": {"namespaces": 3, "usdPerHour": "12.40", "waiting": 1}}
    cluster.ok(
        "patch", "mepol", name, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    table = cluster.ok("get", "mepol").splitlines()
    assert table[0].split() == ["NAME", "NAMESPACES", "BUDGET", "SPEND", "AGE"]
    row = next(line.split() for line in table if line.startswith(f"{name} "))
    assert row[1:4] == ["3", "25.00", "12.40"]
    wide = cluster.ok("get", "mepol", name, "-o", "wide").splitlines()
    assert wide[0].split()[-2:] == ["ROLE", "WAITING"]
    assert wide[1].split()[-2:] == ["arn:aws:iam::111111111111:role/sagemeter-team-a", "1"]
    in_category = cluster.ok("get", "sagemeter", "-o", "name").split()
    assert f"endpointpolicy.sagemeter.io/{name}" in in_category
    stored = json.loads(cluster.ok("get", "mepol", name, "-o", "json"))
    assert stored["spec"] == example["spec"]


def test_shipped_admission_policy_is_installed_and_type_checks(cluster: Cluster) -> None:
    def checked() -> dict[str, Any] | None:
        vap = json.loads(cluster.ok("get", "validatingadmissionpolicy", POLICY_NAME, "-o", "json"))
        return vap if vap.get("status", {}).get("observedGeneration") else None

    vap = wait_for("the admission policy to be type-checked", checked, timeout=60)
    assert not vap["status"].get("typeChecking", {}).get("expressionWarnings")


# -- guardrails at admission: the shared case table -------------------------------------------


@pytest.fixture(scope="module")
def shared(cluster: Cluster) -> dict[str, tuple[str, str]]:
    """Each policy of the shared table on its own namespace: key -> (policy, namespace)."""
    placed: dict[str, tuple[str, str]] = {}
    for key, spec in POLICIES.items():
        namespace = cluster.namespace(f"vap-{key}")
        name = f"{key}-{suffix()}"
        cluster.policy(name, {"namespaceSelector": by_names(namespace), **spec})
        placed[key] = (name, namespace)
    probes = {
        "strict": endpoint(instanceType="ml.p4d.24xlarge"),
        "loose": endpoint(instanceType="ml.m5.large"),
        "lifetime": endpoint(deletionPolicy="Retain"),
    }
    for key, probe in probes.items():
        name, namespace = placed[key]
        rule = "deletionPolicies" if key == "lifetime" else "instanceTypes"
        cluster.refused_soon(namespace, probe, f"EndpointPolicy {name} ({rule})")
    return placed


def python_violations(case: Case, policy_name: str) -> list[Any]:
    spec = EndpointPolicySpec.model_validate(
        {"namespaceSelector": by_names("x"), **POLICIES[case.policy]}
    )
    effective = effective_policy([Policy(policy_name, spec)])
    assert isinstance(effective, EffectivePolicy)
    found = violations(ManagedEndpointSpec.model_validate(case.spec), effective, OPERATOR_DEFAULTS)
    return [v for v in found if v.at_admission]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_admission_and_python_agree(
    cluster: Cluster, shared: dict[str, tuple[str, str]], case: Case
) -> None:
    policy_name, namespace = shared[case.policy]
    expected = python_violations(case, policy_name)
    assert {v.rule for v in expected} == case.refused  # the table says what Python says
    done = cluster.apply(namespace, case.id, case.spec)
    if not expected:
        assert done.returncode == 0, f"{case.id} refused:\n{done.stderr}"
        return
    assert done.returncode != 0, f"{case.id} was accepted"
    # The API server reports the first failing rule, in the order Python sorts them,
    # with the same words.
    assert expected[0].message in done.stderr, done.stderr
    assert f"EndpointPolicy {policy_name} ({expected[0].rule})" in done.stderr
    assert cluster.run("get", "mep", case.id, "-n", namespace).returncode != 0


# -- a tightened policy -----------------------------------------------------------------------


def test_tightened_policy_never_blocks_extend_suspend_wake_or_finalizer_removal(
    cluster: Cluster,
) -> None:
    namespace = cluster.namespace("tighten")
    name = f"tighten-{suffix()}"
    cluster.policy(
        name,
        {
            "namespaceSelector": by_names(namespace),
            "instanceTypes": ["ml.g5.*"],
            "maxInstanceCount": 2,
        },
    )
    cluster.refused_soon(namespace, endpoint(instanceType="ml.m5.large"), f"EndpointPolicy {name}")
    obj = endpoint(instanceCount=2, expiry={"ttl": "1h"})
    created = cluster.apply(namespace, "existing", obj)
    assert created.returncode == 0, created.stderr
    assert (
        cluster.patch(namespace, "existing", {"metadata": {"finalizers": [HOLD]}}).returncode == 0
    )

    cluster.patch_policy(name, {"spec": {"maxInstanceCount": 1}})
    rule = f"EndpointPolicy {name} (maxInstanceCount)"
    cluster.refused_soon(namespace, obj, rule)

    allowed = {
        "extend": {"spec": {"expiry": {"expiresAt": "2030-01-01T00:00:00Z"}}},
        "suspend": {"spec": {"suspend": True}},
        "resume": {"spec": {"suspend": False}},
        "wake": {"metadata": {"annotations": {"sagemeter.io/wake": "1"}}},
    }
    for what, patch in allowed.items():
        done = cluster.patch(namespace, "existing", patch)
        assert done.returncode == 0, f"{what} was blocked:\n{done.stderr}"
    status = cluster.patch(
        namespace, "existing", {"status": {"phase": "Parked"}}, "--subresource=status"
    )
    assert status.returncode == 0, status.stderr

    # Any other spec change must comply first.
    tags = cluster.patch(namespace, "existing", {"spec": {"tags": {"team": "a"}}})
    assert tags.returncode != 0 and rule in tags.stderr
    same = cluster.apply(namespace, "existing", {**obj, "expiry": {"ttl": "2h"}})
    assert same.returncode == 0, f"re-applying with a new expiry was blocked:\n{same.stderr}"

    cluster.ok("delete", "mep", "existing", "-n", namespace, "--wait=false")
    released = cluster.patch(
        namespace, "existing", [{"op": "remove", "path": "/metadata/finalizers"}]
    )
    assert released.returncode == 0, released.stderr
    wait_for(
        "the object to go once its finalizer is removed",
        lambda: cluster.run("get", "mep", "existing", "-n", namespace).returncode != 0,
    )


# -- several policies, names OR labels --------------------------------------------------------


def test_every_policy_applies_and_names_or_labels_select(cluster: Cluster) -> None:
    tenant = f"t-{suffix()}"
    by_name = cluster.namespace("by-name")
    by_label = cluster.namespace("by-label", {"tenant": tenant})
    both = cluster.namespace("both", {"tenant": tenant})
    neither = cluster.namespace("neither", {"tenant": "someone-else"})
    types = f"types-{suffix()}"
    count = f"count-{suffix()}"
    # "types": names OR labels (two bindings); "count": one namespace by name.
    selector = {"names": [by_name, both], "labelSelector": {"matchLabels": {"tenant": tenant}}}
    cluster.policy(types, {"namespaceSelector": selector, "instanceTypes": ["ml.g5.*"]})
    cluster.policy(count, {"namespaceSelector": by_names(both), "maxInstanceCount": 1})
    gpu_only = f"EndpointPolicy {types} (instanceTypes)"
    for namespace in (by_name, by_label, both):
        cluster.refused_soon(namespace, endpoint(instanceType="ml.m5.large"), gpu_only)
    cluster.refused_soon(both, endpoint(instanceCount=2), f"EndpointPolicy {count}")

    # Neither policy selects this namespace.
    assert (
        cluster.apply(
            neither, "cpu", endpoint(instanceType="ml.m5.large", instanceCount=5)
        ).returncode
        == 0
    )
    # Only "types" selects these: the count is free.
    for namespace in (by_name, by_label):
        done = cluster.apply(namespace, "two-gpus", endpoint(instanceCount=2))
        assert done.returncode == 0, done.stderr
    # Both select this one: all must allow.
    cpu = cluster.apply(both, "cpu", endpoint(instanceType="ml.m5.large"))
    assert cpu.returncode != 0 and gpu_only in cpu.stderr
    two = cluster.apply(both, "two-gpus", endpoint(instanceCount=2))
    assert two.returncode != 0 and f"EndpointPolicy {count} (maxInstanceCount)" in two.stderr
    assert cluster.apply(both, "one-gpu", endpoint()).returncode == 0


# -- the operator's role may keep the bindings ------------------------------------------------

OPERATOR = "system:serviceaccount:sagemeter-system:sagemeter"
RBAC = Path(__file__).parents[2] / "deploy" / "base" / "rbac.yaml"


def test_the_deployed_role_may_keep_bindings_and_write_policy_status(cluster: Cluster) -> None:
    """deploy/base's ClusterRole suffices for what the operator will do for tenancy
    (creating a binding that names a param also needs "get" on the param's kind)."""
    roles = [
        d
        for d in yaml.safe_load_all(RBAC.read_text())
        if d["kind"] in ("ClusterRole", "ClusterRoleBinding")
    ]
    cluster.ok("apply", "-f", "-", input=yaml.safe_dump_all(roles))
    namespace = cluster.namespace("rbac")
    name = f"rbac-{suffix()}"
    spec = {"namespaceSelector": by_names(namespace), "maxInstanceCount": 1}
    body = {
        "apiVersion": "sagemeter.io/v1alpha1",
        "kind": "EndpointPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }
    cluster.ok("apply", "-f", "-", input=json.dumps(body))
    uid = cluster.ok("get", "mepol", name, "-o", "jsonpath={.metadata.uid}")
    cluster.policies.append((name, uid))

    def as_operator(*args: str, input: str | None = None) -> str:
        return cluster.ok(f"--as={OPERATOR}", *args, input=input)

    as_operator("get", "mepol", name)
    as_operator("get", "namespace", namespace)
    (binding,) = bindings_for(
        name, uid, NamespaceSelector.model_validate(spec["namespaceSelector"])
    )
    as_operator(
        "apply", "--server-side", "--field-manager=sagemeter", "-f", "-", input=json.dumps(binding)
    )
    cluster.refused_soon(namespace, endpoint(instanceCount=2), f"EndpointPolicy {name}")
    # The operator patches status without reading it first (kubectl patch would get it).
    can = cluster.run(
        f"--as={OPERATOR}", "auth", "can-i", "patch", "endpointpolicies", "--subresource=status"
    )
    assert can.stdout.strip() == "yes", can.stdout + can.stderr
    as_operator("delete", "validatingadmissionpolicybinding", binding["metadata"]["name"])


# -- ManagedEndpoint fields added with tenancy -------------------------------------------------

WAKE = endpoint(idle={"after": "15m"}, api={"path": "m", "wakeOnRequest": True})


@pytest.mark.parametrize(
    ("case", "spec", "field"),
    [
        ("wake-without-idle", {**WAKE, "idle": None}, "spec.api.wakeOnRequest"),
        (
            "wake-unauthenticated",
            {**WAKE, "api": {**WAKE["api"], "authorization": "NONE"}},
            "spec.api.wakeOnRequest",
        ),
        (
            "wakes-per-day-zero",
            {**WAKE, "api": {**WAKE["api"], "maxWakesPerDay": 0}},
            "spec.api.maxWakesPerDay",
        ),
        (
            "wakes-per-day-too-many",
            {**WAKE, "api": {**WAKE["api"], "maxWakesPerDay": 1441}},
            "spec.api.maxWakesPerDay",
        ),
    ],
)
def test_wake_on_request_rules(
    cluster: Cluster, namespace: str, case: str, spec: dict[str, Any], field: str
) -> None:
    spec = {k: v for k, v in copy.deepcopy(spec).items() if v is not None}
    done = cluster.apply(namespace, case, spec)
    assert done.returncode != 0 and field in done.stderr, done.stderr


def test_wake_on_request_accepted_with_defaults(cluster: Cluster, namespace: str) -> None:
    assert cluster.apply(namespace, "wakes", WAKE).returncode == 0
    api = json.loads(cluster.ok("get", "mep", "wakes", "-n", namespace, "-o", "json"))["spec"][
        "api"
    ]
    assert api["wakeOnRequest"] is True and api["maxWakesPerDay"] == 24
