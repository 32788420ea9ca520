"""runtime.apiserver and runtime.kube against the real API server: a collection read a page at
a time, and as metadata only (PartialObjectMetadataList) where only uids are needed, as the
orphan sweep reads them."""

from __future__ import annotations

from typing import Any

import pytest

from sagemeter.runtime.apiserver import METADATA_ONLY, ApiClient
from sagemeter.runtime.kube import ENDPOINTS, Kube, _endpoint
from sagemeter.runtime.kubeconfig import login
from sagemeter_sandbox import Sandbox

from .conftest import Kubectl, endpoint_object

COUNT = 7


@pytest.fixture
def kube_api(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Kube:
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig))
    return Kube(ApiClient(login))


def test_uids_are_read_as_metadata_only_a_page_at_a_time(
    kube_api: Kube, kube: Kubectl, namespace: str
) -> None:
    for index in range(COUNT):
        kube.apply(endpoint_object(f"paged-{index}"))
    whole = list(kube_api.endpoints(namespace))
    assert len(whole) == COUNT
    assert all("spec" in item for item in whole)
    assert kube_api.endpoint_uids(namespace) == {item["metadata"]["uid"] for item in whole}

    pages: list[dict[str, Any]] = list(
        kube_api.api.pages(_endpoint(namespace), limit=3, accept=METADATA_ONLY)
    )
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert {p["kind"] for p in pages} == {"PartialObjectMetadataList"}
    items = [item for page in pages for item in page["items"]]
    assert all("spec" not in item and "status" not in item for item in items)
    assert {item["metadata"]["name"] for item in items} == {f"paged-{i}" for i in range(COUNT)}
    # Cluster-wide, this namespace's objects are among them.
    assert kube_api.endpoint_uids() >= kube_api.endpoint_uids(namespace)
    assert ENDPOINTS.endswith("/managedendpoints")
