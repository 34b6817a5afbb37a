#!/usr/bin/env bash
# Runs lagship's tests: go vet, then go test over every package, with the
# race detector when a C toolchain is available (it needs cgo).
set -euo pipefail
cd "$(dirname "$0")"
race=()
if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null 2>&1; then
  race=(-race)
fi
go vet ./...
go test "${race[@]}" -timeout 30m "$@" ./...
