"""Judging a chaos run: false parks from the local AWS's request log, and the report itself
(a table on stdout, JSON and CSV under ``.bench/``).

**False parks.** The driver records, per object, when its intent changed (``run`` at create
and resume, ``park`` at suspend or expiry, ``delete`` at deletion), taken the moment the
apiserver accepted the change. The local AWS's request log records every DeleteEndpoint that
reached SageMaker and succeeded, with its arrival time and endpoint name (faults are injected
outside the log, so a refused call is not there). A DeleteEndpoint is a false park when the
object's intent at its arrival was ``run``: nobody asked for the endpoint to go. Steps wait
for convergence before the next change, so a delete decided for an earlier ``park`` has
landed before the ``run`` that follows, and no grace period is needed. Every false park is
listed with the faults that were active in the minute before it.
"""

from __future__ import annotations

import csv
import json
import time
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAULT_LOOKBACK = 60.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FaultWindow:
    kind: str
    start: float
    end: float


@dataclass
class Timeline:
    """Each object's intent over time and the endpoint name it runs as."""

    intents: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)  # endpoint name -> object

    def intend(self, names: Sequence[str], intent: str, at: float | None = None) -> None:
        now = time.time() if at is None else at
        for name in names:
            self.intents.setdefault(name, []).append((now, intent))

    def intent_at(self, name: str, ts: float) -> str | None:
        changes = self.intents.get(name, [])
        index = bisect_right([t for t, _ in changes], ts)
        return changes[index - 1][1] if index else None


def false_parks(
    timeline: Timeline, deletes: Sequence[Mapping[str, Any]], faults: Sequence[FaultWindow]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """False parks, and successful DeleteEndpoint calls per object (see the module doc)."""
    found, per_object = [], dict.fromkeys(timeline.intents, 0)
    for entry in deletes:
        obj = timeline.endpoints.get(entry["name"])
        if obj is None or entry["status"] != 200:
            continue
        per_object[obj] += 1
        intent = timeline.intent_at(obj, entry["ts"])
        if intent == "run":
            active = sorted(
                {w.kind for w in faults if w.start <= entry["ts"] <= w.end + FAULT_LOOKBACK}
            )
            found.append(
                {
                    "object": obj,
                    "endpoint": entry["name"],
                    "ts": entry["ts"],
                    "faults_within_60s": active,
                }
            )
    return found, per_object


@dataclass
class Row:
    metric: str
    value: Any
    expected: str = ""


def print_table(title: str, rows: Sequence[Row]) -> None:
    width = max(len(r.metric) for r in rows)
    values = [
        json.dumps(r.value) if isinstance(r.value, dict | list) else str(r.value) for r in rows
    ]
    vwidth = max(len(v) for v in values)
    lines = [f"\n== {title} ==", f"{'metric':<{width}}  {'value':<{vwidth}}  expected"]
    lines += [
        f"{r.metric:<{width}}  {v:<{vwidth}}  {r.expected}"
        for r, v in zip(rows, values, strict=True)
    ]
    print("\n".join(lines), flush=True)


def save(label: str, rows: Sequence[Row], details: Mapping[str, Any]) -> Path:
    """Writes ``.bench/<label>-<timestamp>.json`` and ``.csv``; answers the JSON path."""
    directory = ROOT / ".bench"
    directory.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = directory / f"{label}-{stamp}.json"
    doc = {
        "label": label,
        "time": stamp,
        "rows": [{"metric": r.metric, "value": r.value, "expected": r.expected} for r in rows],
        "details": details,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    with path.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "value", "expected"])
        for r in rows:
            writer.writerow(
                [
                    r.metric,
                    json.dumps(r.value) if isinstance(r.value, dict | list) else r.value,
                    r.expected,
                ]
            )
    return path
