#!/usr/bin/env bash
# Runs the okta input against the mock Okta org with the sample events and prints every
# record as a JSON line. Uses Fluent Bit when it is on PATH or named by FLUENT_BIT, else the
# Fluent Bit proxy emulator in tests/host.
#
# DEMO_SECONDS (default 30) bounds the run; DEMO_LIVE (default 2) adds that many synthetic
# events per second after the samples, to show live polling.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${DEMO_SECONDS:-30}
live=${DEMO_LIVE:-2}
dir=build/demo
rm -rf "$dir"
mkdir -p "$dir"

make -s so host
go build -o build/mockokta ./tests/cmd/mockokta

# The mock listens on a free loopback port and writes the org URL, the client key and its CA
# into $dir/env once it is ready.
build/mockokta -dir "$dir" -live "$live" >"$dir/mockokta.log" 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q 'listening on' "$dir/mockokta.log" 2>/dev/null && break
    kill -0 $mock 2>/dev/null || { cat "$dir/mockokta.log" >&2; exit 1; }
    sleep 0.1
done
# shellcheck disable=SC1091
. "$dir/env"
echo "demo: mock Okta org at $ORG_URL, running for ${seconds}s" >&2

props=(
    org_url="$ORG_URL" client_id="$CLIENT_ID" key_id="$KEY_ID"
    private_key_file="$PRIVATE_KEY_FILE" ca_file="$CA_FILE"
    poll_interval=2s state_file="$dir/okta.state"
)

fluent_bit=${FLUENT_BIT:-$(command -v fluent-bit || true)}
if [ -n "$fluent_bit" ]; then
    echo "demo: using $fluent_bit" >&2
    args=(-e "$PWD/build/in_okta.so" -i okta -t okta.raw)
    for p in "${props[@]}"; do args+=(-p "$p"); done
    args+=(-o stdout -m '*' -p format=json_lines)
    timeout --signal=INT "$seconds" "$fluent_bit" "${args[@]}" || [ $? -eq 124 ]
else
    echo "demo: fluent-bit not found; using the Fluent Bit proxy emulator tests/host/flbhost" >&2
    args=(--duration-ms "$((seconds * 1000))" -i okta.0 -t okta.raw)
    for p in "${props[@]}"; do args+=(-p "$p"); done
    tests/host/flbhost "${args[@]}" build/in_okta.so
fi
