"""`make demo`: sagemeter's main job on the local sandbox, with a live `kubectl sagemeter ls`.

Brings the sandbox up (real kube-apiserver, etcd, kube-controller-manager and a local AWS),
makes what the examples expect to exist (a pipeline's EndpointConfig, a notebook's endpoint
carrying the adopt tag, the platform team's REST API with a Lambda token authorizer), runs the
operator, applies every example and walks through the lifecycle: Creating -> InService, a
spec change rolling through Updating, requests through the routes (SigV4, an API key, a
bearer token), the meter parking an endpoint at its expiry and `kubectl sagemeter extend`
bringing it back, an idle park driven by the CloudWatch alarm, a request waking an idle
endpoint, a request topping up an expired endpoint through its route's `_meter` (self-service,
no kubectl) with the SNS notification it produced read from an SQS queue subscribed to the
topic, and a delete that cleans up AWS. Every object's conditions are checked at every
refresh: a Degraded condition that the step is not about stops the demo.

On a terminal the table redraws in place, like `watch`; otherwise (a log, a pipe) it is
printed once per step (hack/demo_view.py). Set DEMO_KEEP=1 to leave everything running
afterwards; the demo then ends by printing the command that opens the web page
(`kubectl sagemeter ui`), which it never waits for.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from demo_view import NAMESPACE, Objects, View, console, say, shell  # beside this script

from sagemeter.core.meter.times import format_time, parse_time
from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.examples import (
    TOKEN,
    Prerequisites,
    call_route,
    expected_state,
    local_url,
    prepare,
)

ROOT = Path(__file__).resolve().parents[1]
ADOPT_NAMESPACE = "sagemeter-adopted"  # where tag discovery puts what it finds (not watched)
QUESTION = {"inputs": "What is a parking meter?", "parameters": {"max_new_tokens": 64}}
NOTIFICATIONS = "sagemeter-demo-notifications"  # the SNS topic, and the SQS queue reading it


class Demo:
    def __init__(self) -> None:
        self.sandbox = Sandbox()
        self.operator: subprocess.Popen[bytes] | None = None
        self.view = View()
        self.topic = ""
        self.inbox = ""

    def say(self, text: str) -> None:
        say(text, self.view)

    @property
    def env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)  # kubectl-sagemeter lives here
        env = {**os.environ, **self.sandbox.env()}
        env["PATH"] = f"{self.sandbox.bin_dir}{os.pathsep}{bin_dir}{os.pathsep}{env['PATH']}"
        return env

    def kubectl(self, *args: str, show: bool = False, stdin: str | None = None) -> str:
        if show:
            shell(shlex.join(("kubectl", *args)))
        result = subprocess.run(
            ["kubectl", *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=stdin,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        if show and result.stdout.strip():
            console.print(result.stdout.rstrip(), markup=False, style="dim")
        return result.stdout

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.sandbox.aws_endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def objects(self) -> Objects:
        listing = json.loads(self.kubectl("get", "mep", "-n", NAMESPACE, "-o", "json"))
        return {item["metadata"]["name"]: item for item in listing["items"]}

    def watch(
        self,
        step: str,
        done: Callable[[Objects], bool],
        allow: frozenset[str] = frozenset(),
        timeout: float = 90,
    ) -> Objects:
        """Refresh the view until `done(objects)` holds. A Degraded condition (or Failed)
        whose reason is not in `allow` stops the demo: no step hides a problem."""
        self.view.step = step
        deadline = time.monotonic() + timeout
        while True:
            objects = self.objects()
            self.view.show(objects)
            problem = unhealthy(objects, allow)
            if problem is None and done(objects):
                return objects
            if problem is None and time.monotonic() > deadline:
                problem = f"timed out waiting for: {step}"
            if problem is not None:
                self.view.step_done()
                raise SystemExit(problem)
            time.sleep(1)

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.objects()[name].get("status") or {})

    def start_operator(self, prerequisites: Prerequisites) -> None:
        log = (self.sandbox.state_dir / "operator.log").open("ab")
        env = {
            **self.env,
            **prerequisites.operator_env(),
            "SAGEMETER_ADOPT_NAMESPACE": ADOPT_NAMESPACE,
            "SAGEMETER_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemeter-execution",
            "SAGEMETER_API_INVOKE_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemeter-apigateway",
            "SAGEMETER_SYNC_INTERVAL": "5s",
            "SAGEMETER_POLL_INTERVAL": "1s",
            "SAGEMETER_METRICS_PORT": "0",
            "SAGEMETER_NOTIFY_SNS_TOPIC_ARN": self.topic,
        }
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "sagemeter.cli.main", "run", "--namespace", NAMESPACE],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        console.print(
            f"operator running (pid {self.operator.pid}), watching namespace "
            f"{NAMESPACE}; log: {log.name}"
        )

    def request(self, name: str, how: str, refused: bool = False, **credentials: Any) -> None:
        """POST through `name`'s route to the local data plane and show the answer."""
        objects = self.watch(
            f"{name}'s route deployed",
            lambda objs: bool((objs[name].get("status") or {}).get("invokeUrl")),
            timeout=30,
        )
        status = objects[name]["status"]
        url = local_url(self.sandbox.aws_endpoint_url, status["invokeUrl"])
        shell(f"curl {how}{url} -d '{json.dumps(QUESTION)}'")
        deadline = time.monotonic() + 30
        # A new route, or a route switched back from "parked" to the model once the endpoint is
        # InService again, is served once the operator's coalesced deployment includes it.
        running = status.get("phase") == "InService"
        waiting = (401, 403, 503) if running else (401, 403)
        while (answer := call_route(url, QUESTION, **credentials)).status in waiting:
            if refused or time.monotonic() > deadline:
                break
            time.sleep(1)
        console.print(f"HTTP {answer.status}  {answer.body.decode()}", markup=False)
        if refused != (answer.status in (401, 403)) or (
            not refused and status.get("phase") == "InService" and answer.status != 200
        ):
            raise SystemExit(f"{name}'s route answered {answer.status}")

    def run(self) -> None:
        self.say(
            "Bringing up the sandbox: real kube-apiserver, etcd, kube-controller-manager, local AWS"
        )
        started = time.monotonic()
        self.sandbox.down()  # a clean slate, also after an earlier DEMO_KEEP=1 run
        self.sandbox.up()
        console.print(f"sandbox ready in {time.monotonic() - started:.1f}s")
        for namespace in (NAMESPACE, ADOPT_NAMESPACE):
            self.kubectl("create", "namespace", namespace)

        self.say("What exists in AWS before sagemeter")
        prerequisites = prepare(self.sandbox.aws_endpoint_url)
        console.print(
            "  a pipeline's EndpointConfig fraud-scorer-config-v7\n"
            f"  a notebook's endpoint notebook-endpoint-2026-11-20, tagged "
            f"{prerequisites.adopt_tag} (the tag the operator may adopt)\n"
            f"  the platform team's REST API {prerequisites.rest_api_id} with a Lambda token "
            f"authorizer {prerequisites.authorizer_id}"
        )
        self.subscribe()
        self.start_operator(prerequisites)
        self.view.start()
        self.apply_examples(prerequisites)
        self.update_and_call()
        self.meter()
        self.idle()
        self.wake_on_request()
        self.self_service()
        self.delete()
        self.view.stop()
        self.say("kubectl sagemeter ls")
        self.kubectl("sagemeter", "ls", "-n", NAMESPACE, show=True)
        self.say("Events of falcon")
        self.kubectl(
            "get",
            "events",
            "-n",
            NAMESPACE,
            "--sort-by=.lastTimestamp",
            "--field-selector",
            "involvedObject.name=falcon",
            show=True,
        )

    def apply_examples(self, prerequisites: Prerequisites) -> None:
        self.say("Applying every example (office-hours.yaml names the platform's authorizer)")
        manifests = "\n---\n".join(
            prerequisites.manifest(p) for p in sorted((ROOT / "examples").glob("*.yaml"))
        )
        self.kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=manifests, show=True)
        self.watch("every example where its meter and schedule say it should be", settled)

    def update_and_call(self) -> None:
        self.say("A spec change rolls through Updating: falcon moves to ml.g5.4xlarge")
        patch = '{"spec":{"instanceType":"ml.g5.4xlarge"}}'
        self.kubectl(
            "patch", "mep", "falcon", "-n", NAMESPACE, "--type=merge", "-p", patch, show=True
        )
        self.watch(
            "falcon serving the new config",
            lambda objs: phase(objs, "falcon") == "InService" and generation_seen(objs["falcon"]),
        )

        self.say("A request through falcon's route, signed with SigV4 (authorization AWS_IAM)")
        self.request(
            "falcon",
            "--aws-sigv4 aws:amz:us-east-1:execute-api --user testing:testing ",
            sigv4_region="us-east-1",
        )
        self.say("support-assistant's route asks the platform's Lambda authorizer for a token")
        self.request("support-assistant", "", refused=True)
        self.request("support-assistant", f"-H 'Authorization: Bearer {TOKEN}' ", token=TOKEN)
        if self.status("support-assistant").get("phase") == "Parked":
            console.print("(outside office hours the endpoint is parked; the route stays)")

    def meter(self) -> None:
        self.say("The meter: sentiment expires in 15 seconds and is parked at the deadline")
        expires = format_time(datetime.now(UTC) + timedelta(seconds=15))
        patch = json.dumps({"spec": {"expiry": {"expiresAt": expires}}})
        self.kubectl(
            "patch", "mep", "sentiment", "-n", NAMESPACE, "--type=merge", "-p", patch, show=True
        )
        self.watch(
            "sentiment parked at its expiry", lambda objs: phase(objs, "sentiment") == "Parked"
        )
        console.print(f"expiresAt {expires}, parked at {datetime.now(UTC):%H:%M:%S}")

        self.say("Topping up: sentiment for an hour, and llama-on-demand (it starts parked)")
        self.kubectl("sagemeter", "extend", "sentiment", "1h", "-n", NAMESPACE, show=True)
        self.kubectl("sagemeter", "extend", "llama-on-demand", "2h", "-n", NAMESPACE, show=True)
        self.watch(
            "both back in service",
            lambda objs: all(
                phase(objs, n) == "InService" for n in ("sentiment", "llama-on-demand")
            ),
        )

        self.say("A request through llama-on-demand's route with its API key (from its Secret)")
        secret = self.status("llama-on-demand")["apiKeySecret"]
        shell(
            f"API_KEY=$(kubectl get secret {secret} -n {NAMESPACE} "
            "-o jsonpath='{.data.apiKey}' | base64 -d)"
        )
        encoded = self.kubectl(
            "get", "secret", secret, "-n", NAMESPACE, "-o", "jsonpath={.data.apiKey}"
        )
        key = base64.b64decode(encoded).decode()
        self.request("llama-on-demand", '-H "x-api-key: $API_KEY" ', api_key=key)

    def idle(self) -> None:
        alarm = "sagemeter-notebook-endpoint-2026-11-20-idle"
        self.say("Idle: notebook-endpoint's grace period shortened to 2s so its alarm appears now")
        patch = '{"spec":{"idle":{"gracePeriod":"2s"}}}'
        self.kubectl(
            "patch",
            "mep",
            "notebook-endpoint",
            "-n",
            NAMESPACE,
            "--type=merge",
            "-p",
            patch,
            show=True,
        )
        cloudwatch = self.aws("cloudwatch")
        self.watch(
            "the idle alarm",
            lambda objs: bool(cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]),
            timeout=60,
        )
        self.say("CloudWatch says nobody called notebook-endpoint (its alarm goes to ALARM)")
        cloudwatch.set_alarm_state(
            AlarmName=alarm, StateValue="ALARM", StateReason="no invocations in the demo"
        )
        self.watch(
            "notebook-endpoint parked as idle",
            lambda objs: (
                phase(objs, "notebook-endpoint") == "Parked"
                and objs["notebook-endpoint"]["status"].get("parkedReason") == "Idle"
            ),
        )
        self.say("Waking it: kubectl sagemeter wake")
        self.kubectl("sagemeter", "wake", "notebook-endpoint", "-n", NAMESPACE, show=True)
        self.watch(
            "notebook-endpoint back", lambda objs: phase(objs, "notebook-endpoint") == "InService"
        )

    def wake_on_request(self) -> None:
        name = "llama-on-demand"
        self.say(f"Wake on request: {name} is parked as idle, then a request wakes it")
        patch = '{"spec":{"idle":{"gracePeriod":"2s"}}}'
        self.kubectl("patch", "mep", name, "-n", NAMESPACE, "--type=merge", "-p", patch, show=True)
        alarm = f"sagemeter-{self.status(name)['endpointName']}-idle"
        cloudwatch = self.aws("cloudwatch")
        self.watch(
            "its idle alarm",
            lambda objs: bool(cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]),
            timeout=60,
        )
        cloudwatch.set_alarm_state(
            AlarmName=alarm, StateValue="ALARM", StateReason="no invocations in the demo"
        )
        self.watch(
            f"{name} parked as idle (the alarm event arrives through the queue)",
            lambda objs: (
                phase(objs, name) == "Parked" and objs[name]["status"].get("parkedReason") == "Idle"
            ),
        )
        secret = self.status(name)["apiKeySecret"]
        encoded = self.kubectl(
            "get", "secret", secret, "-n", NAMESPACE, "-o", "jsonpath={.data.apiKey}"
        )
        key = base64.b64decode(encoded).decode()
        url = local_url(self.sandbox.aws_endpoint_url, self.status(name)["invokeUrl"])
        shell(f"curl -i -H \"x-api-key: $API_KEY\" {url} -d '{json.dumps(QUESTION)}'")
        deadline = time.monotonic() + 60
        # Until the route's switch to "waking" is deployed, the route still leads to the
        # deleted endpoint (an error from SageMaker) or says "parked".
        while (answer := call_route(url, QUESTION, api_key=key)).status != 503 or (
            b"waking" not in answer.body
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        headers = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() in ("retry-after", "sagemeter-state")
        }
        console.print(f"HTTP {answer.status} {headers} {answer.body.decode()}", markup=False)
        if answer.status != 503 or b"waking" not in answer.body:
            raise SystemExit(f"{name}'s route did not answer 503 waking: {answer.status}")
        self.watch(
            f"{name} woken by the request and back in service",
            lambda objs: phase(objs, name) == "InService",
            timeout=90,
        )
        self.request(name, '-H "x-api-key: $API_KEY" ', api_key=key)
        self.kubectl(
            "get",
            "events",
            "-n",
            NAMESPACE,
            "--field-selector",
            f"involvedObject.name={name},reason=WokenByRequest",
            show=True,
        )

    def subscribe(self) -> None:
        """The topic the operator notifies (SAGEMETER_NOTIFY_SNS_TOPIC_ARN), read through an
        SQS queue subscribed to it, as a team's mail or chat integration would."""
        sns, sqs = self.aws("sns"), self.aws("sqs")
        self.topic = sns.create_topic(Name=NOTIFICATIONS)["TopicArn"]
        self.inbox = sqs.create_queue(QueueName=NOTIFICATIONS)["QueueUrl"]
        queue = sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=queue["Attributes"]["QueueArn"])
        console.print(
            f"  the SNS topic {NOTIFICATIONS} for the operator's notifications, with an SQS "
            "queue subscribed to it"
        )

    def notification(self, name: str, reason: str, timeout: float = 30) -> dict[str, Any]:
        """The first SNS message about `name` with `reason`, read from the subscribed queue
        (the others it passes are deleted: they were about earlier steps)."""
        sqs = self.aws("sqs")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = sqs.receive_message(
                QueueUrl=self.inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            found = None
            for message in batch:
                envelope = json.loads(message["Body"])
                body = json.loads(envelope["Message"])
                sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])
                if found is None and (body.get("name"), body.get("reason")) == (name, reason):
                    found = {"Subject": envelope["Subject"], "Message": body}
            if found is not None:
                return found
        raise SystemExit(f"no {reason} notification about {name} within {timeout:.0f}s")

    def self_service(self) -> None:
        name = "llama-on-demand"
        self.say(
            f"Self-service: {name}'s users have its route and API key, not kubectl;"
            " selfService adds <route>/_meter. It expires in 15 seconds"
        )
        expires = format_time(datetime.now(UTC) + timedelta(seconds=15))
        patch = json.dumps(
            {"spec": {"api": {"selfService": True}, "expiry": {"expiresAt": expires}}}
        )
        self.kubectl("patch", "mep", name, "-n", NAMESPACE, "--type=merge", "-p", patch, show=True)
        self.watch(
            f"{name} parked at its expiry",
            lambda objs: (
                phase(objs, name) == "Parked"
                and objs[name]["status"].get("parkedReason") == "Expired"
            ),
        )
        secret = self.status(name)["apiKeySecret"]
        encoded = self.kubectl(
            "get", "secret", secret, "-n", NAMESPACE, "-o", "jsonpath={.data.apiKey}"
        )
        key = base64.b64decode(encoded).decode()
        url = local_url(self.sandbox.aws_endpoint_url, self.status(name)["invokeUrl"]) + "/_meter"

        self.say("The time left, from the meter (GET, answered inside AWS from SSM)")
        shell(f'curl -H "x-api-key: $API_KEY" {url}')
        deadline = time.monotonic() + 30
        while (meter := get_json(url, key)).get("parkedReason") != "Expired":
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}'s _meter did not show the expiry: {meter}")
            time.sleep(1)
        console.print(json.dumps(meter), markup=False)

        self.say("A top-up by request: POST _meter with the route's API key")
        extend = {"extend": "1h"}
        shell(f"curl -H \"x-api-key: $API_KEY\" {url} -d '{json.dumps(extend)}'")
        answer = call_route(url, extend, api_key=key)
        console.print(f"HTTP {answer.status}  {answer.body.decode()}", markup=False)
        if answer.status != 202:
            raise SystemExit(f"{name}'s _meter answered {answer.status}")
        self.watch(
            f"{name} extended by the request and back in service",
            lambda objs: phase(objs, name) == "InService",
        )

        self.say(
            f"The notification it produced, read from the SQS queue subscribed to {NOTIFICATIONS}"
        )
        notice = self.notification(name, "ExtendedByRequest")
        console.print(f"Subject: {notice['Subject']}", markup=False)
        console.print(json.dumps(notice["Message"], indent=2), markup=False, style="dim")

    def delete(self) -> None:
        self.say("Deleting whisper-batch: its endpoint, config and model go with it")
        self.kubectl("delete", "mep", "whisper-batch", "-n", NAMESPACE, "--wait=false", show=True)
        self.watch("whisper-batch gone", lambda objs: "whisper-batch" not in objs)
        left = self.aws("sagemaker").list_endpoints(NameContains="whisper-batch")["Endpoints"]
        console.print(f"SageMaker endpoints named like whisper-batch: {len(left)}")

    def close(self) -> None:
        self.view.stop()
        # The page is a separate command: the demo prints it and never waits for it.
        page = f"kubectl sagemeter ui -n {NAMESPACE}"
        if os.environ.get("DEMO_KEEP"):
            self.say(
                "Left running. Try: "
                + " ".join(f"{k}={v}" for k, v in self.sandbox.env().items() if k != "PATH")
            )
            path = os.pathsep.join((str(self.sandbox.bin_dir), str(Path(sys.executable).parent)))
            console.print(
                f"The endpoints on a web page: KUBECONFIG={self.sandbox.kubeconfig}"
                f" PATH={path}:$PATH {page}",
                markup=False,
            )
            pid = self.operator.pid if self.operator else "?"
            console.print(f"Stop with: make sandbox-down; kill {pid} (the operator)")
            return
        console.print(
            f"To see the endpoints on a web page, run `DEMO_KEEP=1 make demo`, then `{page}`"
            " with the KUBECONFIG it prints."
        )
        if self.operator is not None:
            self.operator.terminate()
            self.operator.wait(20)
        self.sandbox.down()


