# cloudlb Makefile. Tools are pinned and installed into bin/; `make test` needs nothing but Go and Python 3.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN := $(CURDIR)/bin
CONTROLLER_GEN_VERSION := v0.23.0
GOLANGCI_LINT_VERSION := v2.15.0
HELM_VERSION := v3.22.0
MOTO_VERSION := 5.2.5
PARLIAMENT_VERSION := 1.6.4
K8S_VERSION := 1.37.2
ETCD_VERSION := 3.6.16

CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM := $(BIN)/helm-$(HELM_VERSION)
MOTO := $(BIN)/moto-$(MOTO_VERSION)/bin/moto_server
PARLIAMENT := $(BIN)/parliament-$(PARLIAMENT_VERSION)/bin/parliament
ENVTEST_DIR := $(BIN)/k8s/$(K8S_VERSION)-etcd$(ETCD_VERSION)

export KUBEBUILDER_ASSETS := $(ENVTEST_DIR)
export CLOUDLB_MOTO_SERVER := $(MOTO)
export CLOUDLB_HELM := $(HELM)
# The suites that run the controller as a process run this binary; `make test` builds it first.
export CLOUDLB_CONTROLLER := $(BIN)/cloudlb-controller

# The controller image. The chart's default image (values.yaml image.repository, Chart.yaml appVersion) is IMG.
VERSION ?= 0.1.0
IMG ?= ghcr.io/cloudlb/cloudlb-controller:$(VERSION)
ARCH ?= $(or $(GOARCH),amd64)
SOURCE_DATE_EPOCH ?= 0
IMAGE_ARCHIVE ?= $(BIN)/cloudlb-controller-image-$(ARCH).tar
# test/image checks the archive `make image` has just written against these.
export CLOUDLB_IMAGE_ARCHIVE := $(IMAGE_ARCHIVE)
export CLOUDLB_IMAGE := $(IMG)
export CLOUDLB_IMAGE_ARCH := $(ARCH)

CLOUD ?= aws

.PHONY: all
all: build

##@ Build

.PHONY: build
build: ## Build the controller binary into bin/cloudlb-controller.
	go build -o $(BIN)/cloudlb-controller ./cmd/cloudlb-controller

.PHONY: kubectl-plugin
kubectl-plugin: build ## The kubectl plugin `kubectl cloudlb plan|adopt`: the same binary, as bin/kubectl-cloudlb.
	ln -sf cloudlb-controller $(BIN)/kubectl-cloudlb

.PHONY: image
image: ## Build the image as an OCI archive, bin/cloudlb-controller-image-$(ARCH).tar, without Docker or a registry.
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) go build -trimpath -buildvcs=false -ldflags='-s -w' \
		-o "$$tmp/cloudlb-controller" ./cmd/cloudlb-controller && \
	GOOS= GOARCH= go run ./hack/image -binary "$$tmp/cloudlb-controller" -arch $(ARCH) -name $(IMG) \
		-version $(VERSION) -epoch $(SOURCE_DATE_EPOCH) -o $(IMAGE_ARCHIVE)

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from kubebuilder markers, and copy them into the Helm chart.
	$(CONTROLLER_GEN) crd rbac:roleName=cloudlb-controller paths=./... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac \
		webhook output:webhook:artifacts:config=config/webhook
	hack/sync-chart.sh

##@ Test

.PHONY: test
test: envtest moto helm build image check-iam ## Provision envtest, moto and helm, lint the IAM policy, then run every suite.
	go test ./... -count=1 -timeout 30m

.PHONY: test-faults
test-faults: envtest moto build ## Run the full fault-injection suite: 20 Ingresses while the cloud throttles and fails calls.
	CLOUDLB_CHAOS=full go test ./test/chaos -count=1 -timeout 60m -v -ginkgo.label-filter=faults -ginkgo.v

.PHONY: test-crash
test-crash: envtest moto build ## Run the full crash suite: 20 Ingresses while the controller is killed at least 30 times.
	CLOUDLB_CHAOS=full go test ./test/chaos -count=1 -timeout 60m -v -ginkgo.label-filter=crash -ginkgo.v

.PHONY: bench
bench: envtest moto ## Run the benchmarks: time, memory and cloud calls by operation.
	go test ./... -run '^$$' -bench . -benchmem -benchtime=1x -count=1 -timeout 60m
	$(MAKE) bench-throttle-200

