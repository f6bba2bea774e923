#!/usr/bin/env bash
# Installs the code-generation tools into the given directory, pinned.
set -euo pipefail
dir=${1:?usage: install-tools.sh DIR}
BUF_VERSION=1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
# promtool checks deploy/monitoring/alerts.yml (test/monitoring).
PROMETHEUS_VERSION=v0.316.0
mkdir -p "$dir/bin"
if ! "$dir/node_modules/.bin/buf" --version 2>/dev/null | grep -qx "$BUF_VERSION"; then
  (cd "$dir" && npm install --silent --no-audit --no-fund --prefix "$dir" "@bufbuild/buf@$BUF_VERSION" >/dev/null)
fi
if ! "$dir/bin/protoc-gen-go" --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_VERSION}"; then
  GOBIN="$dir/bin" GOWORK=off go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if ! "$dir/bin/protoc-gen-go-grpc" --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_GRPC_VERSION#v}"; then
  GOBIN="$dir/bin" GOWORK=off go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi
# go install leaves promtool without a version string: a stamp file says which.
if [ ! -x "$dir/bin/promtool" ] || [ ! -f "$dir/bin/.promtool-$PROMETHEUS_VERSION" ]; then
  GOBIN="$dir/bin" GOWORK=off GOFLAGS=-mod=mod go install "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
  touch "$dir/bin/.promtool-$PROMETHEUS_VERSION"
fi
