"""The demo's live view: `kubectl get mep -w` for people (hack/demo.py).

On a terminal the table redraws in place, like `watch`; otherwise (a log, a pipe) it is
printed at the end of each step that changed it. Either way one line says when an object's
phase changes.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from sagemeter.cli.table import format_time_left
from sagemeter.core.meter.times import parse_time

NAMESPACE = "demo"
TTY = sys.stdout.isatty()
console = Console(highlight=False, soft_wrap=True, width=None if TTY else 132)
PHASE_STYLE = {"InService": "green", "Parked": "yellow", "Failed": "bold red"}

Objects = dict[str, dict[str, Any]]  # name -> the object, as `kubectl get -o json` shows it


def say(text: str, view: View | None = None) -> None:
    """A step's title; the step before it ends here."""
    if view is not None:
        view.step_done()
    console.print(f"\n[bold]==> {text}[/]")


def shell(command: str) -> None:
    """A command as the person would type it."""
    console.print(f"[dim]$[/] [cyan]{escape(command)}[/]")


class View:
    """The table of every ManagedEndpoint in the demo's namespace, and phase changes."""

    def __init__(self) -> None:
        self.objects: Objects = {}
        self.phases: dict[str, str] = {}
        self.step = ""
        self.printed: list[tuple[str, ...]] = []  # the rows of the table printed last
        self.live = Live(console=console, auto_refresh=False) if TTY else None

    def start(self) -> None:
        if self.live is not None:
            self.live.start()

    def stop(self) -> None:
        self.step_done()
        if self.live is not None:
            self.live.stop()
            self.live = None

    def show(self, objects: Objects) -> None:
        for name, obj in sorted(objects.items()):
            now = (obj.get("status") or {}).get("phase", "")
            reason = (obj.get("status") or {}).get("parkedReason", "")
            if now and self.phases.get(name) != f"{now} {reason}":
                self.phases[name] = f"{now} {reason}"
                style = PHASE_STYLE.get(now, "cyan")
                console.print(
                    f"  [dim]{datetime.now(UTC):%H:%M:%S}[/] {name} [{style}]{now}[/] "
                    f"{reason}".rstrip()
                )
        self.objects = objects
        if self.live is not None:
            self.live.update(self.table(), refresh=True)

    def step_done(self) -> None:
        """Off a terminal, the table as the step left it, unless it shows nothing new."""
        rows: list[tuple[str, ...]] = [
            (name, *phase_of(obj), instance(obj["spec"]), notes(obj.get("status") or {}))
            for name, obj in sorted(self.objects.items())
        ]
        if self.live is None and rows != self.printed:
            console.print(self.table())
            self.printed = rows

    def table(self) -> Table:
        now = datetime.now(UTC)
        table = Table(
            box=box.SIMPLE_HEAD,
            title=f"kubectl get mep -n {NAMESPACE}   {now:%H:%M:%S}",
            title_justify="left",
            caption=self.step,
            caption_justify="left",
        )
        for header in ("NAME", "PHASE", "REASON", "INSTANCE", "TIME LEFT", "COST/H", "ROUTE"):
            table.add_column(header, no_wrap=True)
        table.add_column("CONDITIONS")
        for name, obj in sorted(self.objects.items()):
            spec, status = obj["spec"], obj.get("status") or {}
            phase = status.get("phase", "")
            expires = status.get("expiresAt")
            api = spec.get("api")
            table.add_row(
                name,
                f"[{PHASE_STYLE.get(phase, 'cyan')}]{phase}[/]",
                status.get("parkedReason", ""),
                instance(spec),
                format_time_left(parse_time(expires), now) if expires else "-",
                status.get("hourlyCostUSD", "-"),
                f"/{api['path']} {api['authorization']}" if api else "-",
                notes(status),
            )
        return table


def phase_of(obj: dict[str, Any]) -> tuple[str, str]:
    status = obj.get("status") or {}
    return status.get("phase", ""), status.get("parkedReason", "")


def instance(spec: dict[str, Any]) -> str:
    if spec.get("instanceType"):
        count = spec.get("instanceCount", 1)
        return f"{spec['instanceType']}" + (f" x{count}" if count > 1 else "")
    if spec.get("adopt"):
        return "(adopted)"
    if (spec.get("model") or {}).get("endpointConfigName"):
        return "(its config)"
    return str(spec.get("inferenceType", ""))


def notes(status: dict[str, Any]) -> str:
    """Conditions worth a look: Degraded (red) and ExpiringSoon."""
    shown = []
    for condition in status.get("conditions", []):
        if condition["status"] == "True" and condition["type"] == "Degraded":
            shown.append(f"[bold red]Degraded: {condition['reason']}[/]")
        elif condition["status"] == "True" and condition["type"] == "ExpiringSoon":
            shown.append("ExpiringSoon")
    return ", ".join(shown)
