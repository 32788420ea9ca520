"""What every AWS gateway shares: one client per (region, identity), classified errors, paging,
the account's backoff, the pacing of operations with fixed quotas, and the not-found cases that
mean "nothing to do" rather than failure.

A call's account is the one it really lands in: the assumed role's, or the operator's own
(learnt at start-up, `set_own_account`). Backoffs and quota slots are kept per that account
and the call's region, so throttling in one tenant's account never holds up another's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar, Final

from sagemeter.aws.backoff import BACKOFFS
from sagemeter.aws.clients import Identity
from sagemeter.aws.clients import client as shared_client
from sagemeter.aws.credentials import EXPIRED_TOKEN_CODES, expire
from sagemeter.aws.errors import AwsError, ErrorKind, checked_call
from sagemeter.aws.quotas import PACER

__all__ = ["PACED", "PACE_MAX_WAIT", "Gateway", "account_of", "known_scope", "set_own_account"]

# A call whose quota slot is further away than this is refused at once ("Paced"), without a
# request: the caller tries again later instead of holding a worker thread.
PACE_MAX_WAIT: Final = 1.0
PACED: Final = "Paced"
_own: dict[str, str | None] = {"account": None}


def set_own_account(account: str | None) -> None:
    """The operator's own account (`sts:GetCallerIdentity` at start-up)."""
    _own["account"] = account


def account_of(identity: Identity | None) -> str:
    """The account calls made as ``identity`` land in ("self" while the operator's own is not
    known)."""
    found = identity.account if identity is not None else _own["account"]
    return found or "self"


def known_scope(scope: str) -> str:
    """`scope` with "self" (a context made before the operator learnt its own account) replaced
    by that account once it is known: caches keyed by account see one key for it."""
    return account_of(None) if scope == "self" else scope


class Gateway:
    """One AWS service in one region. ``client`` defaults to the process-wide shared one."""

    SERVICE: ClassVar[str]
    # Whether this service's throttling and failures open the account's backoff (and its
    # successes close it). A service whose quotas are its own and that nothing else waits on
    # (SSM's meter parameters) leaves the backoff of SageMaker and the rest alone.
    SHARES_BACKOFF: ClassVar[bool] = True

    def __init__(
        self, region: str, client: Any | None = None, identity: Identity | None = None
    ) -> None:
        self.region = region
        self.identity = identity
        self._client = (
            client if client is not None else shared_client(self.SERVICE, region, identity)
        )

    @property
    def scope(self) -> str:
        """The account calls go to: the assumed role's, or the operator's own."""
        return account_of(self.identity)

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One call; botocore failures come out as classified ``AwsError``s. Credentials AWS
        refuses as expired are renewed once and the call is tried again. While the account's
        backoff is open (``aws.backoff``) the call is refused here, without a request. An
        operation with a fixed quota (``aws.quotas``) waits for its slot, or is refused as
        ``Paced`` when the slot is more than ``PACE_MAX_WAIT`` away; its throttling is its own
        and leaves the account's backoff alone."""
        scope = self.scope
        waiting = BACKOFFS.remaining(scope, self.region)
        if waiting > 0:
            raise AwsError(
                ErrorKind.THROTTLED,
                "BackingOff",
                f"AWS throttled or failed in account {scope} ({self.region}); calls there resume"
                f" in {waiting:.0f} s",
                operation,
            )
        paced = PACER.paced(self.SERVICE, operation)
        if paced:
            slot = PACER.reserve(scope, self.region, self.SERVICE, operation, PACE_MAX_WAIT)
            if slot is None:
                wait = PACER.wait(scope, self.region, self.SERVICE, operation)
                raise AwsError(
                    ErrorKind.THROTTLED,
                    PACED,
                    f"{operation} is limited per account and region; next slot in {wait:.0f} s",
                    operation,
                )
            if slot > 0:
                time.sleep(slot)
        try:
            result: dict[str, Any] = self._send(operation, params)
        except AwsError as exc:
            if paced and exc.kind is ErrorKind.THROTTLED:
                PACER.throttled(scope, self.region, self.SERVICE, operation)
            elif exc.service_trouble and self.SHARES_BACKOFF:
                BACKOFFS.failed(scope, self.region)
            raise
        finally:
            if paced:
                PACER.done(scope, self.region, self.SERVICE, operation)
        if self.SHARES_BACKOFF:
            BACKOFFS.succeeded(scope, self.region)
        return {k: v for k, v in result.items() if k != "ResponseMetadata"}

    def _send(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = checked_call(self._client, operation, **params)
        except AwsError as exc:
            if self.identity is None or exc.code not in EXPIRED_TOKEN_CODES:
                raise
            expire(self.identity)
            result = checked_call(self._client, operation, **params)
        return result

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Follows ``NextToken`` to the last page (same parameters, as the APIs require)."""
        while True:
            page = self._call(operation, **params)
            yield page
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    def _or_none(self, operation: str, **params: Any) -> dict[str, Any] | None:
        try:
            return self._call(operation, **params)
        except AwsError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return None
            raise

    def _deleted(self, operation: str, **params: Any) -> bool:
        """False when it was already gone."""
        return self._or_none(operation, **params) is not None
