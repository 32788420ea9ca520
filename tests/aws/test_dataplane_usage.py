"""How people reach the local data plane: what ``sagemeter sandbox up`` prints, and the curl
commands of ``docs/calling-endpoints.md`` ("In the sandbox") run as written against routes
sagemeter made (curl signs with its own SigV4 code, not botocore's)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sagemeter.api.models import Authorization
from sagemeter.core.endpoint.ownership import Owner
from sagemeter.core.routes import RouteSpec
from sagemeter.routes.manager import RouteManager
from sagemeter_sandbox import cli as sandbox_cli

from .conftest import REGION, LocalAws, ensure_deployed
from .test_dataplane import create_endpoint

DOC = Path(__file__).parents[2] / "docs" / "calling-endpoints.md"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def sandbox_blocks() -> list[str]:
    section = DOC.read_text().split("## In the sandbox", 1)[1].split("\n## ", 1)[0]
    return FENCE.findall(section)


@pytest.mark.usefixtures("aws_env")
def test_docs_curl_commands_reach_the_model(manager: RouteManager, local_aws: LocalAws) -> None:
    url_block, key_block, sigv4_block, log_block = sandbox_blocks()
    assert "x-api-key" in key_block and "--aws-sigv4" in sigv4_block
    create_endpoint("falcon-dev")
    keyed = ensure_deployed(
        manager,
        RouteSpec(
            "team-a/falcon",
            "falcon-dev",
            Owner("team-a", "falcon", "uid-1"),
            authorization=Authorization.API_KEY,
        ),
    )
    signed = ensure_deployed(
        manager,
        RouteSpec("team-a/falcon-iam", "falcon-dev", Owner("team-a", "falcon-iam", "uid-2")),
    )
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": local_aws.url,
        "REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }

    def run(url: str, *blocks: str, **extra: str) -> str:
        script = "\n".join(["set -euo pipefail", *blocks])
        done = subprocess.run(
            ["bash", "-c", script],
            env={**env, "URL": url, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        return done.stdout

    expected = {"endpoint": "falcon-dev", "input": {"inputs": "What is a parking meter?"}}
    printed = run(keyed.invoke_url, url_block, key_block, API_KEY=keyed.api_key or "")
    local_url, answer = printed.splitlines()
    assert (
        local_url
        == f"{local_aws.url}/restapis/{keyed.rest_api_id}/prod/_user_request_/team-a/falcon"
    )
    assert json.loads(answer) == expected
    assert json.loads(run(signed.invoke_url, url_block, sigv4_block).splitlines()[1]) == expected
    seen = json.loads(run(signed.invoke_url, log_block))["requests"]
    assert [(r["path"], r["status"]) for r in seen] == [
        ("/team-a/falcon", 200),
        ("/team-a/falcon-iam", 200),
    ]


def test_sandbox_up_prints_where_the_data_plane_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    class Running:
        timeout = 60.0
        bin_dir = "/sandbox/bin"
        path_dirs = ["/sandbox/bin"]
        aws_endpoint_url = "http://127.0.0.1:5123"

        def up(self) -> bool:
            return False

        def env(self) -> dict[str, str]:
            return {
                name: "x"
                for name in (
                    "KUBECONFIG",
                    "AWS_ENDPOINT_URL",
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_DEFAULT_REGION",
                )
            }

    monkeypatch.setattr(sandbox_cli, "_sandbox", lambda state_dir: Running())
    result = CliRunner().invoke(sandbox_cli.sandbox, ["up"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5123/restapis/<apiId>/<stage>/_user_request_/<path>" in result.stderr
    assert "http://127.0.0.1:5123/sagemeter-api/dataplane/requests" in result.stderr
    assert all(line.startswith("export ") for line in result.stdout.splitlines())


def doc_section(title: str) -> str:
    return DOC.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def curl_command(block: str) -> str:
    """The one `curl` command of a block, with its continuation lines."""
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("curl "))
    command = []
    for line in lines[start:]:
        command.append(line)
        if not line.endswith("\\"):
            break
    return "\n".join(command)


@pytest.mark.usefixtures("aws_env")
def test_docs_async_curl_is_accepted_as_written(
    manager: RouteManager, local_aws: LocalAws, tmp_path: Path
) -> None:
    """The async example's curl (an empty POST: form-encoded, as `--data ''` makes it) gets
    the route's 202 and the inference id. The inline input the page mentions (the body in
    place of InputLocation) is passed on by the route: alone it is accepted, and with an
    InputLocation too SageMaker's "exactly one of them" refuses it, as it refuses neither."""
    (block,) = [b for b in FENCE.findall(doc_section("Async endpoints (`inferenceType: Async`)"))]
    command = curl_command(block)
    assert "--data ''" in command and "-X POST" not in command
    located = next(line for line in command.splitlines() if "InputLocation:" in line)
    create_endpoint("batch", async_=True)
    routed = ensure_deployed(
        manager,
        RouteSpec("team-a/batch", "batch", Owner("team-a", "batch", "uid-3"), async_=True),
    )
    local = f"{local_aws.url}/restapis/{routed.rest_api_id}/prod/_user_request_/team-a/batch"
    (tmp_path / "input.json").write_text('{"inputs": "What is a parking meter?"}')

    def run(script: str) -> tuple[int, str, str]:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\nTOKEN_HEADER=()\n" + script],
            cwd=tmp_path,
            env={
                **os.environ,
                "URL": local,
                "REGION": REGION,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        status = (tmp_path / "headers.txt").read_text().split()[1]
        return done.returncode, status, (tmp_path / "accepted.json").read_text()

    code, status, body = run(command)
    assert (code, status) == (0, "202"), body
    assert set(json.loads(body)) == {"InferenceId"}

    inline = command.replace("--data ''", "--data @input.json").replace(located, "  \\")
    code, status, body = run(inline)
    assert (code, status) == (0, "202"), body
    assert set(json.loads(body)) == {"InferenceId"}

    exactly_one = "Body and InputLocation are mutually exclusive. Provide exactly one of them."
    both = command.replace("--data ''", "--data @input.json")
    neither = command.replace(located, "  \\")
    for refused in (both, neither):
        code, status, body = run(refused)
        assert (code, status) == (22, "400"), body  # curl --fail-with-body: 22 on a 4xx
        assert exactly_one in body


@pytest.mark.usefixtures("aws_env")
def test_wrong_region_answer_is_quoted_exactly(manager: RouteManager, local_aws: LocalAws) -> None:
    quoted = re.search(r"signed\nfor `us-west-2`, `(\{.*?\})`", DOC.read_text())
    assert quoted, "calling-endpoints.md quotes the wrong-region answer"
    create_endpoint("falcon-dev")
    signed = ensure_deployed(
        manager,
        RouteSpec("team-a/falcon-iam", "falcon-dev", Owner("team-a", "falcon-iam", "uid-2")),
    )
    local = f"{local_aws.url}/restapis/{signed.rest_api_id}/prod/_user_request_/team-a/falcon-iam"
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "-w",
            "\n%{http_code}",
            local,
            "--aws-sigv4",
            "aws:amz:us-west-2:execute-api",
            "--user",
            "testing:testing",
            "-d",
            "{}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    body, status = done.stdout.rsplit("\n", 1)
    assert status == "403"
    assert json.loads(body) == json.loads(quoted.group(1))
