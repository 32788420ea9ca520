"""The Kubernetes calls sagemeter makes besides kopf's own: status patches, objects made by
tag discovery, API key Secrets."""

from __future__ import annotations

from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from sagemeter.api.models import GROUP, PLURAL, VERSION


def load_config() -> None:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()


class Kube:
    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)

    def apply_secret(
        self, namespace: str, name: str, data: dict[str, str], owner: dict[str, object]
    ) -> None:
        """Create or replace an Opaque Secret owned by `owner` (it goes with its owner)."""
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
            self._core.create_namespaced_secret(namespace, body)
        except ApiException as error:
            if error.status != 409:
                raise
            self._core.replace_namespaced_secret(name, namespace, body)

    def delete_secret(self, namespace: str, name: str) -> None:
        try:
            self._core.delete_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        """Merge-patch the status subresource; False when the object is gone."""
        try:
            self._custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": status}
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def create(self, body: dict[str, Any]) -> bool:
        """Create a ManagedEndpoint; False when one of that name already exists."""
        namespace = body["metadata"]["namespace"]
        try:
            self._custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True
