#!/usr/bin/env bash
# The loaded, repeated pass that proves the suite does not fail by chance:
# `go test -race -count=3 ./...` with both cores kept busy by stress-ng,
# PASSES times in a row, then one pass with -cpu 1 (GOMAXPROCS=1 in every
# test). Any failure stops it. Needs stress-ng (Debian package stress-ng).
# Usage: bash scripts/stress.sh        (PASSES=1 COUNT=3 to shorten or lengthen)
set -euo pipefail
cd "$(dirname "$0")/.."

passes=${PASSES:-3}
count=${COUNT:-3}
command -v stress-ng >/dev/null || { echo "stress-ng is missing: apt-get install stress-ng" >&2; exit 2; }

go vet ./... # builds everything once, unloaded
start=$(date +%s)
for pass in $(seq 1 "$passes"); do
  echo "== loaded pass $pass/$passes: go test -race -count=$count, stress-ng --cpu 2"
  stress-ng --cpu 2 --timeout 2h >/dev/null 2>&1 &
  load=$!
  trap 'kill $load 2>/dev/null || true' EXIT
  go test -race -count="$count" -timeout 60m ./...
  kill $load 2>/dev/null || true
  wait $load 2>/dev/null || true
  trap - EXIT
done
echo "== go test -race -cpu 1"
go test -race -cpu 1 -count=1 -timeout 30m ./...
echo "stress passed: $passes loaded pass(es) of -count=$count and one -cpu 1 pass in $(( $(date +%s) - start )) s"
