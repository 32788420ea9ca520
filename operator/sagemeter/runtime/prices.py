"""Loads the price table: the one shipped with sagemeter, plus a ConfigMap's overrides."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

from sagemeter.core.meter.pricing import PriceTable, parse_price_table

log = logging.getLogger("sagemeter")


def shipped_prices() -> PriceTable:
    text = resources.files("sagemeter").joinpath("data/prices.json").read_text()
    return parse_price_table(text)


def load_prices(override_file: str | None) -> PriceTable:
    """The shipped table, with the entries of `override_file` (a mounted ConfigMap) on top."""
    table = shipped_prices()
    if not override_file:
        return table
    try:
        overrides = parse_price_table(Path(override_file).read_text())
    except (OSError, ValueError, json.JSONDecodeError) as error:
        log.error("ignoring price overrides in %s: %s", override_file, error)
        return table
    return table.overridden(overrides.prices)
