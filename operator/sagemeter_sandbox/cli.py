"""`sagemeter sandbox up|down|status`: a thin command layer over :class:`sagemeter_sandbox.Sandbox`.

The `sagemeter-sandbox` distribution registers this group under the entry-point group
`sagemeter.commands`, so `sagemeter sandbox` exists wherever the sandbox is installed (the demo,
the tests) and nowhere else (the operator's image). Progress goes to stderr and only the
``export`` lines go to stdout, so ``eval "$(sagemeter sandbox up)"`` works.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import click

from sagemeter_sandbox import Sandbox, plugin_dir

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the sandbox keeps certificates, logs, pid files and kubeconfig "
    "[default: <repo>/.sandbox].",
)


def _sandbox(state_dir: Path | None) -> Sandbox:
    return Sandbox(state_dir=state_dir) if state_dir else Sandbox()


@click.group()
def sandbox() -> None:
    """A local kube-apiserver, etcd, kube-controller-manager and AWS (moto) on 127.0.0.1."""


@sandbox.command()
@state_dir_option
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait per component.")
def up(state_dir: Path | None, timeout: float) -> None:
    """Start the sandbox (or find it running) and print the export lines."""
    box = _sandbox(state_dir)
    box.timeout = timeout
    started = time.monotonic()
    try:
        fresh = box.up()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        raise click.ClickException(str(error)) from error
    if fresh:
        click.echo(f"sandbox: up in {time.monotonic() - started:.1f}s", err=True)
    aws = box.aws_endpoint_url
    click.echo(
        "sandbox: API Gateway routes answer at "
        f"{aws}/restapis/<apiId>/<stage>/_user_request_/<path>\n"
        f"sandbox: requests they served: GET {aws}/sagemeter-api/dataplane/requests",
        err=True,
    )
    env = box.env()
    for name in (
        "KUBECONFIG",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    ):
        click.echo(f"export {name}={env[name]}")
    dirs = [str(d) for d in box.path_dirs]
    click.echo(f"export PATH={shlex.quote(':'.join(dirs))}:$PATH")
    if plugin_dir() is None:
        click.echo(
            "sandbox: kubectl-sagemeter is not installed here; `kubectl sagemeter` needs it"
            " (pipx install '<repository>[cli]', docs/install.md#the-kubectl-plugin)",
            err=True,
        )


@sandbox.command()
@state_dir_option
def down(state_dir: Path | None) -> None:
    """Stop the sandbox's processes (only those it started)."""
    stopped = _sandbox(state_dir).down()
    click.echo(
        f"sandbox: stopped {', '.join(stopped)}" if stopped else "sandbox: nothing running",
        err=True,
    )


@sandbox.command()
@state_dir_option
def status(state_dir: Path | None) -> None:
    """Show each component as running or stopped, and readiness."""
    report = _sandbox(state_dir).status()
    width = max(map(len, report))
    for component, state in report.items():
        click.echo(f"{component:<{width}}  {state}")
