"""The SSM Parameter Store gateway of self-service: the meter's parameter, one method per call.

Owns the shape of those calls (a standard-tier String parameter, tags on creation, as SSM
allows tags only when a parameter is created, not with `Overwrite`) and nothing else: the value
is built by ``sagemeter.core.self_service``, when to write it decided by
``sagemeter.selfservice``. Raises ``AwsError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemeter.aws.clients import Identity
from sagemeter.aws.gateway import Gateway

__all__ = ["ParameterGateway"]


class ParameterGateway(Gateway):
    SERVICE = "ssm"
    # Parameter Store's throughput quotas are its own: a throttled PutParameter must not hold
    # up the account's SageMaker calls (the next pass writes the meter again).
    SHARES_BACKOFF = False

    def __init__(self, region: str, client: Any | None = None, identity: Identity | None = None):
        super().__init__(region, client, identity)

    def value(self, name: str) -> str | None:
        """The parameter's value, or None when there is none."""
        found = self._or_none("GetParameter", Name=name)
        return str(found["Parameter"]["Value"]) if found else None

    def create(self, name: str, value: str, tags: Mapping[str, str]) -> None:
        """A new standard-tier parameter, tagged; ``ALREADY_EXISTS`` when it exists."""
        self._call(
            "PutParameter",
            Name=name,
            Value=value,
            Type="String",
            Tier="Standard",
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        )

    def overwrite(self, name: str, value: str) -> None:
        self._call("PutParameter", Name=name, Value=value, Type="String", Overwrite=True)

    def delete(self, name: str) -> bool:
        """False when it was already gone."""
        return self._deleted("DeleteParameter", Name=name)