.PHONY: bench-throttle
bench-throttle: envtest moto ## Only the throttling benchmark: 50 Ingresses behind a proxy enforcing AWS's API buckets.
	go test ./test/bench/throttle -run '^$$' -bench . -benchtime=1x -count=1 -timeout 30m -v

.PHONY: bench-throttle-200
bench-throttle-200: envtest moto ## The throttling benchmark with 200 Ingresses (takes about 8 minutes).
	CLOUDLB_BENCH_INGRESSES=200 go test ./test/bench/throttle -run '^$$' -bench . -benchtime=1x -count=1 -timeout 60m -v

.PHONY: bench-rollout-aws
bench-rollout-aws: envtest moto ## Only the rolling update of 1,000 pods on moto behind AWS's API buckets.
	go test ./test/bench/rolloutaws -run '^$$' -bench . -benchtime=1x -count=1 -timeout 30m -v

.PHONY: bench-restart
bench-restart: envtest ## Only the restart over 1,000 converged Ingresses: cloud calls and seconds.
	go test ./test/bench/restart -run '^$$' -bench . -benchtime=1x -count=1 -timeout 30m -v

.PHONY: bench-scale
bench-scale: envtest ## Only 50 target groups of 1,000 endpoints each: peak memory.
	go test ./test/bench/scale -run '^$$' -bench . -benchtime=1x -count=1 -timeout 30m -v

.PHONY: bench-unserved
bench-unserved: envtest ## Only the controller's memory with 5,000 Services and 20,000 Pods it does not serve.
	go test ./test/bench/unserved -run '^$$' -bench . -benchtime=1x -count=1 -timeout 30m -v

.PHONY: envtest
envtest: $(ENVTEST_DIR)/.versions ## Build kube-apiserver and etcd from source into bin/k8s.
$(ENVTEST_DIR)/.versions:
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest.sh $(ENVTEST_DIR)

.PHONY: moto
moto: $(MOTO) ## Install the moto AWS emulator into bin/.
$(MOTO):
	python3 -m venv $(BIN)/moto-$(MOTO_VERSION)
	$(BIN)/moto-$(MOTO_VERSION)/bin/pip install --quiet 'moto[server]==$(MOTO_VERSION)'

.PHONY: parliament
parliament: $(PARLIAMENT) ## Install the parliament IAM policy linter into bin/.
$(PARLIAMENT):
	python3 -m venv $(BIN)/parliament-$(PARLIAMENT_VERSION)
	$(BIN)/parliament-$(PARLIAMENT_VERSION)/bin/pip install --quiet 'parliament==$(PARLIAMENT_VERSION)'

.PHONY: check-iam
check-iam: $(PARLIAMENT) ## Lint config/iam/policy.json with parliament; any finding fails.
	$(BIN)/parliament-$(PARLIAMENT_VERSION)/bin/python hack/check-iam-policy.py $(PARLIAMENT) config/iam/policy.json

.PHONY: helm
helm: $(HELM)
$(HELM):
	GOBIN=$(BIN)/tmp-helm go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/tmp-helm/helm $@ && rmdir $(BIN)/tmp-helm

##@ Run

.PHONY: run-local
run-local: envtest moto ## Run cloudlb against an embedded API server; CLOUD=fake or CLOUD=aws (moto).
	go run ./cmd/cloudlb-local --cloud=$(CLOUD)

##@ Quality

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests ## Fail when generated code or manifests are not committed.
	go mod tidy
	gofmt -l . | (! grep .)
	git diff --exit-code -- . ':(exclude)bin'
	@test -z "$$(git status --porcelain --untracked-files=all -- api config charts go.mod go.sum)" || \
		{ git status --porcelain -- api config charts go.mod go.sum; echo 'untracked generated files'; exit 1; }

$(CONTROLLER_GEN):
	GOBIN=$(BIN)/tmp-cg go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/tmp-cg/controller-gen $@ && rmdir $(BIN)/tmp-cg

$(GOLANGCI_LINT):
	GOBIN=$(BIN)/tmp-gl go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/tmp-gl/golangci-lint $@ && rmdir $(BIN)/tmp-gl

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
