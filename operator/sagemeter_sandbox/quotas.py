"""SageMaker's per-account instance quotas for endpoints, in the local AWS.

Every AWS account has, per region and instance type, a quota "ml.<type> for endpoint usage":
the instances all its endpoints may hold together (Service Quotas, service ``sagemaker``).
moto 5.2.5 has none. Here ``CreateEndpoint`` and ``UpdateEndpoint`` are refused when the
instances they ask for do not fit beside what the account's endpoints hold already:

    ResourceLimitExceeded (HTTP 400): The account-level service limit 'ml.g5.2xlarge for
    endpoint usage' is 0 Instances, with current utilization of 0 Instances and a request
    delta of 1 Instances. Please contact AWS support to request an increase for this limit.

That is SageMaker's wording, as users quote it for CreateEndpoint
(aws-samples/sagemaker-custom-project-templates#51, aws/amazon-sagemaker-examples#307,
awsdocs/amazon-sagemaker-developer-guide#70); botocore's model lists ResourceLimitExceeded
among the errors of CreateEndpoint, UpdateEndpoint and UpdateEndpointWeightsAndCapacities.

What counts (``usage``): the instances of every production variant with an ``InstanceType``
(serverless variants hold none), of every endpoint of the account and region that holds them:
Creating, InService, Updating, SystemUpdating, RollingBack, OutOfService, UpdateRollbackFailed.
An ``UpdateEndpoint`` is a blue/green deployment ("SageMaker AI provisions a new fleet with the
updates (the green fleet) ... [then] terminates the blue fleet", developer guide,
deployment-guardrails-blue-green.html): its request must fit beside the fleet still serving,
and while Updating the endpoint holds both; once InService it holds the new one (or, rolled
back, the old one). Deleting and Failed endpoints hold nothing here: no source says whether
SageMaker still counts them, and the local AWS is permissive where none says. Not checked:
UpdateEndpointWeightsAndCapacities (sagemeter never calls it), other quotas (endpoints per
account, instances across all endpoints).

The quotas (``Quotas``; later entries win, ``*`` and globs allowed):

* ``SAGEMETER_LOCALAWS_QUOTAS``, read at start: comma-separated ``<type or glob>=<n>`` and the
  word ``aws-defaults``, e.g. ``aws-defaults,ml.g5.2xlarge=2``. Unset: ``aws-defaults``, the
  values AWS gives a new account: 0 for every endpoint instance type but ``ml.t2.medium`` (2),
  ``ml.m6g.large`` (2) and ``ml.m6g.xlarge`` (1), as reported from Service Quotas'
  GetAWSDefaultServiceQuota in July 2026 and matching every refusal quoted above (0 for
  ml.m4.xlarge, ml.m5.large, ml.g4dn.xlarge, ml.g5.xlarge, ml.g5.2xlarge; ml.t2.medium 2).
  GPU endpoints are refused in a new account until someone asks AWS for more.
* The sandbox (``sagemeter_sandbox.Sandbox``: tests, demo, ``sagemeter sandbox up``) starts its
  local AWS with ``SANDBOX_QUOTAS`` unless the variable is set: an account whose quotas were
  raised far above anything the demo, the tests and the benchmarks run. Tests that exercise
  a quota set their own.
* Per account and region, over HTTP (``control.FaultClient.set_quotas``):
  ``POST /sagemeter-api/quotas/<region>`` with ``{"accountId": "...", "quotas": {"ml.p4d.24xlarge":
  1}}`` (or the environment's syntax as a string, ``"aws-defaults"``) adds entries after the
  process's; ``GET`` (``?accountId=``) answers the entries and the usage; ``DELETE`` drops the
  added entries. ``/moto-api/reset`` drops them too.
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from moto.sagemaker.exceptions import SagemakerClientError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, sagemaker_backends

from sagemeter_sandbox.endpoint_states import DEFAULT_ACCOUNT, lock, settle

__all__ = [
    "AWS_DEFAULTS",
    "SANDBOX_QUOTAS",
    "Quotas",
    "ResourceLimitExceeded",
    "check",
    "control",
    "fleet_of",
    "hold",
    "usage",
]

ENVIRONMENT = "SAGEMETER_LOCALAWS_QUOTAS"
AWS_DEFAULTS: tuple[tuple[str, int], ...] = (
    ("*", 0),
    ("ml.t2.medium", 2),
    ("ml.m6g.large", 2),
    ("ml.m6g.xlarge", 1),
)
SANDBOX_QUOTAS = "*=100000"
# Statuses in which an endpoint holds no instances here (module docstring).
HOLDS_NOTHING = frozenset({"Deleting", "Failed"})

Fleet = Counter[str]  # instance type -> instances


class ResourceLimitExceeded(SagemakerClientError):
    code = "ResourceLimitExceeded"


class Quotas:
    """Entries ``(type or glob, limit)``; the last one matching a type is its quota."""

    def __init__(self, entries: Sequence[tuple[str, int]] = AWS_DEFAULTS) -> None:
        self.entries = list(entries)

    @classmethod
    def parse(cls, text: str) -> Quotas:
        entries: list[tuple[str, int]] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            if item == "aws-defaults":
                entries += AWS_DEFAULTS
                continue
            pattern, sep, limit = item.partition("=")
            if not sep or not pattern.strip():
                raise ValueError(f"{ENVIRONMENT}: {item!r} is not <type or glob>=<n>")
            entries.append((pattern.strip(), _limit(limit)))
        return cls(entries)

    def limit(self, instance_type: str) -> int | None:
        """The quota of ``instance_type``; None when no entry matches (no quota)."""
        found = None
        for pattern, limit in self.entries:
            if fnmatch.fnmatchcase(instance_type, pattern):
                found = limit
        return found

    def plus(self, more: Sequence[tuple[str, int]]) -> Quotas:
        return Quotas([*self.entries, *more])


def _limit(value: Any) -> int:
    limit = int(str(value).strip())
    if limit < 0:
        raise ValueError(f"a quota is 0 or more, not {limit}")
    return limit


_process = Quotas.parse(os.environ.get(ENVIRONMENT) or "aws-defaults")


def configure(text: str | None) -> None:
    """Replaces the process's quotas (``None``: from the environment again)."""
    global _process
    _process = Quotas.parse(
        text if text is not None else os.environ.get(ENVIRONMENT) or "aws-defaults"
    )


