"""The operator's own AWS account (`sts:GetCallerIdentity`), asked when a pass first needs it.

Objects in namespaces no EndpointPolicy maps to a role live there; status records it
(`status.aws.accountId`) so a later policy that would move them elsewhere is noticed. It is not
asked at start-up: an operator with no objects makes no AWS client at all (botocore, its
endpoint data and STS's model cost it about 18 MB).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sagemeter.aws.clients import client
from sagemeter.aws.errors import AwsError, checked_call

log = logging.getLogger("sagemeter")
# A failed ask is not repeated sooner (every pass would ask while STS is unreachable).
RETRY_SECONDS = 60.0


def own_account(region: str) -> str | None:
    try:
        return str(checked_call(client("sts", region), "GetCallerIdentity")["Account"])
    except AwsError as error:
        log.warning("cannot tell the operator's own AWS account: %s", error)
        return None


class OwnAccount:
    """The account, once known; `learn()` asks for it (blocking, thread-safe)."""

    def __init__(self, region: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.region = region
        self.value: str | None = None
        self._clock = clock
        self._asked: float | None = None
        self._lock = threading.Lock()

    def learn(self) -> str | None:
        with self._lock:
            now = self._clock()
            if self.value is None and (self._asked is None or now - self._asked >= RETRY_SECONDS):
                self._asked = now
                self.value = own_account(self.region)
            return self.value
