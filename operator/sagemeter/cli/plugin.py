"""`kubectl sagemeter`: list ManagedEndpoints, top up their meter, wake and park them.

kubectl runs any executable named `kubectl-<name>` on PATH as `kubectl <name>`;
this module is `kubectl-sagemeter` (console script) and also runs as
`python -m sagemeter.cli.plugin`. It talks to the API server with the user's
kubeconfig through the `kubernetes` client and owns no rules of its own: expiry
arithmetic comes from `sagemeter.core`, the table from `sagemeter.cli.table`.

Exit codes: 0 ok; 1 not found or an API error, told in one line; 2 usage error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import click

from sagemeter.cli import actions
from sagemeter.cli.access import Endpoints, Target, utcnow
from sagemeter.cli.table import (
    budget_lines,
    endpoint_row,
    expiry_or_none,
    format_time_left,
    render_table,
    table_headers,
)
from sagemeter.core.meter.durations import parse_duration
from sagemeter.core.meter.times import format_time

F = TypeVar("F", bound=Callable[..., Any])


# ------------------------------------------------------------------ options


def _target() -> Target:
    return click.get_current_context().find_root().ensure_object(Target)


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    # The same options exist on the group and on every command, so both
    # `kubectl sagemeter -n a ls` and `kubectl sagemeter ls -n a` work.
    if value is not None and param.name:
        setattr(ctx.find_root().ensure_object(Target), param.name, value)


def kube_options(function: F) -> F:
    """--kubeconfig, --context and -n/--namespace, as kubectl spells them."""
    common: dict[str, Any] = {"expose_value": False, "callback": _remember}
    options = [
        click.option(
            "--kubeconfig",
            type=click.Path(exists=True, dir_okay=False),
            help="Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).",
            **common,
        ),
        click.option("--context", help="Kubeconfig context (default: the current one).", **common),
        click.option(
            "-n",
            "--namespace",
            help="Namespace (default: the context's namespace, else default).",
            **common,
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


class DurationType(click.ParamType[timedelta, Any]):
    """A sagemeter duration (`90m`, `1h30m`, `2d`); a bad one is a usage error."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


# ------------------------------------------------------------------ commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@kube_options
def cli() -> None:
    """Watch and steer sagemeter's ManagedEndpoints: SageMaker endpoints with a meter.

    `ls` shows what runs, why the rest is parked, the time left and the cost;
    `extend` tops up the meter; `park` stops an endpoint now and `resume` undoes
    it; `wake` brings an idle-parked endpoint back; `ui` shows them all on a live
    web page. The connection options work here and on every command, as in kubectl.

    \b
    Examples:
      kubectl sagemeter ls -A
      kubectl sagemeter extend falcon 1h30m -n team-a
      kubectl sagemeter park falcon
      kubectl sagemeter resume falcon
      kubectl sagemeter wake falcon
      kubectl sagemeter ui -A
    """


@cli.command("ls", short_help="List endpoints: phase, reason, time left, cost.")
@kube_options
@click.option("-A", "--all-namespaces", is_flag=True, help="List endpoints in every namespace.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json prints the API's list, sorted.",
)
def list_endpoints(all_namespaces: bool, output: str) -> None:
    """List ManagedEndpoints, sorted by namespace and name.

    \b
    Columns: NAMESPACE (with -A), NAME, PHASE, REASON (why it is parked,
    and the Degraded reason if it is degraded), TIME LEFT until it expires
    ("1h23m", "expired 5m ago", "-" for never), INSTANCE, COST/H (USD while
    running, "-" when unknown). Then one line per EndpointPolicy budget the
    user may read: what runs under it and how many endpoints wait for room.

    \b
    Examples:
      kubectl sagemeter ls -n team-a
      kubectl sagemeter ls -A -o json
    """
    endpoints = Endpoints(_target())
    listing = endpoints.list(all_namespaces)
    items = sorted(
        listing.get("items") or [],
        key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
    )
    if output == "json":
        click.echo(json.dumps({**listing, "items": items}, indent=2))
        return
    if not items:
        where = "" if all_namespaces else f" in {endpoints.namespace} namespace"
        click.echo(f"No resources found{where}.", err=True)
        return
    now = utcnow()
    rows = [
        endpoint_row(obj, expiry_or_none(obj), now, with_namespace=all_namespaces) for obj in items
    ]
    click.echo(render_table(table_headers(with_namespace=all_namespaces), rows), nl=False)
    for line in budget_lines(endpoints.policies()):
        click.echo(line)


