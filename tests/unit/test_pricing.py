"""Prices and the fleet's cost accounting (no I/O beyond the shipped table)."""

from __future__ import annotations

from decimal import Decimal

from sagemeter.core.meter.pricing import PriceTable, format_usd, parse_price_table
from sagemeter.runtime.metrics import Fleet
from sagemeter.runtime.prices import shipped_prices


def test_shipped_table_has_source_and_common_gpu_types() -> None:
    table = shipped_prices()
    assert "pricing" in table.source
    for instance_type in ("ml.g5.2xlarge", "ml.g6.xlarge", "ml.p4d.24xlarge", "ml.m5.large"):
        assert table.prices[instance_type] > 0
    assert format_usd(table.hourly("ml.g5.2xlarge", 1)) == "1.52"


def test_hourly_cost_scales_with_count_and_is_unknown_without_a_price() -> None:
    table = PriceTable({"ml.g5.xlarge": Decimal("1.408")})
    assert table.hourly("ml.g5.xlarge", 3) == Decimal("4.224")
    assert table.hourly("ml.unknown.xlarge", 1) is None
    assert table.hourly(None, 1) is None  # serverless bills per request
    assert format_usd(None) is None


def test_overrides_replace_and_extend_the_table() -> None:
    flat = parse_price_table('{"ml.g5.xlarge": 2, "ml.custom.large": "0.5"}')
    table = PriceTable({"ml.g5.xlarge": Decimal("1.408")}, "shipped").overridden(flat.prices)
    assert table.hourly("ml.g5.xlarge", 1) == Decimal(2)
    assert table.hourly("ml.custom.large", 2) == Decimal("1.0")
    assert "overrides" in table.source


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def values(fleet: Fleet) -> dict[str, object]:
    out: dict[str, object] = {}
    for metric in fleet.collect():
        for sample in metric.samples:
            key = sample.name + "".join(f"|{v}" for v in sample.labels.values())
            out[key] = sample.value
    return out


def test_fleet_counts_phases_and_accumulates_avoided_cost_while_parked() -> None:
    clock = Clock()
    fleet = Fleet(clock)
    fleet.update("a", "InService", None, Decimal("1.5"))
    fleet.update("b", "Parked", "Expired", Decimal("2"))
    fleet.update("c", "Parked", "Idle", None)
    first = values(fleet)
    assert first["sagemeter_endpoints|InService|"] == 1
    assert first["sagemeter_endpoints|Parked|Expired"] == 1
    assert first["sagemeter_running_cost_usd_per_hour"] == 1.5
    assert first["sagemeter_cost_avoided_usd_total"] == 0

    clock.now = 1800.0  # half an hour parked at 2 USD/h
    assert values(fleet)["sagemeter_cost_avoided_usd_total"] == 1.0
    fleet.update("b", "InService", None, Decimal("2"))  # resumed: no more savings
    clock.now = 3600.0
    later = values(fleet)
    assert later["sagemeter_cost_avoided_usd_total"] == 1.0
    assert later["sagemeter_running_cost_usd_per_hour"] == 3.5
    fleet.forget("a")
    assert values(fleet)["sagemeter_running_cost_usd_per_hour"] == 2.0
