"""The meter's SSM parameter, kept equal to what `GET <path>/_meter` should answer.

`MeterMirror.keep` writes `/sagemeter/<namespace>/<name>` when the object's meter changed:
one `PutParameter` per change. What was written is remembered per object, so an unchanged
pass costs no call; after a start the first pass reads the parameter once (`GetParameter`)
and writes only when it differs. A new parameter is created tagged like every resource of
the object (SSM takes tags only on creation), in the object's account and region, as the
object's own identity. `remove` deletes it (gone already is fine).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.ssm import ParameterGateway

__all__ = ["MeterMirror"]

Factory = Callable[[str, Identity | None], ParameterGateway]


def _gateway(region: str, identity: Identity | None) -> ParameterGateway:
    return ParameterGateway(region, identity=identity)


class MeterMirror:
    def __init__(self, factory: Factory = _gateway) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        # uid -> (where, parameter name, value) as last written or read.
        self._written: dict[str, tuple[str, str, str]] = {}

    def kept(self) -> int:
        """Meter parameters known (one per object with self-service)."""
        return len(self._written)

    def keep(
        self,
        uid: str,
        region: str,
        identity: Identity | None,
        name: str,
        value: str,
        tags: Mapping[str, str],
    ) -> bool:
        """Makes the parameter hold `value`; True when it had to write."""
        where = f"{identity.account if identity else 'self'}/{region}"
        with self._lock:
            known = self._written.get(uid)
        if known == (where, name, value):
            return False
        gateway = self._factory(region, identity)
        if known is not None and known[:2] == (where, name):
            gateway.overwrite(name, value)
        else:
            current = gateway.value(name)
            if current == value:
                self._remember(uid, (where, name, value))
                return False
            if current is None:
                try:
                    gateway.create(name, value, tags)
                except AwsError as error:
                    if error.kind is not ErrorKind.ALREADY_EXISTS:
                        raise
                    gateway.overwrite(name, value)  # made meanwhile (another replica)
            else:
                gateway.overwrite(name, value)
        self._remember(uid, (where, name, value))
        return True

    def remove(self, uid: str, region: str, identity: Identity | None, name: str) -> bool:
        """Deletes the parameter; False when it was gone already."""
        deleted = self._factory(region, identity).delete(name)
        with self._lock:
            self._written.pop(uid, None)
        return deleted

    def forget(self, uid: str) -> None:
        with self._lock:
            self._written.pop(uid, None)

    def _remember(self, uid: str, written: tuple[str, str, str]) -> None:
        with self._lock:
            self._written[uid] = written
