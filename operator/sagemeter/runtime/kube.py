"""The Kubernetes calls sagemeter makes besides kopf's own: status patches, objects made by
tag discovery, API key Secrets."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from sagemeter.api.models import GROUP, PLURAL, POLICY_PLURAL, VERSION
from sagemeter.runtime.apiserver import (
    JSON_PATCH,
    MERGE_PATCH,
    METADATA_ONLY,
    ApiClient,
    ApiError,
)

ENDPOINTS = f"/apis/{GROUP}/{VERSION}/{PLURAL}"
POLICIES = f"/apis/{GROUP}/{VERSION}/{POLICY_PLURAL}"
# Items per page where a sweep reads every object: what one page costs to parse is what the
# sweep adds to the process's peak.
METADATA_PAGE = 250


def _endpoint(namespace: str, name: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{path}/{name}" if name else path


def _secret(namespace: str, name: str = "") -> str:
    path = f"/api/v1/namespaces/{namespace}/secrets"
    return f"{path}/{name}" if name else path


class SecretConflict(Exception):
    """A Secret of the wanted name exists and is not the object's own."""


class NamespaceMissing(Exception):
    """The namespace an object was to be created in does not exist."""


def _ownership_test(owner_uid: str) -> dict[str, str]:
    # A JSON Patch `test`: the patch applies only to a Secret whose (first) ownerReference is the
    # object's; sagemeter's Secrets carry exactly that one. Needs no read permission on Secrets.
    return {"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": owner_uid}


class Kube:
    def __init__(self, api: ApiClient | None = None) -> None:
        self.api = api or ApiClient()

    def apply_secret(
        self, namespace: str, name: str, data: dict[str, str], owner: dict[str, object]
    ) -> None:
        """Create an Opaque Secret owned by `owner` (it goes with its owner), or update the one
        that exists when its ownerReference is `owner`; `SecretConflict` otherwise.

        sagemeter never reads Secrets (its RBAC has no get, list or watch on them): ownership
        is checked by the API server itself, as a `test` operation in a JSON Patch.
        """
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "ownerReferences": [owner],
                "labels": {"app.kubernetes.io/managed-by": "sagemeter"},
            },
            "stringData": data,
        }
        try:
            self.api.request("POST", _secret(namespace), body)
            return
        except ApiError as error:
            if error.status != 409:
                raise
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        patch = [
            _ownership_test(str(owner["uid"])),
            *(
                {"op": "add", "path": f"/data/{key}", "value": value}
                for key, value in encoded.items()
            ),
        ]
        try:
            self.api.request("PATCH", _secret(namespace, name), patch, content_type=JSON_PATCH)
        except ApiError as error:
            if error.status not in (409, 422):
                raise
            raise SecretConflict(
                f"Secret {namespace}/{name} exists and is not this object's (its ownerReference"
                " does not name it); sagemeter leaves it alone: delete or rename that Secret"
            ) from error

    def delete_secret(self, namespace: str, name: str, owner_uid: str) -> bool:
        """Delete the Secret if its ownerReference is `owner_uid`; True when deleted."""
        try:
            # The no-op patch proves ownership and returns the exact revision that was proven.
            proven = self.api.request(
                "PATCH",
                _secret(namespace, name),
                [_ownership_test(owner_uid)],
                content_type=JSON_PATCH,
            )["metadata"]
            preconditions = {"uid": proven["uid"], "resourceVersion": proven["resourceVersion"]}
            self.api.request(
                "DELETE",
                _secret(namespace, name),
                {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions},
            )
        except ApiError as error:
            if error.status in (404, 409, 422):
                return False
            raise
        return True

    def post_event(
        self, involved: dict[str, Any], type_: str, reason: str, message: str, now: str
    ) -> None:
        """A core/v1 Event about `involved` (apiVersion, kind, metadata name, namespace and
        uid) in its namespace, for work no object's pass does (kopf posts the passes' own).
        The object may be gone: an Event does not need it to exist."""
        meta = involved["metadata"]
        namespace = meta["namespace"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta["uid"],
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "sagemeter"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.api.request("POST", f"/api/v1/namespaces/{namespace}/events", body)

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> str | None:
        """Merge-patch the status subresource: the object's new resourceVersion, or None when
        the object is gone."""
        try:
            patched = self.api.request(
                "PATCH",
                f"{_endpoint(namespace, name)}/status",
                {"status": status},
                content_type=MERGE_PATCH,
            )
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return str(patched.get("metadata", {}).get("resourceVersion") or "") or None

    def endpoints(self, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """Every ManagedEndpoint the operator may see (cluster-wide, or in `namespace`), read
        a page at a time: a caller that keeps a little of each never holds a thousand whole
        objects."""
        path = _endpoint(namespace) if namespace is not None else ENDPOINTS
        for page in self.api.pages(path, limit=METADATA_PAGE):
            yield from page.get("items") or []

    def endpoint_uids(self, namespace: str | None = None) -> set[str]:
        """The uids of the ManagedEndpoints that exist (cluster-wide, or in `namespace`),
        read as metadata only."""
        path = _endpoint(namespace) if namespace is not None else ENDPOINTS
        return {
            str(item["metadata"]["uid"])
            for page in self.api.pages(path, limit=METADATA_PAGE, accept=METADATA_ONLY)
            for item in page.get("items") or []
        }

    def patch_policy_status(self, name: str, status: dict[str, Any]) -> None:
        try:
            self.api.request(
                "PATCH", f"{POLICIES}/{name}/status", {"status": status}, content_type=MERGE_PATCH
            )
        except ApiError as error:
            if error.status != 404:
                raise

    def set_annotation(self, namespace: str, name: str, key: str, value: str) -> bool:
        """Merge-patch one annotation of a ManagedEndpoint; False when the object is gone."""
        try:
            self.api.request(
                "PATCH",
                _endpoint(namespace, name),
                {"metadata": {"annotations": {key: value}}},
                content_type=MERGE_PATCH,
            )
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ManagedEndpoint as the API server has it now, or None when it is gone. Read by
        a list with a field selector: the ClusterRole grants list, not get."""
        found = self.api.request(
            "GET", _endpoint(namespace), query={"fieldSelector": f"metadata.name={name}"}
        )
        items = found.get("items") or []
        return dict(items[0]) if items else None

    def patch_endpoint(
        self, namespace: str, name: str, patch: dict[str, Any], field_manager: str
    ) -> bool:
        """Merge-patch a ManagedEndpoint as `field_manager`; False when it is gone. A patch
        naming a resourceVersion that is no longer current raises ApiError 409."""
        try:
            self.api.request(
                "PATCH",
                _endpoint(namespace, name),
                patch,
                query={"fieldManager": field_manager},
                content_type=MERGE_PATCH,
            )
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def create(self, body: dict[str, Any]) -> bool:
        """Create a ManagedEndpoint; False when one of that name already exists."""
        namespace = body["metadata"]["namespace"]
        try:
            self.api.request("POST", _endpoint(namespace), body)
        except ApiError as error:
            if error.status == 409:
                return False
            if error.status == 404 and _not_found_kind(error) == "namespaces":
                raise NamespaceMissing(namespace) from None
            raise
        return True


def _not_found_kind(error: ApiError) -> str | None:
    """The kind of what a 404 says is missing (`namespaces` for a create into a namespace
    that does not exist: the Status's details.kind)."""
    details = error.body.get("details") or {}
    kind = details.get("kind") if isinstance(details, dict) else None
    return str(kind) if kind else None
