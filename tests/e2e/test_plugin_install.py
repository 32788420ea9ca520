"""install.md's "The kubectl plugin", as a cluster user runs it: build the wheel from a checkout,
`pipx install` it with the `cli` extra, and `kubectl sagemeter` works through kubectl's plugin
lookup. Only the line that installs from a git URL is left out (it names `<you>`'s fork); the
wheel's line installs the same package.

pipx installs the dependencies from the package index, as it would for the user.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sagemeter_sandbox import Sandbox

from .conftest import ROOT

pytestmark = pytest.mark.cluster

FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
COPY_IGNORES = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-*",
    ".sandbox",
    "dist",
    "build",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
)


def plugin_block() -> str:
    text = (ROOT / "docs" / "install.md").read_text()
    section = text.split("## The kubectl plugin\n", 1)[1].split("\n## ", 1)[0]
    (block,) = FENCE.findall(section)
    return str(block)


def test_the_plugin_installs_with_pipx_as_written(sandbox: Sandbox, tmp_path: Path) -> None:
    block = plugin_block()
    lines = [line for line in block.splitlines() if "git+https://github.com/<you>" not in line]
    assert any(line.startswith("pipx install ") for line in lines)
    checkout = tmp_path / "sagemeter"
    shutil.copytree(ROOT, checkout, ignore=COPY_IGNORES)
    bin_dir = tmp_path / "bin"
    env = {
        **os.environ,
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(bin_dir),
        # pipx and kubectl (the sandbox's) on PATH, and the directory pipx installs into.
        "PATH": os.pathsep.join(
            [
                str(Path(sys.executable).parent),
                str(sandbox.bin_dir),
                str(bin_dir),
                "/usr/bin",
                "/bin",
            ]
        ),
        "KUBECONFIG": str(sandbox.kubeconfig),
    }
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(lines)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert (bin_dir / "kubectl-sagemeter").exists()
    assert "Usage: kubectl sagemeter" in done.stdout
    # The installed plugin is its own environment's, not the test's.
    assert str(tmp_path / "pipx") in (bin_dir / "kubectl-sagemeter").resolve().read_text()
