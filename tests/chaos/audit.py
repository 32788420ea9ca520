"""What is in the local AWS for one namespace's objects, read with plain boto3 calls.

Nothing here goes through sagemeter's code: names are matched by the namespace they start
with, ownership by the tags AWS returns, routes by the record in a POST method's
``operationName`` (``sagemeter:<uid>:<fingerprint>:<namespace>/<name>``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

UID_TAG = "sagemeter.io/uid"
NAMESPACE_TAG = "sagemeter.io/namespace"


def _pages(call: Any, key: str, token: str = "NextToken", **kwargs: Any) -> Iterator[Any]:
    while True:
        page = call(**kwargs)
        yield from page.get(key, [])
        if not page.get(token):
            return
        kwargs[token] = page[token]


@dataclass
class Inventory:
    """A namespace's resources in AWS at one moment."""

    endpoints: dict[str, dict[str, str]]  # name -> {"status", "config", "uid"}
    configs: list[str]
    models: list[str]
    alarms: list[str]
    routes: list[str]  # resource paths whose POST record names the namespace
    api_keys: list[str]
    usage_plans: list[str]

    def leaks(self) -> dict[str, int]:
        return {
            "endpoints": len(self.endpoints),
            "configs": len(self.configs),
            "models": len(self.models),
            "alarms": len(self.alarms),
            "routes": len(self.routes),
            "api_keys": len(self.api_keys),
            "usage_plans": len(self.usage_plans),
        }


# The audit reads while the chaos run throttles a share of all calls; it retries until a call
# goes through instead of failing the run it observes.
PATIENT = Config(retries={"max_attempts": 15, "mode": "standard"})


class AwsAudit:
    def __init__(self, endpoint_url: str, namespace: str, region: str = "us-east-1") -> None:
        self.namespace = namespace

        def make(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=PATIENT,
            )

        self.sagemaker, self.cloudwatch, self.apigateway = (
            make("sagemaker"),
            make("cloudwatch"),
            make("apigateway"),
        )

    def settled(self, patience: float) -> Inventory:
        """The inventory once nothing is left, or as it is after ``patience`` seconds. A
        namespace's REST API and usage plan go in the background after its last route (the
        deployment thread: DeleteRestApi has one slot per 30 s per account, and a throttled
        attempt is tried again with a backoff of up to a minute)."""
        deadline = time.monotonic() + patience
        while True:
            found = self.inventory()
            if not any(found.leaks().values()) or time.monotonic() > deadline:
                return found
            time.sleep(2)

    def inventory(self) -> Inventory:
        return Inventory(
            self.endpoints(),
            self.configs(),
            self.models(),
            self.alarms(),
            self.routes(),
            *self.keys_and_plans(),
        )

    def endpoints(self) -> dict[str, dict[str, str]]:
        sm, found = self.sagemaker, {}
        for item in _pages(
            sm.list_endpoints, "Endpoints", NameContains=self.namespace, MaxResults=100
        ):
            if self.namespace not in item["EndpointName"]:
                continue
            try:
                described = sm.describe_endpoint(EndpointName=item["EndpointName"])
                tags = {
                    t["Key"]: t["Value"]
                    for t in sm.list_tags(ResourceArn=item["EndpointArn"])["Tags"]
                }
            except sm.exceptions.ClientError:  # deleted between the list and the describe
                continue
            found[item["EndpointName"]] = {
                "status": described["EndpointStatus"],
                "config": described["EndpointConfigName"],
                "uid": tags.get(UID_TAG, ""),
            }
        return found

    # NameContains is filtered again here: moto's ListModels ignores it (and paging).
    def configs(self) -> list[str]:
        names = (
            c["EndpointConfigName"]
            for c in _pages(
                self.sagemaker.list_endpoint_configs,
                "EndpointConfigs",
                NameContains=self.namespace,
                MaxResults=100,
            )
        )
        return sorted(n for n in names if self.namespace in n)

    def models(self) -> list[str]:
        names = (
            m["ModelName"]
            for m in _pages(
                self.sagemaker.list_models, "Models", NameContains=self.namespace, MaxResults=100
            )
        )
        return sorted(n for n in names if self.namespace in n)

    def alarms(self) -> list[str]:
        return sorted(
            a["AlarmName"]
            for a in _pages(
                self.cloudwatch.describe_alarms,
                "MetricAlarms",
                AlarmNamePrefix=f"sagemeter-{self.namespace}",
            )
        )

    def routes(self) -> list[str]:
        ag, marker, found = self.apigateway, f":{self.namespace}/", []
        for api in _pages(ag.get_rest_apis, "items", token="position", limit=500):
            for resource in _pages(
                ag.get_resources,
                "items",
                token="position",
                restApiId=api["id"],
                embed=["methods"],
                limit=500,
            ):
                for method in (resource.get("resourceMethods") or {}).values():
                    name = method.get("operationName") or ""
                    if name.startswith("sagemeter:") and marker in name:
                        found.append(resource["path"])
        return sorted(found)

    def keys_and_plans(self) -> tuple[list[str], list[str]]:
        ag = self.apigateway
        keys = [
            k["id"]
            for k in _pages(ag.get_api_keys, "items", token="position", limit=500)
            if (k.get("tags") or {}).get(NAMESPACE_TAG) == self.namespace
        ]
        plans = [
            p["id"]
            for p in _pages(ag.get_usage_plans, "items", token="position", limit=500)
            if (p.get("tags") or {}).get(NAMESPACE_TAG) == self.namespace
        ]
        return sorted(keys), sorted(plans)
