"""Generated docs stay in step with the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sagemeter.cli.reference import configuration_reference
from sagemeter.runtime.settings import Settings

ROOT = Path(__file__).parents[2]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == configuration_reference(), (
        "docs/configuration.md is stale: run `sagemeter config-reference > docs/configuration.md`"
    )


def test_every_setting_is_documented_and_described() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"SAGEMETER_{name.upper()}" in text


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert readme.index("make demo") < readme.index("## ")  # before the first section


def install_rbac_table() -> list[dict[str, str]]:
    """The rows of install.md's "What the ClusterRole grants" table."""
    section = (ROOT / "docs" / "install.md").read_text().split("## What the ClusterRole grants")[1]
    lines = [line for line in section.split("\n## ")[0].splitlines() if line.startswith("| `")]
    rows = []
    for line in lines:
        group, resource, verbs, helm, why = (c.strip() for c in line.strip("|").split("|"))
        rows.append(
            {
                "group": group.strip("`").replace('""', ""),
                "resource": resource.strip("`"),
                "verbs": verbs,
                "helm": helm,
                "why": why,
            }
        )
    return rows


def rbac_triples(rows: list[dict[str, str]]) -> set[tuple[str, str, str]]:
    return {
        (row["group"], row["resource"], verb.strip())
        for row in rows
        for verb in row["verbs"].split(",")
    }


def test_install_md_rbac_table_is_the_clusterrole() -> None:
    manifest = yaml.safe_load_all((ROOT / "deploy" / "base" / "rbac.yaml").read_text())
    role = next(
        d for d in manifest if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "sagemeter"
    )
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    rows = install_rbac_table()
    assert rbac_triples(rows) == granted
    assert all(row["why"] for row in rows)


def test_install_md_states_the_peering_lifetime_the_operator_sets() -> None:
    from sagemeter.handlers.endpoints import PEERING_LIFETIME_SECONDS

    text = " ".join((ROOT / "docs" / "install.md").read_text().split())
    assert f"within {PEERING_LIFETIME_SECONDS} s, the peering lifetime sagemeter sets" in text
    assert "up to a minute" not in text


def test_the_bench_command_installs_what_the_benches_need() -> None:
    """testing-under-faults.md's bench run profiles with py-spy (the `bench` extra): the block
    installs the extra before it runs them, as `make bench` does."""
    text = (ROOT / "docs" / "testing-under-faults.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    bench = next(i for i, line in enumerate(lines) if "python_files='bench_*.py'" in line)
    assert install < bench
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'bench = [\n  "py-spy==' in pyproject
    # The same extras as `make bench` installs.
    makefile = (ROOT / "Makefile").read_text()
    make = re.search(r"^bench:.*\n\t\$\(BIN\)/pip install --quiet -e '([^']+)'", makefile, re.M)
    assert make is not None and "bench" in make.group(1)
    assert f"-e '{make.group(1)}'" in lines[install]


def test_calling_endpoints_says_what_a_held_route_answers() -> None:
    """calling-endpoints.md's answers of a route whose endpoint does not serve are the ones
    its method writes: 503, the Sagemeter-State header, the body hold_body makes, and every
    reason a parked route gives (never the 400 of a route that still points at SageMaker)."""
    from sagemeter.api.common import ParkedReason
    from sagemeter.core.route_methods import HELD_RESPONSE_HEADERS
    from sagemeter.core.wake import HoldKind, RouteHold, hold_body

    text = (ROOT / "docs" / "calling-endpoints.md").read_text()
    rows = {
        line.split("|")[1].strip(): line
        for line in text.split("## When a call fails", 1)[1].splitlines()
        if line.startswith("| `")
    }
    parked = rows['`503` with `Sagemeter-State: parked` and `{"state": "parked", "reason": ...}`']
    reasons = [*ParkedReason, "WakeLimit", "Starting"]
    assert all(f"`{reason}`" in parked for reason in reasons)
    assert '`503` with `{"state": "waking", "reason": "Idle"}`' in rows
    assert "Sagemeter-State" in HELD_RESPONSE_HEADERS and "Retry-After" in HELD_RESPONSE_HEADERS
    assert {kind.value for kind in HoldKind} == {"parked", "waking"}

    sandbox = " ".join(text.split("## In the sandbox", 1)[1].split())
    body = hold_body(RouteHold(HoldKind.PARKED, ParkedReason.EXPIRED))
    assert (
        "A parked endpoint's route answers `503` here too, with the header `Sagemeter-State:"
        f" parked` (or `waking`) and the body `{body}`" in sandbox
    )
    assert "answers `400`" not in text


def test_install_md_states_the_requests_and_limits_both_installs_set() -> None:
    """install.md's "Memory and CPU" quotes the defaults, which kustomize's Deployment and
    Helm's values both set."""
    deployment = yaml.safe_load((ROOT / "deploy" / "base" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "sagemeter" / "values.yaml").read_text())
    resources = container["resources"]
    assert values["resources"] == resources
    section = (ROOT / "docs" / "install.md").read_text().split("## Memory and CPU")[1]
    section = " ".join(section.split("\n## ")[0].split())
    requests, limits = resources["requests"], resources["limits"]
    assert f"`requests: {requests['cpu']}, {requests['memory']}`" in section
    assert f"`limits: {limits['cpu']} CPU, {limits['memory']}`" in section
