"""On-demand prices: what an endpoint costs per hour while it runs.

A table (shipped with sagemeter, or a ConfigMap mounted over it) maps instance
types to USD per instance-hour. Serverless endpoints bill compute per second by
memory; the table's `serverlessUSDPerGBHour` prices them for budgets as
`maxConcurrency x memory` at that rate: the most such an endpoint can cost in
an hour, every concurrency slot busy (SPEC §5 "Budget").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sagemeter.api.models import InferenceType, ManagedEndpointSpec, ServerlessConfig

SERVERLESS_RATE_KEY: Final = "serverlessUSDPerGBHour"


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    source: str = ""
    serverless_usd_per_gb_hour: Decimal | None = None

    def hourly(self, instance_type: str | None, count: int) -> Decimal | None:
        if instance_type is None or instance_type not in self.prices:
            return None
        return self.prices[instance_type] * count

    def serverless_hourly(self, memory_size_mb: int, max_concurrency: int) -> Decimal | None:
        """`maxConcurrency x memory` at the serverless rate (None without a rate)."""
        if self.serverless_usd_per_gb_hour is None:
            return None
        gigabytes = Decimal(memory_size_mb) / Decimal(1024)
        return self.serverless_usd_per_gb_hour * gigabytes * max_concurrency

    def overridden(self, overrides: Mapping[str, Any] | PriceTable) -> PriceTable:
        """This table with `overrides` on top: a map of prices, or a whole parsed table
        (which may also override the serverless rate)."""
        rate = self.serverless_usd_per_gb_hour
        if isinstance(overrides, PriceTable):
            rate = overrides.serverless_usd_per_gb_hour or rate
            overrides = overrides.prices
        merged = {**self.prices, **{k: Decimal(str(v)) for k, v in overrides.items()}}
        return PriceTable(merged, f"{self.source} (with overrides)", rate)


def parse_price_table(text: str) -> PriceTable:
    """Either the shipped format (`{"prices": {...}, "source": ...}`) or a flat map."""
    data = json.loads(text)
    prices = data.get("prices", data) if isinstance(data, dict) else {}
    parsed = {
        str(k): Decimal(str(v))
        for k, v in prices.items()
        if isinstance(v, int | float | str) and k != SERVERLESS_RATE_KEY
    }
    rate = data.get(SERVERLESS_RATE_KEY) if isinstance(data, dict) else None
    return PriceTable(
        parsed,
        str(data.get("source", "")) if isinstance(data, dict) else "",
        Decimal(str(rate)) if isinstance(rate, int | float | str) else None,
    )


def endpoint_hourly(spec: ManagedEndpointSpec, table: PriceTable) -> Decimal | None:
    """What one fleet of this endpoint costs per hour; None when the price is unknown
    (an instance type not in the table, an existing EndpointConfig, an adopted endpoint)."""
    if spec.adopt or (spec.model is not None and spec.model.endpoint_config_name is not None):
        return None  # the capacity is in a configuration sagemeter did not write
    if spec.inference_type == InferenceType.SERVERLESS:
        # The defaults are the ones the EndpointConfig request uses (core.endpoint.requests).
        serverless = spec.serverless or ServerlessConfig()
        return table.serverless_hourly(serverless.memory_size_mb, serverless.max_concurrency)
    return table.hourly(spec.instance_type, spec.instance_count)


def format_usd(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
