"""The chaos run: many ManagedEndpoints through create, update, park, resume and delete while
AWS throttles and goes away, the operator is killed and the apiserver restarts; then an audit
that reads AWS directly. ``driver`` runs it, ``audit`` reads AWS with boto3, ``report`` judges
and prints. Used by ``tests/integration/test_chaos.py`` (short) and ``tests/bench`` (long)."""
