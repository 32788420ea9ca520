"""What every AWS gateway shares: one client per region, classified errors, paging,
and the not-found cases that mean "nothing to do" rather than failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from sagemeter.aws.backoff import BACKOFFS
from sagemeter.aws.clients import Identity
from sagemeter.aws.clients import client as shared_client
from sagemeter.aws.credentials import EXPIRED_TOKEN_CODES, expire
from sagemeter.aws.errors import AwsError, ErrorKind, checked_call


class Gateway:
    """One AWS service in one region. ``client`` defaults to the process-wide shared one."""

    SERVICE: ClassVar[str]

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
        """The account calls go to: the assumed role's, or "self" (the operator's own)."""
        if self.identity is None:
            return "self"
        return self.identity.role_arn.split(":")[4] or "self"

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One call; botocore failures come out as classified ``AwsError``s. Credentials AWS
        refuses as expired are renewed once and the call is tried again. While the account's
        backoff is open (``aws.backoff``) the call is refused here, without a request."""
        waiting = BACKOFFS.remaining(self.scope, self.region)
        if waiting > 0:
            raise AwsError(
                ErrorKind.THROTTLED,
                "BackingOff",
                f"AWS throttled or failed in this account and region; calls resume in"
                f" {waiting:.0f} s",
                operation,
            )
        try:
            result: dict[str, Any] = self._send(operation, params)
        except AwsError as exc:
            if exc.service_trouble:
                BACKOFFS.failed(self.scope, self.region)
            raise
        BACKOFFS.succeeded(self.scope, self.region)
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
