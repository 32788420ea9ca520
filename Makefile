# sagemeter — everything a fresh machine needs goes through these targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install controlplane tools crds argocd lock lint typecheck test test-unit demo bench soak sandbox-up sandbox-down clean

# The operator (with its test and demo tools) and the sandbox, its own distribution.
$(STAMP): pyproject.toml operator/sagemeter_sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[cli,test,demo]' -e operator/sagemeter_sandbox
	touch $(STAMP)

install: $(STAMP)

# Builds (first time) or reuses the pinned kube-apiserver, kube-controller-manager,
# kubectl and etcd; see hack/build-controlplane.sh.
controlplane:
	bash hack/build-controlplane.sh

# helm, built from its Go module like the control plane; see hack/build-tools.sh.
tools:
	bash hack/build-tools.sh

# The CRDs and the ValidatingAdmissionPolicy, generated from operator/sagemeter/api/;
# kustomize and Helm cannot reach crds/, so the files are copied next to them.
crds: install
	$(BIN)/sagemeter crd --kind managedendpoints > crds/managedendpoints.sagemeter.io.yaml
	$(BIN)/sagemeter crd --kind endpointpolicies > crds/endpointpolicies.sagemeter.io.yaml
	$(BIN)/sagemeter admission-policy > deploy/base/admission-policy.yaml
	cp crds/managedendpoints.sagemeter.io.yaml deploy/base/crd.yaml
	cp crds/endpointpolicies.sagemeter.io.yaml deploy/base/crd-endpointpolicies.yaml
	cp crds/managedendpoints.sagemeter.io.yaml crds/endpointpolicies.sagemeter.io.yaml \
	  deploy/helm/sagemeter/crds/
	cp deploy/base/admission-policy.yaml deploy/helm/sagemeter/templates/admission-policy.yaml

argocd: install
	$(BIN)/python deploy/argocd/generate.py > deploy/argocd/argocd-cm-patch.yaml

lock: install
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links --output-file=requirements.lock pyproject.toml

lint: install
	$(BIN)/ruff check operator tests hack deploy
	$(BIN)/ruff format --check operator tests hack deploy
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test-unit: install
	$(BIN)/pytest tests/unit

test: install controlplane tools lint typecheck
	bash hack/install-system-deps.sh
	SAGEMETER_CONTROLPLANE_DIR="$$(bash hack/build-controlplane.sh 2>/dev/null | tail -n1)" \
	SAGEMETER_TOOLS_DIR="$$(bash hack/build-tools.sh 2>/dev/null | tail -n1)" \
	  $(BIN)/pytest

sandbox-up: install controlplane
	$(BIN)/sagemeter sandbox up

sandbox-down: install
	$(BIN)/sagemeter sandbox down

demo: install controlplane
	$(BIN)/python hack/demo.py

# The benchmarks run the operator as the image does, from a venv of requirements.lock alone
# (hack/operator-venv.sh). BENCH_CHECKOUT measures another checkout's operator with these
# benchmarks, e.g. a worktree of the commit before a change:
#   git worktree add --detach ../before <commit> && make bench BENCH_CHECKOUT=../before
# BENCH_ARGS narrows the run (e.g. BENCH_ARGS='-k memory' or 'tests/bench/bench_scale.py').
BENCH_CHECKOUT ?= $(CURDIR)
BENCH_ARGS ?= tests/bench

bench: install controlplane
	$(BIN)/pip install --quiet -e '.[cli,test,bench]'
	SAGEMETER_OPERATOR_PYTHON="$$(bash hack/operator-venv.sh $(BENCH_CHECKOUT))" \
	SAGEMETER_CONTROLPLANE_DIR="$$(bash hack/build-controlplane.sh 2>/dev/null | tail -n1)" \
	  $(BIN)/pytest -o python_files='bench_*.py' -s -p no:cacheprovider $(BENCH_ARGS)

# The soak (tests/bench/soak.py): 200 objects parked and resumed for SOAK_MINUTES; RSS over
# time, its growth per hour, CPU seconds, AWS calls per endpoint-hour. BENCH_CHECKOUT as above.
SOAK_MINUTES ?= 30

soak: install controlplane
	$(BIN)/pip install --quiet -e '.[cli,test,bench]'
	SAGEMETER_SOAK_MINUTES="$(SOAK_MINUTES)" \
	SAGEMETER_OPERATOR_PYTHON="$$(bash hack/operator-venv.sh $(BENCH_CHECKOUT))" \
	SAGEMETER_CONTROLPLANE_DIR="$$(bash hack/build-controlplane.sh 2>/dev/null | tail -n1)" \
	  $(BIN)/pytest tests/bench/soak.py -s -p no:cacheprovider

clean:
	-$(BIN)/sagemeter sandbox down
	rm -rf $(VENV) .venv-operator .sandbox