def _added(backend: Any) -> list[tuple[str, int]]:
    # In the backend's __dict__ so that moto's reset (which rebuilds backends) forgets them.
    added: list[tuple[str, int]] = backend.__dict__.setdefault("_sagemeter_quotas", [])
    return added


def quotas_of(backend: Any) -> Quotas:
    return _process.plus(_added(backend))


# --------------------------------------------------------------------------- fleets


def fleet_of(config: FakeEndpointConfig) -> Fleet:
    """The instances an endpoint config's production variants ask for, by type."""
    fleet: Fleet = Counter()
    for variant in config.production_variants or []:
        instance_type = variant.get("InstanceType")
        if instance_type:  # serverless variants hold no instances
            fleet[str(instance_type)] += int(variant.get("InitialInstanceCount") or 0)
    return fleet


def held(endpoint: FakeEndpoint) -> list[Fleet]:
    fleets: list[Fleet] = vars(endpoint).get("_sagemeter_fleets", [])
    return fleets


def hold(endpoint: FakeEndpoint, fleets: Sequence[Fleet]) -> None:
    """Records the fleets ``endpoint`` holds (both while a blue/green update runs)."""
    vars(endpoint)["_sagemeter_fleets"] = list(fleets)


def usage(backend: Any) -> Fleet:
    """Instances the account's endpoints in this region hold now, by type."""
    total: Fleet = Counter()
    for endpoint in backend.endpoints.values():
        if endpoint.endpoint_status not in HOLDS_NOTHING:
            for fleet in held(endpoint):
                total.update(fleet)
    return total


def check(backend: Any, requested: Mapping[str, int]) -> None:
    """Raises SageMaker's ``ResourceLimitExceeded`` when ``requested`` does not fit (the first
    instance type, alphabetically, that does not)."""
    quotas, used = quotas_of(backend), usage(backend)
    for instance_type in sorted(requested):
        delta = int(requested[instance_type])
        limit = quotas.limit(instance_type)
        if delta and limit is not None and used[instance_type] + delta > limit:
            raise ResourceLimitExceeded(
                f"The account-level service limit '{instance_type} for endpoint usage' is"
                f" {limit} Instances, with current utilization of {used[instance_type]}"
                f" Instances and a request delta of {delta} Instances. Please contact AWS"
                " support to request an increase for this limit."
            )


# --------------------------------------------------------------------------- control


def control(method: str, path: list[str], body: Any) -> tuple[int, Any]:
    """``/sagemeter-api/quotas/<region>``: ``path`` is what follows ``quotas``."""
    if len(path) != 1 or method not in ("GET", "POST", "DELETE"):
        return 404, {"error": "use GET, POST or DELETE /sagemeter-api/quotas/<region>"}
    body = body if isinstance(body, dict) else {}
    account = str(body.get("accountId") or DEFAULT_ACCOUNT)
    try:
        backend = sagemaker_backends[account][path[0]]
    except KeyError:
        return 404, {"error": f"no SageMaker in account {account} region {path[0]}"}
    with lock:
        if method == "POST":
            given = body.get("quotas")
            try:
                if isinstance(given, str):  # as in the environment: "aws-defaults,ml.x.y=1"
                    _added(backend).extend(Quotas.parse(given).entries)
                elif isinstance(given, dict):
                    _added(backend).extend((str(k), _limit(v)) for k, v in given.items())
                else:
                    raise ValueError('POST {"quotas": {"<type or glob>": n}, "accountId": ...}')
            except ValueError as exc:
                return 400, {"error": str(exc)}
        elif method == "DELETE":
            _added(backend).clear()
        settle(backend)
        return 200, {
            "entries": [[pattern, limit] for pattern, limit in quotas_of(backend).entries],
            "usage": dict(sorted(usage(backend).items())),
        }
