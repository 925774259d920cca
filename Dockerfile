# syntax=docker/dockerfile:1
# The same image as `make image` (which needs no Docker): the static controller binary alone on an empty base,
# run as a numeric non-root user. Built with the same Go version and flags, the binary is identical to the one in
# `make image`'s archive. test/image checks that this file and the archive agree on user, entrypoint and labels.
#   docker buildx build --platform linux/arm64 --build-arg VERSION=0.1.0 -t <repo>/cloudlb-controller:0.1.0 .

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS builder
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
# Dependencies first, so that a source change does not download the modules again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/cloudlb-controller ./cmd/cloudlb-controller

# No operating system: the binary carries its own CA roots (cmd/cloudlb-controller/roots.go) and needs no
# /etc/passwd, because the user is numeric.
FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.source="https://github.com/cloudlb/cloudlb" \
      org.opencontainers.image.title="cloudlb-controller" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="NOASSERTION"
COPY --from=builder --chown=0:0 --chmod=0555 /out/cloudlb-controller /cloudlb-controller
WORKDIR /
USER 65532:65532
ENTRYPOINT ["/cloudlb-controller"]
