"""The demo's table is `kubectl sagemeter ls`, titled so: the same columns and rows the plugin
prints, never columns a command the title names would not show."""

from __future__ import annotations

import importlib.util
import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console

from sagemeter.cli.table import endpoint_row, expiry_or_none, render_table, table_headers
from sagemeter.core.meter.times import format_time

HACK = Path(__file__).parents[2] / "hack"


def demo_view() -> ModuleType:
    sys.path.insert(0, str(HACK))
    try:
        spec = importlib.util.spec_from_file_location("demo_view", HACK / "demo_view.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(HACK))


def obj(name: str, phase: str, **status: Any) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "metadata": {"name": name, "namespace": "demo", "creationTimestamp": format_time(now)},
        "spec": {"instanceType": "ml.g5.2xlarge", "expiry": {"ttl": "90m"}},
        "status": {
            "phase": phase,
            "expiresAt": format_time(now + timedelta(minutes=90)),
            **status,
        },
    }


def test_the_demo_table_is_kubectl_sagemeter_ls() -> None:
    view_module = demo_view()
    view = view_module.View()
    view.live = None
    objects = {
        "falcon": obj("falcon", "InService", hourlyCostUSD="1.52"),
        "llama": obj("llama", "Parked", parkedReason="Expired", reason="Expired"),
    }
    view.objects = objects
    table = view.table()
    assert str(table.title).startswith(f"kubectl sagemeter ls -n {view_module.NAMESPACE}")
    assert [str(c.header) for c in table.columns] == table_headers(with_namespace=False)

    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(table)
    now = datetime.now(UTC)
    plugin = render_table(
        table_headers(with_namespace=False),
        [endpoint_row(o, expiry_or_none(o), now, with_namespace=False) for o in objects.values()],
    )
    # Every row the plugin prints is in the demo's table, cell for cell.
    rendered = [line.split() for line in out.getvalue().splitlines()]
    for line in plugin.splitlines()[1:]:
        assert line.split() in rendered, (line, out.getvalue())
