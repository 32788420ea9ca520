"""What an EndpointConfig runs, read from AWS for the pass that needs it, and what it costs.

A pass needs this for a config sagemeter did not write (`spec.model.endpointConfigName`, an
adopted endpoint's), which is held to the guardrails and priced for budgets from what AWS
describes, and for the fleet an endpoint runs while an update would replace it (both fleets
count while SageMaker updates). One `DescribeEndpointConfig`, a `DescribeModel` per model it
runs and one `ListTags` per config, kept for a sync interval per (account, region, name):
a config does not change, but one deleted and made again under its name may.

`judge` holds such a config to the object's guardrails (`core.tenancy.verdict.as_is_verdict`)
before the pass does anything in AWS with it: before an adoption, a create or an update.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from sagemeter.aws.sagemaker import EndpointDescription
from sagemeter.controller.acting import config_missing
from sagemeter.core.endpoint.fleet import Fleet, fleet_hourly, models_of, variants_of
from sagemeter.core.meter.pricing import PriceTable
from sagemeter.core.tenancy.verdict import TenancyVerdict, as_is_verdict
from sagemeter.runtime.context import Context, Degraded
from sagemeter.runtime.workers import Workers


class Fleets:
    def __init__(
        self,
        workers: Workers,
        prices: PriceTable,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = workers
        self.prices = prices
        self._max_age = max_age
        self._clock = clock
        self._fleets: dict[tuple[str, str, str], tuple[float, Fleet]] = {}

    async def fleet(self, ctx: Context, config_name: str) -> Fleet:
        """The config as AWS describes it now (within a sync interval); `Degraded`
        (EndpointConfigNotFound) when it does not exist."""
        key = (ctx.scope, ctx.region, config_name)
        cached = self._fleets.get(key)
        if cached is not None and self._clock() - cached[0] < self._max_age:
            return cached[1]
        gateway = ctx.gateway
        described = await self.workers.run(gateway.describe_endpoint_config, config_name)
        if described is None:
            self._fleets.pop(key, None)
            raise config_missing(ctx, config_name)
        variants = variants_of(described)
        roles = [str(described["ExecutionRoleArn"])] if described.get("ExecutionRoleArn") else []
        for model in models_of(variants):
            found = await self.workers.run(gateway.describe_model, model)
            if found is not None and found.get("ExecutionRoleArn"):
                roles.append(str(found["ExecutionRoleArn"]))
        tags = await self.workers.run(gateway.list_tags, str(described["EndpointConfigArn"]))
        fleet = Fleet(config_name, variants, tuple(dict.fromkeys(roles)), tags)
        now = self._clock()
        # Configs no pass asked for within a sync interval are not kept: a config replaced by
        # an update, or whose object is gone, would stay for the process's life.
        for old in [k for k, (at, _) in self._fleets.items() if now - at >= self._max_age]:
            self._fleets.pop(old, None)
        self._fleets[key] = (now, fleet)
        return fleet

    def kept(self) -> int:
        return len(self._fleets)

    async def hourly(self, ctx: Context, config_name: str) -> Decimal | None:
        """What the config's fleet costs per hour at most; None when part of it has no price
        (and when the config is gone: a fleet that cannot be described has no price)."""
        try:
            return fleet_hourly(await self.fleet(ctx, config_name), self.prices)
        except Degraded:
            return None

    async def judge(
        self, ctx: Context, endpoint: EndpointDescription | None, adopting: bool
    ) -> TenancyVerdict | None:
        """The object's verdict once the config it uses as is has been described and judged;
        None when it uses none, or when the config breaks no guardrail. Judged when the pass
        may adopt, create or update (`adopting`, no endpoint, or one not on the config yet),
        and whenever budgets are kept (the fleet is described for the budget book anyway)."""
        used = as_is_config(ctx, endpoint)
        if used is None:
            return None
        config, adopted = used
        serving = endpoint is not None and endpoint.config_name == config
        if serving and not adopting and not ctx.budgets:
            return None
        fleet = await self.fleet(ctx, config)
        return as_is_verdict(
            ctx.tenancy, ctx.namespace, fleet, adopted=adopted, cluster=ctx.owner.cluster
        )


def as_is_config(ctx: Context, endpoint: EndpointDescription | None) -> tuple[str, bool] | None:
    """The config the object uses as is, and whether it is an adopted endpoint's: the one the
    adopted endpoint runs now (the one it last ran, while parked), or
    `spec.model.endpointConfigName`."""
    if ctx.spec.adopt:
        config = endpoint.config_name if endpoint is not None else None
        config = config or ctx.status.endpoint_config_name
        return (config, True) if config else None
    model = ctx.spec.model
    if model is not None and model.endpoint_config_name:
        return model.endpoint_config_name, False
    return None
