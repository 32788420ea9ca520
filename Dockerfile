# syntax=docker/dockerfile:1
# sagemeter operator image.
#   docker build -t sagemeter:0.1.0 .
# The builder installs the hash-pinned dependencies (requirements.lock, made by
# pip-compile from pyproject.toml) and sagemeter's own wheel into /opt/venv; the
# final stage is the slim Python image plus that venv, run as uid 65532.
# Both stages use the same base so compiled wheels match the interpreter; pin a
# digest (python:3.11.14-slim-trixie@sha256:...) in CI for byte-for-byte builds.
ARG PYTHON_IMAGE=python:3.11.14-slim-trixie

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The venv gets no pip of its own: the builder's pip installs into it, so the
# final image carries no installer.
RUN python -m venv --without-pip /opt/venv
COPY requirements.lock ./
# Wheels only (every dependency ships them for amd64 and arm64): no compiler.
RUN pip --python /opt/venv/bin/python install --no-deps --require-hashes \
      --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip --python /opt/venv/bin/python install --no-deps /wheels/sagemeter-*.whl

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="sagemeter" \
      org.opencontainers.image.description="Kubernetes operator that runs Amazon SageMaker inference endpoints as ManagedEndpoint objects and keeps their cost under control" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A named user for uid 65532 (kopf's peer identity asks for the user name when
# POD_ID is unset); no home, no shell. pip and setuptools leave the runtime image.
RUN echo "sagemeter:x:65532:65532:sagemeter:/nonexistent:/usr/sbin/nologin" >> /etc/passwd \
 && echo "sagemeter:x:65532:" >> /etc/group \
 && python -m pip uninstall --yes --quiet pip setuptools wheel \
 && rm -rf /root/.cache
COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
# 8080: Prometheus /metrics (SAGEMETER_METRICS_PORT); 8081: kopf's /healthz.
EXPOSE 8080 8081
ENTRYPOINT ["sagemeter", "run"]
CMD ["--liveness=http://0.0.0.0:8081/healthz"]
