#!/usr/bin/env bash
# End to end: N objects (default 100,000) in moto's S3, listed, signed and sent as
# references to `rfbatch sandbox`, twice (the re-run is all duplicated chunks). Prints
# references/s, the requests made and the client's peak RSS (examples/cloud_ingest.rs).
#
# moto serves TLS with a self-signed certificate so that the signed URLs are https://, as
# the client requires of references; the example's listing transport accepts it.
#
# Usage: scripts/bench-cloud-ingest.sh      Env: N (objects), KEEP_TMP=1
# Exits 3 when the emulators cannot be installed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${CLOUD_EMU_VENV:-${RFBATCH_CACHE:-$HOME/.cache/roboflow-batch}/venv-cloud}
N=${N:-100000}
status=0
bash scripts/cloud-emulators.sh >/dev/null || status=$?
[ "$status" = 0 ] || { echo "emulators not installed (scripts/cloud-emulators.sh exit $status)" >&2; exit 3; }

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rfbatch-cloud-bench.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; exit 1; }

MOTO_PORT=$(free_port)
echo "== moto (TLS, self-signed) with $N objects put through its S3 backend (HTTP PUTs would take minutes)"
"$VENV/bin/python" - "$MOTO_PORT" "$N" >"$TMP/moto.log" 2>&1 <<'EOF' &
import sys, time
from werkzeug.serving import run_simple
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3.models import s3_backends
port, n = int(sys.argv[1]), int(sys.argv[2])
t = time.time()
b = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
b.create_bucket("bench-bucket", "us-east-1")
png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
                    "0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082")
for i in range(n):
    b.put_object("bench-bucket", f"images/{i % 100:02d}/img-{i:07d}.png", png)
print(f"put {n} objects in {time.time() - t:.1f} s", flush=True)
run_simple("127.0.0.1", port, DomainDispatcherApplication(create_backend_app), threaded=True, ssl_context="adhoc")
EOF
PIDS+=($!)
wait_port "$MOTO_PORT"
head -n 1 "$TMP/moto.log"

echo "== building (release)"
cargo build -q --release --features cli --bin rfbatch --example cloud_ingest
API_PORT=$(free_port)
./target/release/rfbatch sandbox --addr "127.0.0.1:$API_PORT" --data-dir "$TMP/sandbox" >"$TMP/sandbox.log" 2>&1 &
PIDS+=($!)
wait_port "$API_PORT"

echo "== ingesting s3://bench-bucket/images/**/*.png by reference"
AWS_ACCESS_KEY_ID=AKIABENCH AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 \
AWS_ENDPOINT_URL="https://127.0.0.1:$MOTO_PORT" \
    ./target/release/examples/cloud_ingest 's3://bench-bucket/images/**/*.png' \
    "http://127.0.0.1:$API_PORT" sandbox-key bench-batch --insecure-tls
