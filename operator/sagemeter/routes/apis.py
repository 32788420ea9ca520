"""The REST APIs of one account and region, as sagemeter knows them.

Owns ``RestApiDirectory``: one paged ``GetRestApis`` per (account, region), made by the
account's shared reader (a policy's session, or the operator's own identity: SPEC §5 "Shared
readers"), then kept current by sagemeter's own creates and deletes. It tells which REST API is
a namespace's (``core.route_homes.api_owner``), which is sagemeter's shared one of old, and how
many there are: regional REST APIs are limited to 600 per account and region
(https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html, "Regional APIs per
Region"), so the count is a metric (``sagemeter_rest_apis``).
"""

from __future__ import annotations

import threading
from typing import Any

from sagemeter.aws.apigateway import ApiGatewayGateway
from sagemeter.core.route_homes import LEGACY, api_owner
from sagemeter.runtime.metrics import REST_APIS

__all__ = ["NOT_LISTED", "RestApiDirectory"]

NOT_LISTED = object()  # owner_of: an id the listing does not show


class RestApiDirectory:
    def __init__(self, reader: ApiGatewayGateway, account: str) -> None:
        self._reader = reader
        self.account = account
        self.region = reader.region
        self._lock = threading.Lock()
        self._apis: dict[str, dict[str, Any]] | None = None

    def _listed(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            listed = self._apis
        if listed is None:
            found = {str(api["id"]): api for api in self._reader.rest_apis()}
            with self._lock:
                if self._apis is None:
                    self._apis = found
                listed = self._apis
            self._report()
        return listed

    def namespace_api(self, namespace: str) -> str | None:
        """The namespace's REST API (the oldest, should there ever be two)."""
        listed = self._listed()
        with self._lock:
            ours = sorted(
                (a for a in listed.values() if api_owner(a.get("tags")) == namespace),
                key=lambda a: (str(a.get("createdDate", "")), str(a["id"])),
            )
        return str(ours[0]["id"]) if ours else None

    def legacy_apis(self) -> list[str]:
        """sagemeter's shared REST API of old (routes there move to their namespace's)."""
        listed = self._listed()
        with self._lock:
            return sorted(i for i, a in listed.items() if api_owner(a.get("tags")) == LEGACY)

    def owner_of(self, api_id: str) -> object:
        """A namespace, ``LEGACY``, None (not sagemeter's) or ``NOT_LISTED``."""
        listed = self._listed()
        with self._lock:
            api = listed.get(api_id)
        return NOT_LISTED if api is None else api_owner(api.get("tags"))

    def added(self, api: dict[str, Any]) -> None:
        self._listed()
        with self._lock:
            assert self._apis is not None
            self._apis[str(api["id"])] = api
        self._report()

    def dropped(self, api_id: str) -> None:
        with self._lock:
            if self._apis is not None:
                self._apis.pop(api_id, None)
        self._report()

    def _report(self) -> None:
        with self._lock:
            apis = list((self._apis or {}).values())
        ours = sum(1 for a in apis if api_owner(a.get("tags")) is not None)
        REST_APIS.labels(self.account, self.region, "sagemeter").set(ours)
        REST_APIS.labels(self.account, self.region, "other").set(len(apis) - ours)
