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
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import click

from sagemeter.cli import actions
from sagemeter.cli.access import Endpoints, PluginError, Target, utcnow
from sagemeter.cli.outcomes import ParkOutcome, park_verdict, preview_top_up
from sagemeter.cli.patches import NothingToExtend
from sagemeter.cli.table import (
    budget_lines,
    endpoint_row,
    expiry_or_none,
    format_time_left,
    render_table,
    table_headers,
    total_line,
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


NEGATIVE = re.compile(r"^-\d")


def refuse_negative(text: str) -> str:
    return (
        f"{text}: a top-up only adds time; write a positive duration such as 1h"
        " (to stop the endpoint sooner: kubectl sagemeter park NAME)"
    )


class TopUpType(DurationType):
    """What `extend` adds: a positive duration."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        text = str(value)
        if NEGATIVE.match(text):
            self.fail(refuse_negative(text), param, ctx)
        duration = super().convert(value, param, ctx)
        if duration <= timedelta(0):
            self.fail(f"{text} adds no time; write a positive duration such as 1h", param, ctx)
        return duration


class TopUpCommand(click.Command):
    """`extend NAME -1h` would read as the options `-1` and `-h` (help): a negative duration is
    refused in words before options are parsed."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:
            if NEGATIVE.match(arg):
                raise click.BadParameter(refuse_negative(arg), ctx, param_hint="'DURATION'")
        return super().parse_args(ctx, args)


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
    ("1h23m", "expired 5m ago", "-" for never), INSTANCE, COST/H (USD per
    hour paid now: "$0" while parked, failed or pending, twice the price
    while an update runs both fleets, "?" when the price is unknown). Then
    the total paid per hour, and one line per EndpointPolicy budget the user
    may read: what runs under it and how many endpoints wait for room.

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
    click.echo(total_line([obj.get("status") or {} for obj in items]))
    for line in budget_lines(endpoints.policies()):
        click.echo(line)


@cli.command(cls=TopUpCommand, short_help="Top up the meter (an expired endpoint from now).")
@click.argument("name")
@click.argument("duration", type=TopUpType())
@click.option("-y", "--yes", is_flag=True, help="Extend beyond a week without asking.")
@kube_options
def extend(name: str, duration: timedelta, yes: bool) -> None:
    """Top up NAME's meter: expiresAt = max(now, current expiry) + DURATION.

    The current expiry is status.expiresAt (it includes operator limits), else
    spec.expiry.expiresAt, else creation + spec.expiry.ttl. An expired endpoint
    is extended from now (and, if parked, resumes). The new time is written to
    spec.expiry.expiresAt, which wins over spec.expiry.ttl from then on; a
    concurrent change is re-read and retried. A maximum lifetime (the
    operator's or an EndpointPolicy's, status.maxExpiresAt) caps the top-up,
    and says so; a top-up to more than a week from now asks first (-y: don't).

    \b
    DURATION is one or more <int><unit>, units w, d, h, m, s: 90m, 1h30m, 2d.

    \b
    Example:
      kubectl sagemeter extend falcon 1h30m -n team-a
      falcon: expires at 2026-11-22T18:30:00Z (in 1h30m)
    """
    endpoints = Endpoints(_target())
    now = utcnow()
    try:
        top_up = preview_top_up(endpoints.get(name), duration, now)
    except NothingToExtend as error:
        raise PluginError(str(error)) from None
    if top_up.needs_confirmation(now) and not yes:
        click.confirm(
            f"{name}: run until {format_time(top_up.expires_at)}"
            f" (in {format_time_left(top_up.expires_at, now)}), at its cost until then?",
            abort=True,
        )
    done = actions.extend(endpoints, name, duration)
    click.echo(
        f"{name}: expires at {format_time(done.expires_at)}"
        f" (in {format_time_left(done.expires_at, done.now)})"
    )
    if top_up.capped:
        click.echo(
            f"note: capped at {format_time(done.expires_at)}, the maximum lifetime (the"
            " operator's SAGEMETER_MAX_LIFETIME or an EndpointPolicy's maxLifetime); asked"
            f" for {format_time(top_up.asked)}",
            err=True,
        )
    if top_up.ttl_set:
        click.echo(
            "note: spec.expiry.expiresAt now sets the expiry; it wins over spec.expiry.ttl",
            err=True,
        )


@cli.command(short_help="Park an endpoint now (sets spec.suspend).")
@click.argument("name")
@click.option(
    "--wait",
    "wait",
    type=DurationType(),
    default="10s",
    show_default=True,
    help="How long to wait for the operator's answer (0s: do not wait).",
)
@kube_options
def park(name: str, wait: timedelta) -> None:
    """Park NAME now: sets spec.suspend to true.

    The operator deletes the SageMaker endpoint (no more cost) and keeps its
    model and configuration, so `kubectl sagemeter resume NAME` (or `wake`)
    brings it back with one CreateEndpoint. park waits a few seconds for the
    operator's answer and says it: parked, parking, or, when the operator runs
    in dry run, that nothing is parked.

    \b
    Example:
      kubectl sagemeter park falcon -n team-a
    """
    endpoints = Endpoints(_target())
    changed = actions.park(endpoints, name).changed
    verdict = park_verdict(lambda: endpoints.get(name), wait.total_seconds())
    undo = f"`kubectl sagemeter resume {name}`"
    said = {
        ParkOutcome.PARKED: f"parked; it stays parked until {undo}",
        ParkOutcome.PARKING: f"parking (the operator deletes its SageMaker endpoint); it stays"
        f" parked until {undo}",
        ParkOutcome.DRY_RUN: "suspended, but the operator runs in dry run: it only reports"
        f" WouldPark, and the endpoint keeps running and costing; {undo} clears the suspend",
        ParkOutcome.NOT_YET: f"suspended; the operator has not acted on it yet; it parks it and"
        f" keeps it parked until {undo}",
    }[verdict]
    if not changed:
        said = f"already suspended (spec.suspend is true); {said}"
    click.echo(f"{name}: {said}")


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
