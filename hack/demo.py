"""`make demo`: sagemeter's main job on the local sandbox, with a live view.

Brings the sandbox up (real kube-apiserver, etcd, kube-controller-manager and a
local AWS), runs the operator, applies every example and walks through the
lifecycle: Creating -> InService, a spec change rolling through Updating, the
meter parking an endpoint at its expiry and `kubectl sagemeter extend` bringing
it back, an idle park driven by the CloudWatch alarm, and a delete that cleans
up AWS. Set DEMO_KEEP=1 to leave everything running afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from sagemeter.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "demo"
TTY = sys.stdout.isatty()


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if TTY else f"\n==> {text}", flush=True)


class Demo:
    def __init__(self) -> None:
        self.sandbox = Sandbox()
        self.operator: subprocess.Popen[bytes] | None = None
        self._last_table = ""

    @property
    def env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)  # kubectl-sagemeter lives here
        env = {**os.environ, **self.sandbox.env()}
        env["PATH"] = f"{self.sandbox.bin_dir}{os.pathsep}{bin_dir}{os.pathsep}{env['PATH']}"
        return env

    def kubectl(self, *args: str, check: bool = True, quiet: bool = False) -> str:
        result = subprocess.run(
            ["kubectl", *args], env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        if not quiet and result.stdout.strip():
            print(result.stdout.rstrip())
        return result.stdout

    def aws(self, service: str) -> object:
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.sandbox.aws_endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def show(self) -> None:
        table = self.kubectl("get", "mep", "-n", NAMESPACE, "-o", "wide", quiet=True)
        if table != self._last_table:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            print(f"--- {stamp}\n{table.rstrip()}", flush=True)
            self._last_table = table

    def watch(
        self, what: str, done: Callable[[dict[str, dict]], bool], timeout: float = 90
    ) -> None:
        """Refresh the table until `done(objects by name)` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.show()
            items = json.loads(
                self.kubectl("get", "mep", "-n", NAMESPACE, "-o", "json", quiet=True)
            )["items"]
            if done({item["metadata"]["name"]: item.get("status") or {} for item in items}):
                self.show()
                return
            time.sleep(1)
        raise SystemExit(f"timed out waiting for {what}")

    def start_operator(self) -> None:
        log = (self.sandbox.state_dir / "operator.log").open("ab")
        env = {
            **self.env,
            "SAGEMETER_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemeter-execution",
            "SAGEMETER_API_INVOKE_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemeter-apigateway",
            "SAGEMETER_SYNC_INTERVAL": "5s",
            "SAGEMETER_POLL_INTERVAL": "1s",
            "SAGEMETER_METRICS_PORT": "0",
        }
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "sagemeter.cli.main", "run", "--namespace", NAMESPACE],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        print(f"operator running (pid {self.operator.pid}); log: {log.name}")

    def prepare_aws(self) -> None:
        """What exists before sagemeter: a pipeline's config and a notebook's endpoint."""
        sagemaker = self.aws("sagemaker")
        image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pipeline-model:7"
        role = "arn:aws:iam::123456789012:role/pipeline"
        for model, config in (
            ("fraud-scorer-model-v7", "fraud-scorer-config-v7"),
            ("notebook-model", "notebook-config"),
        ):
            sagemaker.create_model(
                ModelName=model,
                PrimaryContainer={"Image": image},  # type: ignore[attr-defined]
                ExecutionRoleArn=role,
            )
            sagemaker.create_endpoint_config(  # type: ignore[attr-defined]
                EndpointConfigName=config,
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": model,
                        "InstanceType": "ml.g5.xlarge",
                        "InitialInstanceCount": 1,
                    }
                ],
            )
        sagemaker.create_endpoint(
            EndpointName="notebook-endpoint-2026-11-20",  # type: ignore[attr-defined]
            EndpointConfigName="notebook-config",
        )

    def run(self) -> None:
        say(
            "Bringing up the sandbox: real kube-apiserver, etcd, kube-controller-manager, local AWS"
        )
        started = time.monotonic()
        self.sandbox.down()  # a clean slate, also after an earlier DEMO_KEEP=1 run
        self.sandbox.up()
        print(f"sandbox ready in {time.monotonic() - started:.1f}s")
        self.kubectl("create", "namespace", NAMESPACE, check=False, quiet=True)
        self.prepare_aws()
        self.start_operator()

        say("Applying every example: kubectl apply -n demo -f examples/")
        self.kubectl("apply", "-n", NAMESPACE, "-f", str(ROOT / "examples"))
        self.watch(
            "the examples to settle",
            lambda objs: (
                len(objs) == 7
                and all(s.get("phase") in ("InService", "Parked") for s in objs.values())
            ),
        )

        say("A spec change rolls through Updating: falcon moves to ml.g5.4xlarge")
        self.kubectl(
            "patch",
            "mep",
            "falcon",
            "-n",
            NAMESPACE,
            "--type=merge",
            "-p",
            '{"spec":{"instanceType":"ml.g5.4xlarge"}}',
        )
        self.watch("the update", lambda objs: objs["falcon"].get("phase") == "Updating")
        self.watch(
            "the update to finish",
            lambda objs: (
                objs["falcon"].get("phase") == "InService"
                and objs["falcon"].get("observedGeneration") == 2
            ),
        )

        say("The meter: sentiment expires in 15 seconds and is parked at the deadline")
        expires = (datetime.now(UTC) + timedelta(seconds=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.kubectl(
            "patch",
            "mep",
            "sentiment",
            "-n",
            NAMESPACE,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"expiry": {"expiresAt": expires}}}),
        )
        self.watch("the expiry", lambda objs: objs["sentiment"].get("phase") == "Parked")
        print(f"expiresAt {expires}, parked at {datetime.now(UTC):%H:%M:%S}")

        say("Topping up: kubectl sagemeter extend sentiment 1h")
        self.kubectl("sagemeter", "extend", "sentiment", "1h", "-n", NAMESPACE)
        self.watch("the resume", lambda objs: objs["sentiment"].get("phase") == "InService")

        say("Idle: notebook-endpoint's grace period shortened to 2s so its alarm appears now")
        self.kubectl(
            "patch",
            "mep",
            "notebook-endpoint",
            "-n",
            NAMESPACE,
            "--type=merge",
            "-p",
            '{"spec":{"idle":{"gracePeriod":"2s"}}}',
        )
        say("CloudWatch says nobody called notebook-endpoint (alarm set to ALARM)")
        self.watch("the idle alarm", lambda objs: self._alarm_exists(), timeout=60)
        self.aws("cloudwatch").set_alarm_state(  # type: ignore[attr-defined]
            AlarmName="sagemeter-notebook-endpoint-2026-11-20-idle",
            StateValue="ALARM",
            StateReason="no invocations in the demo",
        )
        self.watch(
            "the idle park",
            lambda objs: (
                objs["notebook-endpoint"].get("parkedReason") == "Idle"
                and objs["notebook-endpoint"].get("phase") == "Parked"
            ),
        )
        say("kubectl sagemeter wake notebook-endpoint")
        self.kubectl("sagemeter", "wake", "notebook-endpoint", "-n", NAMESPACE)
        self.watch("the wake", lambda objs: objs["notebook-endpoint"].get("phase") == "InService")

        url = (
            json.loads(
                self.kubectl("get", "mep", "falcon", "-n", NAMESPACE, "-o", "json", quiet=True)
            )
            .get("status", {})
            .get("invokeUrl")
        )
        if url:
            say(f"falcon is reachable at {url}")

        say("Deleting whisper-batch: endpoint, config and model go with it")
        self.kubectl("delete", "mep", "whisper-batch", "-n", NAMESPACE, "--wait=false")
        self.watch("the delete", lambda objs: "whisper-batch" not in objs)
        say("kubectl sagemeter ls")
        self.kubectl("sagemeter", "ls", "-n", NAMESPACE)
        say("Events of falcon")
        self.kubectl(
            "get",
            "events",
            "-n",
            NAMESPACE,
            "--field-selector",
            "involvedObject.name=falcon",
            "--sort-by=.lastTimestamp",
        )

    def _alarm_exists(self) -> bool:
        alarms = self.aws("cloudwatch").describe_alarms(  # type: ignore[attr-defined]
            AlarmNames=["sagemeter-notebook-endpoint-2026-11-20-idle"]
        )
        return bool(alarms["MetricAlarms"])

    def close(self) -> None:
        if os.environ.get("DEMO_KEEP"):
            say(
                "Left running. Try: "
                + " ".join(f"{k}={v}" for k, v in self.sandbox.env().items() if k != "PATH")
            )
            print("Stop with: make sandbox-down (and kill the operator)")
            return
        if self.operator is not None:
            self.operator.terminate()
            self.operator.wait(20)
        self.sandbox.down()


def main() -> None:
    demo = Demo()
    try:
        demo.run()
    finally:
        demo.close()


if __name__ == "__main__":
    main()
