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
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from sagemeter.api.models import (
    WAKE_ANNOTATION,
    ManagedEndpointSpec,
)
from sagemeter.cli.access import Conflict, Endpoints, PluginError, Target, utcnow
from sagemeter.cli.table import (
    budget_lines,
    current_expiry,
    endpoint_row,
    expiry_or_none,
    format_time_left,
    render_table,
    table_headers,
)
from sagemeter.core.endpoint.desired import extended_expiry, parse_windows
from sagemeter.core.meter.durations import parse_duration
from sagemeter.core.meter.schedule import in_any_window, next_edge
from sagemeter.core.meter.times import format_time

CONFLICT_RETRIES = 3
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
    `extend` tops up the meter; `park` stops an endpoint now and `wake` brings
    it back. The connection options work here and on every command, as in kubectl.

    \b
    Examples:
      kubectl sagemeter ls -A
      kubectl sagemeter extend falcon 1h30m -n team-a
      kubectl sagemeter park falcon
      kubectl sagemeter wake falcon
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
    endpoints = Endpoints(_target())
    for _ in range(1 + CONFLICT_RETRIES):
        obj = endpoints.get(name)
        now = utcnow()
        current = current_expiry(obj)
        if current is None:
            raise PluginError(
                f"{name} never expires (no spec.expiry and no operator default),"
                " so there is nothing to extend; set spec.expiry.ttl or"
                " spec.expiry.expiresAt to put it on a meter"
            )
        new = extended_expiry(current, now, duration)
        patch = {
            "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
            "spec": {"expiry": {"expiresAt": format_time(new)}},
        }
        try:
            endpoints.patch(name, patch)
        except Conflict:
            continue
        click.echo(f"{name}: expires at {format_time(new)} (in {format_time_left(new, now)})")
        return
    raise PluginError(
        f"{name} kept changing while extending it ({1 + CONFLICT_RETRIES} attempts); try again"
    )


@cli.command(short_help="Park an endpoint now (sets spec.suspend).")
@click.argument("name")
@kube_options
def park(name: str) -> None:
    """Park NAME now: sets spec.suspend to true.

    The operator deletes the SageMaker endpoint (no more cost) and keeps its
    model and configuration, so `kubectl sagemeter wake NAME` brings it back
    with one CreateEndpoint.

    \b
    Example:
      kubectl sagemeter park falcon -n team-a
    """
    endpoints = Endpoints(_target())
    obj = endpoints.get(name)
    if (obj.get("spec") or {}).get("suspend"):
        click.echo(f"{name}: already suspended (spec.suspend is true)")
        return
    endpoints.patch(name, {"spec": {"suspend": True}})
    click.echo(f"{name}: suspended; it stays parked until `kubectl sagemeter wake {name}`")


@cli.command(short_help="Bring an endpoint back after park or an idle park.")
@click.argument("name")
@kube_options
def wake(name: str) -> None:
    """Bring NAME back: undoes `park` and wakes it from an idle park.

    Sets the annotation sagemeter.io/wake to the current time (after an idle
    park, a new value resumes the endpoint) and, if spec.suspend is true (as
    `park` leaves it), sets it to false: wake is the one way back from park.
    Wake does not top up the meter or override the schedule; it says so when
    the endpoint is expired (use `extend`) or outside its uptime windows.

    \b
    Example:
      kubectl sagemeter wake falcon -n team-a
    """
    endpoints = Endpoints(_target())
    obj = endpoints.get(name)
    clock = datetime.now(UTC)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = format_time(clock)
    if annotations.get(WAKE_ANNOTATION) == value:  # woken twice in a second: still a new value
        value = clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    suspended = bool((obj.get("spec") or {}).get("suspend"))
    patch: dict[str, Any] = {"metadata": {"annotations": {WAKE_ANNOTATION: value}}}
    if suspended:
        patch["spec"] = {"suspend": False}
    endpoints.patch(name, patch)
    cleared = " and cleared spec.suspend" if suspended else ""
    click.echo(f"{name}: woken at {value}{cleared}")
    note = wake_note(obj, name, clock.replace(microsecond=0))
    if note:
        click.echo(f"note: {note}", err=True)


def wake_note(obj: dict[str, Any], name: str, now: datetime) -> str | None:
    """Why waking alone will not bring the endpoint back, if it will not."""
    expiry = expiry_or_none(obj)
    if expiry is not None and expiry <= now:
        return (
            f"{name} {format_time_left(expiry, now)}; wake does not top up the meter:"
            f" kubectl sagemeter extend {name} 1h"
        )
    try:
        windows, _ = parse_windows(ManagedEndpointSpec.model_validate(obj.get("spec") or {}))
    except ValueError:
        return None
    if windows and not in_any_window(windows, now):
        edge = next_edge(windows, now)
        when = f" at {format_time(edge)}" if edge else ""
        return f"{name} is outside its uptime schedule; it runs again{when}"
    return None


def main() -> None:
    cli(prog_name="kubectl sagemeter")


if __name__ == "__main__":
    main()
