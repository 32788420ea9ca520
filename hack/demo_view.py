"""The demo's live view: `kubectl sagemeter ls` redrawn like `watch` (hack/demo.py).

The table is the plugin's own (`sagemeter.cli.table`: the same headers and rows, so the demo
shows what a user gets from `kubectl sagemeter ls -n demo`, with colour). On a terminal it
redraws in place; otherwise (a log, a pipe) it is printed at the end of each step that changed
it. Either way one line says when an object's phase changes.
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

from sagemeter.cli.table import endpoint_row, expiry_or_none, table_headers

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
        # TIME LEFT moves every second: only what else changed is worth another table.
        left = table_headers(with_namespace=False).index("TIME LEFT")
        rows = [row[:left] + row[left + 1 :] for row in self.rows(datetime.now(UTC))]
        if self.live is None and rows != self.printed:
            console.print(self.table())
            self.printed = rows

    def rows(self, now: datetime) -> list[tuple[str, ...]]:
        """`kubectl sagemeter ls` rows, time left rounded as the plugin rounds it."""
        return [
            tuple(endpoint_row(obj, expiry_or_none(obj), now, with_namespace=False))
            for _, obj in sorted(self.objects.items())
        ]

    def table(self) -> Table:
        now = datetime.now(UTC)
        table = Table(
            box=box.SIMPLE_HEAD,
            title=f"kubectl sagemeter ls -n {NAMESPACE}   {now:%H:%M:%S}",
            title_justify="left",
            caption=self.step,
            caption_justify="left",
        )
        headers = table_headers(with_namespace=False)
        for header in headers:
            table.add_column(header, no_wrap=True)
        phase = headers.index("PHASE")
        for row in self.rows(now):
            cells = [escape(cell) for cell in row]
            style = PHASE_STYLE.get(row[phase], "cyan")
            cells[phase] = f"[{style}]{cells[phase]}[/]"
            table.add_row(*cells)
        return table
