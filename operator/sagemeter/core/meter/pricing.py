"""On-demand prices: what an endpoint costs per hour while it runs.

A table (shipped with sagemeter, or a ConfigMap mounted over it) maps instance
types to USD per instance-hour. Serverless endpoints bill per request and have
no hourly price.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    source: str = ""

    def hourly(self, instance_type: str | None, count: int) -> Decimal | None:
        if instance_type is None or instance_type not in self.prices:
            return None
        return self.prices[instance_type] * count

    def overridden(self, overrides: Mapping[str, Any]) -> PriceTable:
        merged = {**self.prices, **{k: Decimal(str(v)) for k, v in overrides.items()}}
        return PriceTable(merged, f"{self.source} (with overrides)")


def parse_price_table(text: str) -> PriceTable:
    """Either the shipped format (`{"prices": {...}, "source": ...}`) or a flat map."""
    data = json.loads(text)
    prices = data.get("prices", data) if isinstance(data, dict) else {}
    parsed = {
        str(k): Decimal(str(v)) for k, v in prices.items() if isinstance(v, int | float | str)
    }
    return PriceTable(parsed, str(data.get("source", "")) if isinstance(data, dict) else "")


def format_usd(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
