"""The docs' snippets, exercised: every block parses, every ManagedEndpoint in them is
accepted by the real API server, and the kubectl commands users copy to read an
endpoint's URL, API key, status and Events run as written against a live object."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import Kubectl, Operator, endpoint_object, wait_for

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for lang, body in FENCE.findall(doc.read_text()):
            if lang == language:
                found.append((f"{doc.name}:{body.splitlines()[0][:40] if body else ''}", body))
    return found


@pytest.mark.parametrize(
    ("where", "body"),
    blocks("bash") + blocks("sh"),
    ids=lambda v: v if isinstance(v, str) and ":" in v else "",
)
def test_shell_snippets_are_valid_bash(where: str, body: str) -> None:
    result = subprocess.run(["bash", "-n"], input=body, text=True, capture_output=True)
    assert result.returncode == 0, f"{where}: {result.stderr}"


def test_json_python_and_yaml_snippets_parse() -> None:
    assert blocks("json"), "no JSON snippet found: the fence pattern no longer matches the docs"
    for where, body in blocks("json"):
        try:
            document = json.loads(body)
        except json.JSONDecodeError as error:
            pytest.fail(f"{where}: not JSON: {error}")
        assert isinstance(document, dict | list), f"{where}: a bare JSON value, not a document"
    for where, body in blocks("python"):
        compile(body, where, "exec")
    for _, body in blocks("yaml"):
        assert list(yaml.safe_load_all(body))


def managed_endpoints_in_docs() -> list[tuple[str, dict[str, Any]]]:
    """Whole ManagedEndpoints, and `spec:` fragments completed with a minimal model."""
    found = []
    for where, body in blocks("yaml"):
        doc = yaml.safe_load(body)
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "ManagedEndpoint":
            found.append((where, doc))
        elif set(doc) == {"spec"} and "api" in doc["spec"]:
            obj = endpoint_object("fragment")
            obj["spec"].update(doc["spec"])
            found.append((where, obj))
    return found


@pytest.mark.cluster
def test_managed_endpoints_in_docs_are_accepted(sandbox: Any, namespace: str) -> None:
    snippets = managed_endpoints_in_docs()
    assert len(snippets) >= 2  # README's example and the route fragment
    for where, obj in snippets:
        obj = {**obj, "metadata": {"name": "docs-snippet"}}
        result = sandbox.kubectl_run(
            "apply",
            "--dry-run=server",
            "-n",
            namespace,
            "-f",
            "-",
            input=json.dumps(obj),
            check=False,
        )
        assert result.returncode == 0, f"{where}: {result.stderr}"


def runnable_lines(doc: str) -> list[str]:
    """The doc's kubectl lines about ManagedEndpoints, Secrets and Events, and the shell
    variable lines they depend on (not logs, deletes or manifests from deploy/)."""
    lines: list[str] = []
    for lang, body in FENCE.findall((ROOT / "docs" / doc).read_text()):
        if lang != "bash":
            continue
        for line in body.splitlines():
            line = line.split("  #")[0].rstrip()
            variable = re.match(r"^(NS|NAME|URL|REGION|SECRET|API_KEY)=", line)
            about_us = re.search(r"\b(mep|events|secret)\b", line)
            excluded = re.search(r"\b(logs|delete|-k|--patch-file)\b|finalizers", line)
            if variable or (line.startswith("kubectl ") and about_us and not excluded):
                lines.append(line)
    return lines


@pytest.mark.cluster
def test_kubectl_commands_in_the_docs_run_as_written(
    operator: Operator, kube: Kubectl, namespace: str, tmp_path: Path
) -> None:
    operator.start()
    kube.apply(
        endpoint_object("falcon", api={"path": f"{namespace}/falcon", "authorization": "API_KEY"})
    )
    wait_for(
        "the deployed route and its key",
        lambda: (s := kube.status("falcon")).get("invokeUrl") and s.get("apiKeySecret"),
    )
    script = ["set -euo pipefail"]
    for doc in ("calling-endpoints.md", "troubleshooting.md"):
        script += [line.replace("team-a", namespace) for line in runnable_lines(doc)]
    script += ['test -n "$URL"', 'test -n "$API_KEY"', 'echo "URL=$URL"']
    assert sum(line.startswith("kubectl ") for line in script) >= 6
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        text=True,
        capture_output=True,
        env={**kube.sandbox.env(), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert f"/prod/{namespace}/falcon" in result.stdout
