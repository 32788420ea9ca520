"""Rules for what a spec deploys on, before any request is built.

* `adopted_config_name`: an adopted endpoint resumes on the EndpointConfig it ran on, as
  SageMaker shows it now, else as status last recorded it.
* `execution_role`: `spec.model.executionRoleArn`, else the EndpointPolicy default, else the
  operator's default.
* `gated_model_source`: a JumpStart model behind a license runs only with `acceptEula`, and
  then its model data says so (`ModelAccessConfig.AcceptEula`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EulaRefused", "adopted_config_name", "execution_role", "gated_model_source"]


def adopted_config_name(observed: str | None, recorded: str | None) -> str | None:
    return observed or recorded or None


def execution_role(
    spec_role: str | None, policy_default: str | None, operator_default: str | None
) -> str | None:
    return spec_role or policy_default or operator_default or None


@dataclass(frozen=True)
class EulaRefused:
    """The model is gated and the spec did not accept its license."""

    eula_uri: str


def gated_model_source(
    source: dict[str, Any] | None, eula_uri: str | None, accepted: bool
) -> dict[str, Any] | EulaRefused | None:
    """The model data source to deploy, or `EulaRefused`."""
    if not eula_uri:
        return source
    if not accepted:
        return EulaRefused(eula_uri)
    if source is None:
        return None
    s3 = {**source["S3DataSource"], "ModelAccessConfig": {"AcceptEula": True}}
    return {**source, "S3DataSource": s3}
