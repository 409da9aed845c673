#!/usr/bin/env bash
# Runs every benchmark of the okta input and writes docs/benchmarks.md with its charts.
# BENCH_QUICK=1 runs smaller volumes (about 3 minutes instead of about 20).
# Needs gcc, libmsgpack-dev and gnuplot-nox (Debian package names); benchstat is fetched from
# the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=build/bench
mkdir -p "$out"
make -s so host

echo "bench: per-event cost (internal/record)" >&2
go test -run '^$' -bench Page1000 -benchmem -cpu 1 -count 5 ./internal/record/ \
    | tee "$out/record.txt"
go run golang.org/x/perf/cmd/benchstat@latest "$out/record.txt" > "$out/benchstat.txt"
go test -run '^$' -bench 'Page1000$' -cpu 1 -count 1 -benchtime 2s \
    -cpuprofile "$out/record.pprof" -o "$out/record.test" ./internal/record/ > /dev/null
go tool pprof -top -nodecount 12 "$out/record.test" "$out/record.pprof" 2>/dev/null \
    | sed -n '/flat%/,$p' > "$out/profile.txt"

echo "bench: backfill, live tail and soak against the mock org" >&2
go run ./tests/bench -record-bench "$out/record.txt" -benchstat "$out/benchstat.txt" \
    -profile "$out/profile.txt"
