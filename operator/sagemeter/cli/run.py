"""`sagemeter run`: the operator (kopf) with sagemeter's settings as flags."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from collections.abc import Coroutine
from typing import Any

import click

from sagemeter.runtime.settings import Settings


def setting_flags(name: str) -> str:
    """The flag of a setting: `--dry-run/--no-dry-run` for a boolean (bare `--dry-run` turns it
    on), `--sync-interval` (with a value) for the rest."""
    flag = f"--{name.replace('_', '-')}"
    if Settings.model_fields[name].annotation in (bool, bool | None):
        return f"{flag}/--no-{flag.removeprefix('--')}"
    return flag


def _settings_options(command: Any) -> Any:
    """One `--flag` per Settings field, so flags and SAGEMETER_* variables are the same set.
    Unset flags are None: the SAGEMETER_* variable (or the default) applies."""
    for name, field in reversed(Settings.model_fields.items()):
        env = f"SAGEMETER_{name.upper()}"
        command = click.option(
            setting_flags(name),
            name,
            default=None,
            help=f"{field.description} [env {env}]",
        )(command)
    return command


@click.command()
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Watch only these namespaces (repeatable); default: the whole cluster.",
)
@click.option(
    "--peering",
    "peering_name",
    default=None,
    help="kopf peering object name: run several replicas, one active.",
)
@click.option(
    "--priority",
    type=int,
    default=None,
    help="kopf peering priority: the replica with the highest one acts."
    "  [default with --peering: random, so equal replicas never tie]",
)
@click.option(
    "--liveness",
    "liveness_endpoint",
    default=None,
    help="Serve the liveness probe at this URL, e.g. http://0.0.0.0:8081/healthz, and the"
    " readiness probe at /readyz on the same address.",
)
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
@_settings_options
def run(
    namespaces: tuple[str, ...],
    peering_name: str | None,
    priority: int | None,
    liveness_endpoint: str | None,
    verbose: bool,
    **overrides: Any,
) -> None:
    """Run the operator."""
    from sagemeter.runtime.allocator import limit_arenas
    from sagemeter.runtime.lean_bodies import lean_bodies
    from sagemeter.runtime.tls import small_tls_reads

    limit_arenas()  # before any thread allocates (runtime.allocator)
    small_tls_reads()  # before kopf connects (runtime.tls)
    lean_bodies()  # before kopf watches (runtime.lean_bodies)
    import kopf

    from sagemeter.cli.startup import StartupError, check_startup
    from sagemeter.handlers import endpoints  # noqa: F401  (registers the handlers)
    from sagemeter.runtime.logs import configure_logging

    if peering_name is not None and priority is None:
        # kopf pauses every operator that sees a peer of the same priority, itself
        # included: identical replicas need distinct priorities (kopf docs: random ones).
        priority = random.SystemRandom().randint(1, 2**31 - 1)
    try:
        settings = check_startup(overrides, peering_name, list(namespaces), liveness_endpoint)
    except StartupError as error:
        # Crash-only: one line, a non-zero exit, never a live process that does nothing.
        click.echo(f"sagemeter: cannot start: {error}", err=True)
        sys.exit(1)
    configure_logging(settings.log_format, verbose)
    operator = kopf.operator(
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=peering_name is None,
        peering_name=peering_name,
        priority=priority,
        memo=kopf.Memo(
            settings=settings, namespaces=list(namespaces), peering=peering_name is not None
        ),
    )
    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(_with_heartbeat(operator))


async def _with_heartbeat(operator: Coroutine[Any, Any, None]) -> None:
    """kopf's operator, with the heartbeat the liveness probe checks on the same loop
    (``runtime.probes``; the probes themselves are served from a thread)."""
    from sagemeter.runtime.probes import heartbeat, install_stall

    install_stall(asyncio.get_running_loop())
    beating = asyncio.create_task(heartbeat(), name="sagemeter heartbeat")
    try:
        await operator
    finally:
        beating.cancel()
