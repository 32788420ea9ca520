"""The page acts as the person who runs it: their kubeconfig (here through an exec credential
plugin, as EKS's `aws eks get-token` works), their RBAC. A user who may only read sees the
API's 403 on Extend, and nothing changes."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from selenium.webdriver.common.by import By

from ..integration.conftest import endpoint_object, wait_for
from .browser import TESTS_NAMESPACE, Page, PageServer
from .conftest import Cluster

pytestmark = pytest.mark.cluster

READER = "reader"
READ_ONLY = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": READER},
    "rules": [
        {
            "apiGroups": ["sagemeter.io"],
            "resources": ["managedendpoints"],
            "verbs": ["get", "list", "watch"],
        }
    ],
}


def exec_kubeconfig(cluster: Cluster, folder: Path) -> tuple[Path, Path]:
    """A kubeconfig whose user is the read-only ServiceAccount, its token handed out by an
    exec credential plugin that notes each call; the kubeconfig and that note."""
    token = cluster.sandbox.kubectl_run(
        "create", "token", READER, "-n", TESTS_NAMESPACE, "--duration=1h"
    ).stdout.strip()
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {
            "token": token,
            "expirationTimestamp": (datetime.now(UTC) + timedelta(minutes=50)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        },
    }
    calls = folder / "exec-calls.log"
    plugin = folder / "get-token"
    plugin.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write('called\\n')\n"
        f"print(json.dumps({credential!r}))\n"
    )
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    config = yaml.safe_load(cluster.sandbox.kubeconfig.read_text())
    config["users"] = [
        {
            "name": READER,
            "user": {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": str(plugin),
                    "interactiveMode": "Never",
                }
            },
        }
    ]
    config["contexts"][0]["context"]["user"] = READER
    path = folder / "reader.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path, calls


@pytest.fixture
def reader_page(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[PageServer, Path]]:
    sandbox = cluster.sandbox
    sandbox.kubectl_run("create", "serviceaccount", READER, "-n", TESTS_NAMESPACE)
    sandbox.kubectl_run("apply", "-n", TESTS_NAMESPACE, "-f", "-", input=json.dumps(READ_ONLY))
    sandbox.kubectl_run(
        "create",
        "rolebinding",
        READER,
        "-n",
        TESTS_NAMESPACE,
        f"--role={READER}",
        f"--serviceaccount={TESTS_NAMESPACE}:{READER}",
    )
    kubeconfig, calls = exec_kubeconfig(cluster, tmp_path)
    server = PageServer(sandbox, tmp_path / "ui.log", "-n", TESTS_NAMESPACE, kubeconfig=kubeconfig)
    try:
        yield server, calls
    finally:
        server.stop()


def test_a_read_only_user_sees_the_403_and_nothing_changes(
    cluster: Cluster, reader_page: tuple[PageServer, Path], page: Page
) -> None:
    server, calls = reader_page
    cluster.apply(endpoint_object("guarded", expiry={"ttl": "2h"}))
    before = cluster.get("guarded")

    page.open(server.url)
    page.until("guarded's row", lambda: page.rows() and page.expiry("guarded"))
    note = page.browser.find_element(By.ID, "policy-note")
    page.until("the policies' refusal", note.is_displayed)
    assert note.text.startswith("Budgets are not shown: 403 Forbidden: ")

    user = f"system:serviceaccount:{TESTS_NAMESPACE}:{READER}"
    for button, verb in (("Extend 1h", "patch"), ("Suspend", "patch")):
        page.click("guarded", button)
        said = page.wait_result("guarded")
        assert said.startswith("403 Forbidden: "), said
        assert f'managedendpoints.sagemeter.io "guarded" is forbidden: User "{user}"' in said
        assert f'cannot {verb} resource "managedendpoints"' in said
        assert "error" in (
            page.row("guarded").find_element(By.CSS_SELECTOR, "output").get_attribute("class") or ""
        )

    after = cluster.get("guarded")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    # The credential came from the exec plugin, as on EKS.
    assert calls.read_text().count("called") >= 1
    wait_for("the page server's log of the refusal", lambda: "403" in server.log())