@cli.command(short_help="Top up the meter (an expired endpoint from now).")
@click.argument("name")
@click.argument("duration", type=DurationType())
@kube_options
def extend(name: str, duration: timedelta) -> None:
    """Top up NAME's meter: expiresAt = max(now, current expiry) + DURATION.

    The current expiry is status.expiresAt (it includes operator limits), else
    spec.expiry.expiresAt, else creation + spec.expiry.ttl. An expired endpoint
    is extended from now (and, if parked, resumes). The new time is written to
    spec.expiry.expiresAt; a concurrent change is re-read and retried.

    \b
    DURATION is one or more <int><unit>, units w, d, h, m, s: 90m, 1h30m, 2d.

    \b
    Example:
      kubectl sagemeter extend falcon 1h30m -n team-a
      falcon: expires at 2026-11-22T18:30:00Z (in 1h30m)
    """
    done = actions.extend(Endpoints(_target()), name, duration)
    click.echo(
        f"{name}: expires at {format_time(done.expires_at)}"
        f" (in {format_time_left(done.expires_at, done.now)})"
    )


@cli.command(short_help="Park an endpoint now (sets spec.suspend).")
@click.argument("name")
@kube_options
def park(name: str) -> None:
    """Park NAME now: sets spec.suspend to true.

    The operator deletes the SageMaker endpoint (no more cost) and keeps its
    model and configuration, so `kubectl sagemeter resume NAME` (or `wake`)
    brings it back with one CreateEndpoint.

    \b
    Example:
      kubectl sagemeter park falcon -n team-a
    """
    if not actions.park(Endpoints(_target()), name).changed:
        click.echo(f"{name}: already suspended (spec.suspend is true)")
        return
    click.echo(f"{name}: suspended; it stays parked until `kubectl sagemeter resume {name}`")


@cli.command(short_help="Undo park: clear spec.suspend.")
@click.argument("name")
@kube_options
def resume(name: str) -> None:
    """Undo `park`: sets spec.suspend to false.

    The endpoint runs again unless something else keeps it parked: an expired
    meter (use `extend`), its uptime schedule, or an idle park (use `wake`);
    resume says so when it sees one of them.

    \b
    Example:
      kubectl sagemeter resume falcon -n team-a
    """
    done = actions.resume(Endpoints(_target()), name)
    if done.changed:
        click.echo(f"{name}: resumed (spec.suspend is false)")
    else:
        click.echo(f"{name}: not suspended (spec.suspend is already false)")
    if done.note:
        click.echo(f"note: {done.note}", err=True)


@cli.command(short_help="Bring an endpoint back after park or an idle park.")
@click.argument("name")
@kube_options
def wake(name: str) -> None:
    """Bring NAME back: undoes `park` and wakes it from an idle park.

    Sets the annotation sagemeter.io/wake to the current time (after an idle
    park, a new value resumes the endpoint) and, if spec.suspend is true (as
    `park` leaves it), sets it to false. Wake does not top up the meter or
    override the schedule; it says so when the endpoint is expired (use
    `extend`) or outside its uptime windows.

    \b
    Example:
      kubectl sagemeter wake falcon -n team-a
    """
    done = actions.wake(Endpoints(_target()), name)
    cleared = " and cleared spec.suspend" if done.cleared_suspend else ""
    click.echo(f"{name}: woken at {done.value}{cleared}")
    if done.note:
        click.echo(f"note: {done.note}", err=True)


@cli.command(short_help="A web page of the endpoints, live, with the actions as buttons.")
@kube_options
@click.option("-A", "--all-namespaces", is_flag=True, help="Show endpoints in every namespace.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 (default: a free one).",
)
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
def ui(all_namespaces: bool, port: int, no_browser: bool) -> None:
    """Serve a page of the endpoints on 127.0.0.1 and open it in the browser.

    The page lists every endpoint with its phase and reason, the time left
    (counting down), the cost per hour, the route, the conditions and the
    spend of the EndpointPolicies that apply, updated live from a watch. Its
    buttons Extend (1h, 4h, or a duration typed in), Suspend, Resume and Wake
    send the same patches as `extend`, `park`, `resume` and `wake`.

    It uses your kubeconfig (exec credential plugins too), so RBAC decides
    what you see and may change; the API's refusals are shown as it wrote
    them. Only the page it serves can use it: the URL carries a token for this
    session, and requests from other origins or hosts are refused. Stop it
    with Ctrl-C.

    \b
    Examples:
      kubectl sagemeter ui -n team-a
      kubectl sagemeter ui -A --no-browser --port 8765
    """
    from sagemeter.cli.ui.server import serve  # aiohttp is loaded for this command only

    endpoints = Endpoints(_target())
    serve(endpoints, None if all_namespaces else endpoints.namespace, port, not no_browser)


def main() -> None:
    cli(prog_name="kubectl sagemeter")


if __name__ == "__main__":
    main()