def get_json(url: str, api_key: str) -> dict[str, Any]:
    """GET `url` with the API key: its JSON body whatever the status ({} when the body is not
    a JSON object, e.g. before the route's deployment has the path)."""
    request = urllib.request.Request(url, headers={"x-api-key": api_key})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    try:
        found = json.loads(body or b"{}")
    except ValueError:
        return {}
    return dict(found) if isinstance(found, dict) else {}


def phase(objects: Objects, name: str) -> str | None:
    return (objects.get(name, {}).get("status") or {}).get("phase")


def generation_seen(obj: dict[str, Any]) -> bool:
    observed = (obj.get("status") or {}).get("observedGeneration")
    return bool(observed == obj["metadata"]["generation"])


def settled(objects: Objects) -> bool:
    """Every example where its meter and schedule say it should be right now."""
    now = datetime.now(UTC)
    for obj in objects.values():
        status = obj.get("status") or {}
        created = parse_time(obj["metadata"]["creationTimestamp"])
        expected = expected_state(obj["spec"], created, now)
        if (status.get("phase"), status.get("parkedReason")) != (expected.phase, expected.reason):
            return False
    return len(objects) == len(list((ROOT / "examples").glob("*.yaml")))


def unhealthy(objects: Objects, allow: frozenset[str]) -> str | None:
    """What is wrong: a Degraded condition whose reason is not in `allow`, or a Failed phase."""
    for name, obj in sorted(objects.items()):
        status = obj.get("status") or {}
        for condition in status.get("conditions", []):
            if (
                condition["type"] == "Degraded"
                and condition["status"] == "True"
                and condition["reason"] not in allow
            ):
                return f"{name} is Degraded ({condition['reason']}): {condition.get('message')}"
        if status.get("phase") == "Failed":
            return f"{name} failed: {status.get('failureReason', '')}"
    return None


def main() -> None:
    demo = Demo()
    try:
        demo.run()
    finally:
        demo.close()


if __name__ == "__main__":
    main()
