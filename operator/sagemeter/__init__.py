"""sagemeter: Amazon SageMaker inference endpoints as Kubernetes objects, with a meter."""

__version__ = "0.1.0"
