"""The benchmarks use the integration fixtures: the sandbox and the operator as a process."""

from tests.integration.conftest import kube, operator, sagemaker

__all__ = ["kube", "operator", "sagemaker"]
