"""One object's tenancy verdict: may the operator act in AWS for it, and as whom?

    tenancy_verdict(spec, namespace, labels, policies, defaults, recorded) -> TenancyVerdict

Composes the other tenancy decisions in the order the operator reports them
(the first that applies is the `Degraded` reason; nothing happens in AWS):

0. `TenancyNotSynced`, `PolicyUnreadable` — the verdict cannot be known yet: the policies or
   namespaces are not listed (or the last list failed), the object's namespace has not been
   seen, or a policy that may select it cannot be read. Decided by the registry that holds
   them (`sagemeter.tenancy.registry`), never taken to mean "no policies"; such a verdict is
   not `settled`, and an object being deleted waits for it instead of leaving AWS as it is;
1. `NoPolicy` — no policy selects the namespace and `SAGEMETER_REQUIRE_POLICY` is on;
2. `PolicyConflict` — the selecting policies name different roles (`effective`);
3. `AccountChanged` — the object would move to another account or region (`placement`);
4. `PolicyViolation` — a guardrail is broken (`guardrails`), e.g. by an object
   created before its policy was tightened.

A config the object uses as is (`spec.model.endpointConfigName`, an adopted endpoint's) is
read from AWS by the pass, then judged here too (`as_is_verdict`): what it breaks is a
`PolicyViolation` like the rest, and for an endpoint not adopted yet it means no adoption.

Budgets are decided across objects (`sagemeter.core.tenancy.budget`), not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sagemeter.api.models import AwsPlacement, ManagedEndpointSpec
from sagemeter.core.endpoint.fleet import Fleet
from sagemeter.core.tenancy.effective import EffectivePolicy, PolicyConflict, effective_policy
from sagemeter.core.tenancy.guardrails import (
    Capacity,
    OperatorDefaults,
    Violation,
    as_is_violations,
    violations,
)
from sagemeter.core.tenancy.placement import ACCOUNT_CHANGED, moved, placement
from sagemeter.core.tenancy.selection import Policy, policies_selecting

NO_POLICY: Final = "NoPolicy"
POLICY_VIOLATION: Final = "PolicyViolation"
NOT_SYNCED: Final = "TenancyNotSynced"
POLICY_UNREADABLE: Final = "PolicyUnreadable"
# Verdicts that are not known yet (the reasons above 1.): wait, never act on them.
UNSETTLED: Final = frozenset({NOT_SYNCED, POLICY_UNREADABLE})


@dataclass(frozen=True)
class TenancyVerdict:
    """`reason` is None when the operator may act; `placement` is where it acts then."""

    policies: tuple[str, ...]
    effective: EffectivePolicy | None = None
    placement: AwsPlacement | None = None
    violations: tuple[Violation, ...] = ()
    reason: str | None = None
    message: str | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is None

    @property
    def settled(self) -> bool:
        """The verdict is known (whatever it says); unsettled ones are waited out."""
        return self.reason not in UNSETTLED


def unsettled(reason: str, message: str) -> TenancyVerdict:
    """A verdict that cannot be known yet (`NOT_SYNCED` or `POLICY_UNREADABLE`)."""
    assert reason in UNSETTLED
    return TenancyVerdict((), reason=reason, message=message)


def tenancy_verdict(
    spec: ManagedEndpointSpec,
    namespace: str,
    labels: Mapping[str, str],
    policies: Iterable[Policy],
    defaults: OperatorDefaults,
    recorded: AwsPlacement | None,
    existing: Sequence[Capacity] = (),
) -> TenancyVerdict:
    """Everything tenancy says about one object; `recorded` is its `status.aws`."""
    selecting = policies_selecting(policies, namespace, labels)
    names = tuple(p.name for p in selecting)
    if not selecting and defaults.require_policy:
        return TenancyVerdict(
            names,
            reason=NO_POLICY,
            message=(
                f"no EndpointPolicy selects namespace {namespace}, and the operator requires one"
                " (SAGEMETER_REQUIRE_POLICY): an EndpointPolicy must select it by"
                " namespaceSelector.names or labelSelector"
            ),
        )
    effective = effective_policy(selecting)
    if isinstance(effective, PolicyConflict):
        fix = (
            f"; make them name the same value, or change their namespaceSelector so that only"
            f" one selects namespace {namespace}"
        )
        return TenancyVerdict(names, reason=effective.reason, message=effective.message + fix)
    where = placement(spec, effective, defaults)
    found = tuple(violations(spec, effective, defaults, existing))
    move = moved(recorded, where)
    if move is not None:
        return TenancyVerdict(names, effective, where, found, ACCOUNT_CHANGED, move)
    if found:
        fix = (
            "; change the spec to fit (spec.region and spec.endpointName are immutable: create"
            " the object again), or ask for the EndpointPolicy to change"
        )
        message = "; ".join(v.message for v in found) + fix
        return TenancyVerdict(names, effective, where, found, POLICY_VIOLATION, message)
    return TenancyVerdict(names, effective, where)


def as_is_verdict(
    verdict: TenancyVerdict | None,
    namespace: str,
    fleet: Fleet,
    *,
    adopted: bool,
    cluster: str | None = None,
) -> TenancyVerdict | None:
    """`verdict` with what the config used as is (`fleet`) breaks; None when it breaks nothing.
    `verdict` None: tenancy is not in use (no policy selects anything)."""
    effective = verdict.effective if verdict is not None else None
    found = as_is_violations(
        effective or EffectivePolicy(), namespace, fleet, adopted=adopted, cluster=cluster
    )
    if not found:
        return None
    if adopted:
        fix = (
            "; the endpoint is not adopted and nothing of it is touched in AWS: ask for the"
            " EndpointPolicy to change, or delete this object"
        )
    else:
        fix = (
            "; point spec.model.endpointConfigName at a config that fits (this namespace's own,"
            " or one endpointConfigs.names allows), or ask for the EndpointPolicy to change"
        )
    earlier = verdict.violations if verdict is not None else ()
    every = (*earlier, *found)
    message = "; ".join(v.message for v in every) + fix
    return TenancyVerdict(
        verdict.policies if verdict is not None else (),
        effective,
        verdict.placement if verdict is not None else None,
        every,
        POLICY_VIOLATION,
        message,
    )
