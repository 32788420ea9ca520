"""The fleet an EndpointConfig asks for, read from what SageMaker describes, and its price.

    variants_of(config) -> tuple[Variant, ...]        from a DescribeEndpointConfig response
    models_of(variants) -> the model names the variants run
    fleet_hourly(fleet, prices) -> Decimal | None     the most the fleet can cost in an hour

A config sagemeter did not write (`spec.model.endpointConfigName`, an adopted endpoint's) is
held to the same guardrails and budgets as one it writes, so everything that can make it cost
more is read, with the shapes of botocore's service model (`DescribeEndpointConfigOutput`):

* `ProductionVariants` and `ShadowProductionVariants`: a shadow variant runs (and bills) its own
  instances beside the production one;
* per variant, `InstanceType`, or every `InstancePools[].InstanceType` of a heterogeneous
  variant, and `InitialInstanceCount`; with `ManagedInstanceScaling.Status` ENABLED,
  `MaxInstanceCount` is what it may grow to, so that is what counts;
* `ServerlessConfig` (`MemorySizeInMB`, `MaxConcurrency`) for serverless variants;
* the models: `ModelName` and every `InstancePools[].ModelNameOverride`; and the config's own
  `ExecutionRoleArn` (configs for inference components name a role there).

Pure: the caller describes the config and its models; prices come from the price table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sagemeter.core.meter.pricing import PriceTable

__all__ = ["Fleet", "Variant", "fleet_hourly", "models_of", "variants_of"]


@dataclass(frozen=True)
class Variant:
    """One variant of a config: what it may run at most."""

    name: str
    instance_types: tuple[str, ...] = ()  # empty: serverless
    instance_count: int = 1
    memory_mb: int | None = None  # serverless
    max_concurrency: int | None = None  # serverless
    models: tuple[str, ...] = ()
    shadow: bool = False

    @property
    def serverless(self) -> bool:
        return not self.instance_types


@dataclass(frozen=True)
class Fleet:
    """A config as SageMaker describes it: its variants, the execution roles of its models
    (and its own), and its tags."""

    config_name: str
    variants: tuple[Variant, ...]
    execution_roles: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


def _count(raw: Mapping[str, Any]) -> int:
    count = int(raw.get("InitialInstanceCount") or 1)
    scaling = raw.get("ManagedInstanceScaling") or {}
    if scaling.get("Status") == "ENABLED" and scaling.get("MaxInstanceCount"):
        count = max(count, int(scaling["MaxInstanceCount"]))
    return count


def _variant(raw: Mapping[str, Any], shadow: bool) -> Variant:
    pools = list(raw.get("InstancePools") or [])
    types = [str(raw["InstanceType"])] if raw.get("InstanceType") else []
    types += [str(p["InstanceType"]) for p in pools if p.get("InstanceType")]
    models = [str(raw["ModelName"])] if raw.get("ModelName") else []
    models += [str(p["ModelNameOverride"]) for p in pools if p.get("ModelNameOverride")]
    serverless = raw.get("ServerlessConfig") or {}
    return Variant(
        name=str(raw.get("VariantName", "")),
        instance_types=tuple(dict.fromkeys(types)),
        instance_count=_count(raw),
        memory_mb=int(serverless["MemorySizeInMB"]) if serverless.get("MemorySizeInMB") else None,
        max_concurrency=(
            int(serverless["MaxConcurrency"]) if serverless.get("MaxConcurrency") else None
        ),
        models=tuple(dict.fromkeys(models)),
        shadow=shadow,
    )


def variants_of(config: Mapping[str, Any]) -> tuple[Variant, ...]:
    """Every variant of a DescribeEndpointConfig response, shadow variants included."""
    return tuple(
        _variant(raw, shadow)
        for key, shadow in (("ProductionVariants", False), ("ShadowProductionVariants", True))
        for raw in config.get(key) or []
    )


def models_of(variants: Iterable[Variant]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(model for v in variants for model in v.models))


def _variant_hourly(variant: Variant, prices: PriceTable) -> Decimal | None:
    if variant.serverless:
        if variant.memory_mb is None or variant.max_concurrency is None:
            return None
        return prices.serverless_hourly(variant.memory_mb, variant.max_concurrency)
    # A heterogeneous variant may place every instance on its dearest pool.
    each = [prices.hourly(t, variant.instance_count) for t in variant.instance_types]
    if any(price is None for price in each):
        return None
    return max(price for price in each if price is not None)


def fleet_hourly(fleet: Fleet, prices: PriceTable) -> Decimal | None:
    """The most the fleet can cost per hour; None when any part of it has no price."""
    total = Decimal(0)
    for variant in fleet.variants:
        price = _variant_hourly(variant, prices)
        if price is None:
            return None
        total += price
    return total if fleet.variants else None
