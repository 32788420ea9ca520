"""Thin gateways to AWS, one module per service, and the classification of their errors.

Everything that talks to AWS lives here; callers get dataclasses, plain dicts and
``AwsError`` (with an ``ErrorKind``), never botocore exceptions.
"""

from sagemeter.aws.errors import AwsError, ErrorKind, classify

__all__ = ["AwsError", "ErrorKind", "classify"]
