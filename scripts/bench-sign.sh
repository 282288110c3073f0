#!/usr/bin/env bash
# Signed GET URLs per second on one core: this crate's signers (benches/sign.rs, criterion)
# beside boto3's generate_presigned_url (SigV4, what the official client's S3 path ends
# in), in one run, both pinned to CPU 0. Prints one line per signer and the S3 ratio.
#
# Usage: scripts/bench-sign.sh        (boto3 comes from scripts/cloud-emulators.sh's venv)
# Env:   BOTO_N  URLs boto3 signs (default 20000)
# Exits 3 when boto3 cannot be installed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${CLOUD_EMU_VENV:-${RFBATCH_CACHE:-$HOME/.cache/roboflow-batch}/venv-cloud}
status=0
bash scripts/cloud-emulators.sh >/dev/null || status=$?
if [ "$status" = 3 ] && ! "$VENV/bin/python" -c 'import boto3' 2>/dev/null; then
    echo "boto3 could not be installed; nothing to compare with" >&2
    exit 3
fi
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c 0); fi
N=${BOTO_N:-20000}

boto=$("${PIN[@]}" "$VENV/bin/python" - "$N" <<'EOF'
import sys, time, boto3
from botocore.config import Config
n = int(sys.argv[1])
c = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9000",
                 aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                 aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                 config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
key = "datasets/2024/cats/IMG_000123.jpg"
for _ in range(500):  # warm-up
    c.generate_presigned_url("get_object", Params={"Bucket": "bench-bucket", "Key": key}, ExpiresIn=86400)
t = time.perf_counter()
for _ in range(n):
    c.generate_presigned_url("get_object", Params={"Bucket": "bench-bucket", "Key": key}, ExpiresIn=86400)
print(f"{n / (time.perf_counter() - t):.0f}")
EOF
)

LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
"${PIN[@]}" cargo bench -q --features cloud --bench sign -- --noplot >"$LOG" 2>&1 || { cat "$LOG"; exit 1; }

printf '%-22s %14s\n' "signer (one core)" "URLs/s"
printf '%-22s %14s\n' "boto3 (S3 SigV4)" "$boto"
# criterion: "sign/NAME  time: [...]" then "thrpt: [low UNIT mid UNIT high UNIT]"
awk -v boto="$boto" '
    /^sign\// { name = $1; sub("sign/", "", name) }
    /thrpt:/ && name != "" {
        v = $4; u = $5
        if (u ~ /^K/) v *= 1000; else if (u ~ /^M/) v *= 1000000
        printf "%-22s %14.0f", name, v
        if (name == "s3_sigv4") printf "   (%.1fx boto3)", v / boto
        printf "\n"; name = ""
    }' "$LOG"
grep SKIPPED "$LOG" || true
