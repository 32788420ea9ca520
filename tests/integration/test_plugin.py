"""`kubectl sagemeter` against a real kube-apiserver (no operator: tests write the
status the operator would report with `kubectl patch --subresource=status`)."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sagemeter.cli import actions, plugin
from sagemeter.core.meter.times import format_time, parse_time
from sagemeter_sandbox import Sandbox

from .conftest import Kubectl, endpoint_object, wait_for

pytestmark = pytest.mark.cluster

COMMANDS = ("ls", "extend", "park", "resume", "wake", "ui")


def run_plugin(
    sandbox: Sandbox, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagemeter.cli.plugin", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **sandbox.env(), **(env or {})},
        timeout=60,
    )


def now() -> datetime:
    return datetime.now(UTC)


def create(kube: Kubectl, name: str, **spec: Any) -> dict[str, Any]:
    kube.apply(endpoint_object(name, **spec))
    obj = kube.get(name)
    assert obj is not None
    return obj


def report_status(kube: Kubectl, name: str, **status: Any) -> None:
    """Write the status as the operator would, describing the current generation."""
    obj = kube.get(name)
    assert obj is not None
    status.setdefault("observedGeneration", obj["metadata"]["generation"])
    kube.sandbox.kubectl_run(
        "patch",
        "mep",
        name,
        "-n",
        kube.namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def spec_expiry(kube: Kubectl, name: str) -> datetime:
    obj = kube.get(name)
    assert obj is not None
    return parse_time(obj["spec"]["expiry"]["expiresAt"])


def table(stdout: str) -> list[list[str]]:
    """Rows of a kubectl-style table, cells split on runs of 2+ spaces (without the total
    line `ls` prints under it)."""
    lines = [line for line in stdout.splitlines() if not line.startswith("paying $")]
    return [re.split(r"\s{2,}", line.strip()) for line in lines]


# ------------------------------------------------------------------ ls


def test_ls_shows_phase_reason_time_left_instance_and_cost(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "falcon", instanceCount=2)
    report_status(
        kube,
        "falcon",
        phase="InService",
        sagemakerStatus="InService",
        hourlyCostUSD="1.52",
        expiresAt=format_time(now() + timedelta(hours=1, minutes=23, seconds=30)),
    )
    create(kube, "llama")
    report_status(
        kube,
        "llama",
        phase="Parked",
        parkedReason="Expired",
        hourlyCostUSD="1.52",  # the list price: nothing is paid while parked
        expiresAt=format_time(now() - timedelta(hours=2, minutes=5, seconds=1)),
        conditions=[{"type": "Degraded", "status": "True", "reason": "RouteConflict"}],
    )
    create(kube, "fresh", expiry=None)  # no status yet, no expiry

    done = run_plugin(sandbox, "ls", "-n", namespace)
    assert done.returncode == 0, done.stderr
    rows = table(done.stdout)
    assert rows[0] == ["NAME", "PHASE", "REASON", "TIME LEFT", "INSTANCE", "COST/H"]
    assert rows[1:] == [
        ["falcon", "InService", "-", "1h23m", "ml.m5.large x2", "$1.52"],
        ["fresh", "-", "-", "-", "ml.m5.large", "$0"],
        ["llama", "Parked", "Expired,RouteConflict", "expired 2h5m ago", "ml.m5.large", "$0"],
    ]
    # What is paid now: only what runs.
    assert done.stdout.splitlines()[4] == "paying $1.52/h for 1 of 3 endpoints"
    # Columns line up: every cell of a column starts where its header starts.
    lines = done.stdout.splitlines()
    column = lines[0].index("TIME LEFT")
    assert [line[column:].split("   ")[0] for line in lines[1:4]] == [
        "1h23m",
        "-",
        "expired 2h5m ago",
    ]


def test_ls_time_left_from_the_spec_before_the_operator_reports(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "meter", expiry={"expiresAt": format_time(now() + timedelta(hours=2, seconds=30))})
    done = run_plugin(sandbox, "ls", "-n", namespace)
    assert table(done.stdout)[1][:4] == ["meter", "-", "-", "2h"]


def test_ls_all_namespaces_sorted_and_json(sandbox: Sandbox, kube: Kubectl, namespace: str) -> None:
    other = Kubectl(sandbox, f"{namespace}-b")
    sandbox.kubectl_run("create", "namespace", other.namespace)
    try:
        create(kube, "zeta")
        create(kube, "alpha")
        create(other, "middle")
        done = run_plugin(sandbox, "ls", "-A")
        assert done.returncode == 0, done.stderr
        rows = table(done.stdout)
        assert rows[0][:2] == ["NAMESPACE", "NAME"]
        mine = [row[:2] for row in rows[1:] if row[0] in (namespace, other.namespace)]
        assert mine == [[namespace, "alpha"], [namespace, "zeta"], [other.namespace, "middle"]]

        listing = json.loads(run_plugin(sandbox, "ls", "-A", "-o", "json").stdout)
        names = [
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in listing["items"]
            if o["metadata"]["namespace"] in (namespace, other.namespace)
        ]
        assert names == [(namespace, "alpha"), (namespace, "zeta"), (other.namespace, "middle")]
        assert listing["kind"] == "ManagedEndpointList"
    finally:
        sandbox.kubectl_run("delete", "namespace", other.namespace, "--wait=false", check=False)


def test_ls_defaults_to_the_contexts_namespace(
    sandbox: Sandbox, kube: Kubectl, namespace: str, tmp_path: Path
) -> None:
    create(kube, "falcon")
    kubeconfig = yaml.safe_load(sandbox.kubeconfig.read_text())
    kubeconfig["contexts"][0]["context"]["namespace"] = namespace
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    done = run_plugin(sandbox, "ls", env={"KUBECONFIG": str(path)})
    assert [row[0] for row in table(done.stdout)[1:]] == ["falcon"]
    # --kubeconfig works the same, and also before the command name.
    done = run_plugin(sandbox, "--kubeconfig", str(path), "ls")
    assert [row[0] for row in table(done.stdout)[1:]] == ["falcon"]


def test_ls_empty_namespace(sandbox: Sandbox, namespace: str) -> None:
    done = run_plugin(sandbox, "ls", "-n", namespace)
    assert done.returncode == 0
    assert done.stdout == ""
    assert done.stderr.strip() == f"No resources found in {namespace} namespace."


def test_kubectl_finds_the_plugin_on_path(
    sandbox: Sandbox, kube: Kubectl, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = tmp_path / "bin" / "kubectl-sagemeter"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sagemeter.cli.plugin "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    create(kube, "falcon")

    done = sandbox.kubectl_run("sagemeter", "ls", "-n", namespace)
    assert table(done.stdout)[1][0] == "falcon"
    assert "kubectl-sagemeter" in sandbox.kubectl_run("plugin", "list", check=False).stdout


# ------------------------------------------------------------------ extend


def test_extend_adds_to_the_current_expiry(sandbox: Sandbox, kube: Kubectl, namespace: str) -> None:
    # The spec asks for 10h, the operator capped it at one hour: the status wins.
    create(kube, "falcon", expiry={"ttl": "10h"})
    current = (now() + timedelta(hours=1)).replace(microsecond=0)
    report_status(kube, "falcon", phase="InService", expiresAt=format_time(current))

    done = run_plugin(sandbox, "extend", "falcon", "1h30m", "-n", namespace)
    assert done.returncode == 0, done.stderr
    expected = current + timedelta(hours=1, minutes=30)
    assert spec_expiry(kube, "falcon") == expected
    # 2h30m from the plugin's clock, less the second or so the plugin took to start (the
    # plugin truncates its clock to the second, so within the same second it is 2h30m).
    said = re.escape(f"falcon: expires at {format_time(expected)}")
    assert re.fullmatch(said + r" \(in 2h(29|30)m\)", done.stdout.strip()), done.stdout


def test_extend_an_expired_endpoint_from_now(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    past = format_time(now() - timedelta(hours=3))
    create(kube, "falcon", expiry={"expiresAt": past})
    report_status(kube, "falcon", phase="Parked", parkedReason="Expired", expiresAt=past)

    before = now()
    done = run_plugin(sandbox, "extend", "falcon", "1h30m", "-n", namespace)
    assert done.returncode == 0, done.stderr
    new = spec_expiry(kube, "falcon")
    assert abs(new - (before + timedelta(hours=1, minutes=30))) <= timedelta(seconds=5)
    assert done.stdout.strip() == f"falcon: expires at {format_time(new)} (in 1h30m)"


def test_extend_with_only_a_ttl_counts_from_creation(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    obj = create(kube, "falcon", expiry={"ttl": "2h"})
    created = parse_time(obj["metadata"]["creationTimestamp"])

    done = run_plugin(sandbox, "extend", "falcon", "45m", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert spec_expiry(kube, "falcon") == created + timedelta(hours=2, minutes=45)


def test_extend_retries_a_concurrent_change(
    sandbox: Sandbox, kube: Kubectl, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = (now() + timedelta(hours=1)).replace(microsecond=0)
    theirs = start + timedelta(hours=5)
    create(kube, "falcon", expiry={"expiresAt": format_time(start)})
    original_get = plugin.Endpoints.get
    reads: list[str] = []

    def get_then_someone_else_extends(
        self: plugin.Endpoints, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        obj = original_get(self, name, namespace)
        reads.append(obj["metadata"]["resourceVersion"])
        # Read 1 previews the top-up; between read 2 and our patch, a colleague tops up too.
        if len(reads) == 2:
            kube.patch(name, {"spec": {"expiry": {"expiresAt": format_time(theirs)}}})
        return obj

    monkeypatch.setattr(plugin.Endpoints, "get", get_then_someone_else_extends)
    result = CliRunner().invoke(
        plugin.cli,
        ["extend", "falcon", "1h", "-n", namespace, "--kubeconfig", str(sandbox.kubeconfig)],
    )
    assert result.exit_code == 0, result.output
    assert len(reads) == 3 and reads[1] != reads[2]
    # Their top-up is kept and ours is added on top of it: no lost update.
    assert spec_expiry(kube, "falcon") == theirs + timedelta(hours=1)


def test_extend_gives_up_when_the_object_keeps_changing(
    sandbox: Sandbox, kube: Kubectl, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(kube, "falcon", expiry={"ttl": "1h"})
    original_get = plugin.Endpoints.get
    reads = 0

    def get_then_change(
        self: plugin.Endpoints, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        nonlocal reads
        obj = original_get(self, name, namespace)
        reads += 1
        kube.patch(name, {"metadata": {"labels": {"touched": str(reads)}}})
        return obj

    monkeypatch.setattr(plugin.Endpoints, "get", get_then_change)
    result = CliRunner().invoke(
        plugin.cli,
        ["extend", "falcon", "1h", "-n", namespace, "--kubeconfig", str(sandbox.kubeconfig)],
    )
    assert result.exit_code == 1
    assert reads == 2 + actions.CONFLICT_RETRIES  # the preview, then every attempt
    assert "kept changing" in result.output


def test_extend_without_any_expiry_is_refused(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "forever")
    done = run_plugin(sandbox, "extend", "forever", "1h", "-n", namespace)
    assert done.returncode == 1
    assert "never expires" in done.stderr
    assert "expiry" not in (kube.get("forever") or {})["spec"]


def test_extend_rejects_a_bad_duration(sandbox: Sandbox, kube: Kubectl, namespace: str) -> None:
    create(kube, "falcon", expiry={"ttl": "1h"})
    done = run_plugin(sandbox, "extend", "falcon", "1h1h", "-n", namespace)
    assert done.returncode == 2
    assert "invalid duration '1h1h'" in done.stderr
    assert "Traceback" not in done.stderr
    assert "expiresAt" not in (kube.get("falcon") or {})["spec"]["expiry"]


def test_extend_refuses_a_top_up_of_nothing_or_less(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "falcon", expiry={"ttl": "1h"})
    zero = run_plugin(sandbox, "extend", "falcon", "0s", "-n", namespace)
    assert zero.returncode == 2
    assert "0s adds no time; write a positive duration such as 1h" in zero.stderr
    negative = run_plugin(sandbox, "extend", "falcon", "-1h", "-n", namespace)
    assert negative.returncode == 2
    assert "-1h: a top-up only adds time" in negative.stderr
    assert "No such option" not in negative.stderr and "Usage:" in negative.stderr
    assert "expiresAt" not in (kube.get("falcon") or {})["spec"]["expiry"]


def test_extend_stops_at_the_maximum_lifetime_and_says_so(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "falcon", expiry={"ttl": "1h"})
    # 30 s short of 8 h: the plugin's clock, in whole seconds, sees 7h59m left whether or not
    # a second has passed since this line (at exactly 8 h it would print 8h).
    cap = (now() + timedelta(hours=8, seconds=-30)).replace(microsecond=0)
    report_status(
        kube,
        "falcon",
        phase="InService",
        expiresAt=format_time(now() + timedelta(hours=1)),
        maxExpiresAt=format_time(cap),
    )
    done = run_plugin(sandbox, "extend", "falcon", "99999d", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert spec_expiry(kube, "falcon") == cap
    assert done.stdout.startswith(f"falcon: expires at {format_time(cap)} (in 7h59m)")
    assert f"note: capped at {format_time(cap)}, the maximum lifetime" in done.stderr
    assert "note: spec.expiry.expiresAt now sets the expiry; it wins over spec.expiry.ttl" in (
        done.stderr
    )
    # At the cap, there is nothing left to add.
    report_status(kube, "falcon", phase="InService", expiresAt=format_time(cap))
    again = run_plugin(sandbox, "extend", "falcon", "1h", "-n", namespace)
    assert again.returncode == 1
    assert "has reached its maximum lifetime" in again.stderr


def test_extend_beyond_a_week_asks_first(sandbox: Sandbox, kube: Kubectl, namespace: str) -> None:
    create(kube, "falcon", expiry={"ttl": "1h"})

    def extend(*args: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sagemeter.cli.plugin", "extend", "falcon", *args],
            input=answer,
            capture_output=True,
            text=True,
            env={**os.environ, **sandbox.env()},
            timeout=60,
        )

    refused = extend("30d", "-n", namespace, answer="n\n")
    assert refused.returncode == 1
    assert "falcon: run until " in refused.stdout and "(in 4w2d)" in refused.stdout
    assert "expiresAt" not in (kube.get("falcon") or {})["spec"]["expiry"]
    # No answer at all (a script): nothing changes either.
    assert extend("30d", "-n", namespace, answer="").returncode == 1
    assert "expiresAt" not in (kube.get("falcon") or {})["spec"]["expiry"]
    agreed = extend("30d", "-n", namespace, answer="y\n")
    assert agreed.returncode == 0, agreed.stderr
    first = spec_expiry(kube, "falcon")
    assert extend("1d", "-n", namespace, "--yes").returncode == 0  # 31 days: no question
    assert spec_expiry(kube, "falcon") == first + timedelta(days=1)
    # Within a week of now: no question.
    create(kube, "near", expiry={"ttl": "1h"})
    near = run_plugin(sandbox, "extend", "near", "2h", "-n", namespace)
    assert near.returncode == 0 and "run until" not in near.stdout, near.stdout


# ------------------------------------------------------------------ park and wake


def test_park_waits_for_the_operators_answer_and_says_a_dry_run(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    """The operator (played by the test) runs in dry run: it answers the park with WouldPark,
    and park says nothing was parked."""
    create(kube, "falcon", expiry={"ttl": "10h"})
    report_status(kube, "falcon", phase="InService", sagemakerStatus="InService")
    parking = subprocess.Popen(
        [sys.executable, "-m", "sagemeter.cli.plugin", "park", "falcon", "-n", namespace],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **sandbox.env()},
    )
    wait_for("the suspend", lambda: (kube.get("falcon") or {})["spec"].get("suspend"))
    would = {
        "type": "Parked",
        "status": "False",
        "reason": "WouldPark",
        "message": "would park (Suspended): spec.suspend is true; dry run, nothing was deleted",
    }
    report_status(kube, "falcon", phase="InService", conditions=[would])
    out, err = parking.communicate(timeout=60)
    assert parking.returncode == 0, err
    assert out.startswith("falcon: suspended, but the operator runs in dry run"), out
    assert "keeps running and costing" in out

    # Without an answer within --wait, park says the operator has not acted yet.
    create(kube, "llama", expiry={"ttl": "10h"})
    report_status(kube, "llama", phase="InService")
    done = run_plugin(sandbox, "park", "llama", "-n", namespace, "--wait", "1s")
    assert done.returncode == 0, done.stderr
    assert "the operator has not acted on it yet" in done.stdout


def test_park_sets_suspend_and_wake_clears_it(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "falcon", expiry={"ttl": "10h"})
    done = run_plugin(sandbox, "park", "falcon", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert (kube.get("falcon") or {})["spec"]["suspend"] is True
    assert "already" in run_plugin(sandbox, "park", "falcon", "-n", namespace).stdout

    before = now().replace(microsecond=0)
    done = run_plugin(sandbox, "wake", "falcon", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert "cleared spec.suspend" in done.stdout
    obj = kube.get("falcon") or {}
    assert obj["spec"]["suspend"] is False
    woken = parse_time(obj["metadata"]["annotations"]["sagemeter.io/wake"])
    assert before <= woken <= now()
    assert done.stderr == ""


def test_resume_clears_suspend_and_only_that(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "falcon", expiry={"ttl": "10h"})
    assert run_plugin(sandbox, "park", "falcon", "-n", namespace).returncode == 0
    done = run_plugin(sandbox, "resume", "falcon", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "falcon: resumed (spec.suspend is false)\n"
    assert done.stderr == ""
    obj = kube.get("falcon") or {}
    assert obj["spec"]["suspend"] is False
    assert "sagemeter.io/wake" not in (obj["metadata"].get("annotations") or {})

    again = run_plugin(sandbox, "resume", "falcon", "-n", namespace)
    assert again.returncode == 0
    assert "not suspended" in again.stdout
    assert (kube.get("falcon") or {})["metadata"]["resourceVersion"] == obj["metadata"][
        "resourceVersion"
    ]


def test_resume_says_what_else_keeps_it_parked(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(
        kube,
        "falcon",
        suspend=True,
        expiry={"expiresAt": format_time(now() - timedelta(minutes=10))},
    )
    done = run_plugin(sandbox, "resume", "falcon", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert "resume does not top up the meter: kubectl sagemeter extend falcon 1h" in done.stderr


def test_every_change_is_made_as_field_manager_sagemeter_cli(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "falcon", expiry={"ttl": "10h"})
    for args in (("extend", "falcon", "1h"), ("park", "falcon"), ("wake", "falcon")):
        assert run_plugin(sandbox, *args, "-n", namespace).returncode == 0
    assert run_plugin(sandbox, "park", "falcon", "-n", namespace).returncode == 0
    assert run_plugin(sandbox, "resume", "falcon", "-n", namespace).returncode == 0
    shown = sandbox.kubectl_run(
        "get", "mep", "falcon", "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    managed = json.loads(shown.stdout)["metadata"]["managedFields"]
    entries = [entry for entry in managed if entry["manager"] == "sagemeter-cli"]
    assert [entry["operation"] for entry in entries] == ["Update"]
    fields = entries[0]["fieldsV1"]
    assert "f:expiresAt" in fields["f:spec"]["f:expiry"]
    assert "f:suspend" in fields["f:spec"]
    assert "f:sagemeter.io/wake" in fields["f:metadata"]["f:annotations"]


def test_wake_sets_a_new_annotation_each_time(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "falcon", expiry={"ttl": "10h"})
    values = []
    for _ in range(2):
        done = run_plugin(sandbox, "wake", "falcon", "-n", namespace)
        assert done.returncode == 0, done.stderr
        assert "suspend" not in done.stdout
        values.append((kube.get("falcon") or {})["metadata"]["annotations"]["sagemeter.io/wake"])
    assert values[0] != values[1]
    assert (kube.get("falcon") or {})["spec"]["suspend"] is False  # the CRD's default


def test_wake_says_an_expired_endpoint_needs_extend(
    sandbox: Sandbox, kube: Kubectl, namespace: str
) -> None:
    create(kube, "falcon", expiry={"expiresAt": format_time(now() - timedelta(minutes=10))})
    done = run_plugin(sandbox, "wake", "falcon", "-n", namespace)
    assert done.returncode == 0
    assert "kubectl sagemeter extend falcon" in done.stderr


# ------------------------------------------------------------------ ui


def test_ui_opens_the_browser_at_the_url_it_prints(sandbox: Sandbox, tmp_path: Path) -> None:
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > "{opened}"\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    process = subprocess.Popen(
        [sys.executable, "-m", "sagemeter.cli.plugin", "ui", "-A"],
        env={**os.environ, **sandbox.env(), "BROWSER": str(browser)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.fullmatch(
            r"sagemeter UI for all namespaces: (http://127\.0\.0\.1:\d+/\?token=[\w-]{40,})\n", line
        )
        assert found, line
        wait_for("the browser to be opened", lambda: opened.exists() and opened.read_text())
        assert opened.read_text().strip() == found[1]
    finally:
        process.terminate()
        assert process.wait(10) == 0  # Ctrl-C or a TERM ends it cleanly


def test_ui_on_a_port_in_use_is_one_line_and_exit_1(sandbox: Sandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_plugin(sandbox, "ui", "--no-browser", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


# ------------------------------------------------------------------ errors and help


@pytest.mark.parametrize(
    "args", [("extend", "nope", "1h"), ("park", "nope"), ("resume", "nope"), ("wake", "nope")]
)
def test_not_found_is_one_line_and_exit_1(
    sandbox: Sandbox, namespace: str, args: tuple[str, ...]
) -> None:
    done = run_plugin(sandbox, *args, "-n", namespace)
    assert done.returncode == 1
    assert done.stderr == f'Error: managedendpoint "nope" not found in namespace "{namespace}"\n'


def test_unreachable_server_is_one_line_and_exit_1(sandbox: Sandbox, tmp_path: Path) -> None:
    kubeconfig = yaml.safe_load(sandbox.kubeconfig.read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    done = run_plugin(sandbox, "ls", "--kubeconfig", str(path))
    assert done.returncode == 1
    assert done.stderr.startswith("Error: cannot reach the Kubernetes API server")
    assert done.stderr.count("\n") == 1


def test_usage_errors_exit_2() -> None:
    for args in (["extend", "falcon"], ["frobnicate"], ["ls", "-o", "yaml"]):
        assert CliRunner().invoke(plugin.cli, args).exit_code == 2, args


def test_help_mentions_every_command(sandbox: Sandbox) -> None:
    done = run_plugin(sandbox, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: kubectl sagemeter")
    for command in COMMANDS:
        assert f"  {command} " in done.stdout
        sub = CliRunner().invoke(plugin.cli, [command, "--help"], prog_name="kubectl sagemeter")
        assert sub.exit_code == 0
        assert f"kubectl sagemeter {command}" in sub.output  # an example
