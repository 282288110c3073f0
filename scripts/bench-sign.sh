#!/usr/bin/env bash
# Signed GET URLs per second on one core: this crate's signers (benches/sign.rs, criterion)
# beside boto3's generate_presigned_url (SigV4, what the official client's S3 path ends
# in) and Python cryptography's RSA-2048 PKCS#1 v1.5 SHA-256 signing (OpenSSL: what
# Google's Python libraries, and so the official client's GCS path, sign with), all
# pinned to CPU 0 and signing with the same fixed test key (tests/data/gcs-test-key.pem).
#
# Prints three tables:
#   1. every signer once, beside boto3;
#   2. the RSA signers against cryptography over ROUNDS rounds, each round measuring
#      cryptography just before and just after ours (their mean is the round's figure), so
#      that both sides of a ratio share the machine's load of the moment; medians and the
#      range of the per-round ratios;
#   3. a whole GCS references ingest with that key, not pinned: signing on every core.
#
# Usage: scripts/bench-sign.sh        (boto3 comes from scripts/cloud-emulators.sh's venv,
#                                      cryptography is installed into it when missing)
# Env:   ROUNDS    rounds of table 2 (default 5)
#        BOTO_N    URLs boto3 signs (default 20000)
#        CRYPTO_N  signatures cryptography makes per measurement (default 4000)
# Exits 3 when boto3 or cryptography cannot be installed.
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
if ! "$VENV/bin/python" -c 'import cryptography' 2>/dev/null &&
    ! "$VENV/bin/pip" install -q cryptography; then
    echo "cryptography could not be installed into $VENV; nothing to compare with" >&2
    exit 3
fi
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c 0); fi
ROUNDS=${ROUNDS:-5}
N=${BOTO_N:-20000}
CN=${CRYPTO_N:-4000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LOG=$TMP/log

# bench pin|all FILTER [CRITERION-ARGS...]: runs the benches matching FILTER on CPU 0 or on
# every core; prints "NAME RATE" lines.
bench() {
    local pin=() filter=$2
    if [ "$1" = pin ]; then pin=("${PIN[@]}"); fi
    shift 2
    "${pin[@]}" cargo bench -q --features cloud --bench sign -- --noplot "$filter" "$@" >"$LOG" 2>&1 ||
        { cat "$LOG" >&2; exit 1; }
    # criterion: "GROUP/NAME  time: [...]" then "thrpt: [low UNIT mid UNIT high UNIT]"
    awk '
        /^sign(_all_cores)?\// { name = $1; sub(/^[^\/]*\//, "", name) }
        /thrpt:/ && name != "" {
            v = $4; u = $5
            if (u ~ /^K/) v *= 1000; else if (u ~ /^M/) v *= 1000000
            printf "%s %.0f\n", name, v; name = ""
        }' "$LOG"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# Prints "RATE VERSION OPENSSL-VERSION"; the message is what benches/sign.rs signs.
crypto_sign() {
    "${PIN[@]}" "$VENV/bin/python" - "$CN" tests/data/gcs-test-key.pem <<'PY'
import sys, time, cryptography
from cryptography.hazmat.backends.openssl.backend import backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
n = int(sys.argv[1])
key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
msg = (b"GOOG4-RSA-SHA256\n20240101T000000Z\n20240101/auto/storage/goog4_request\n"
       b"3b2d6a0c58e6b9ecb2a4f1e1c1f6ad8b0a4a3dbd5f2c0a9d1f5c44c54e0d7e22")
pad, sha = padding.PKCS1v15(), hashes.SHA256()  # made once, as google-auth does
for _ in range(200):  # warm-up
    key.sign(msg, pad, sha)
t = time.perf_counter()
for _ in range(n):
    key.sign(msg, pad, sha)
print(f"{n / (time.perf_counter() - t):.0f} {cryptography.__version__} {backend.openssl_version_text().replace(' ', '_')}")
PY
}

# Built first, so that the build does not load the machine while anything is measured.
cargo bench -q --features cloud --bench sign --no-run >"$LOG" 2>&1 || { cat "$LOG"; exit 1; }

boto=$("${PIN[@]}" "$VENV/bin/python" - "$N" <<'PY'
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
PY
)
echo "1. every signer, one core (one run)"
printf '   %-26s %12s\n' "signer" "per second" "boto3 (S3 SigV4)" "$boto"
bench pin '^sign/' --warm-up-time 1 --measurement-time 3 | while read -r name v; do
    printf '   %-26s %12s' "$name" "$v"
    if [ "$name" = s3_sigv4 ]; then awk -v v="$v" -v b="$boto" 'BEGIN { printf "   (%.1fx boto3)", v / b }'; fi
    echo
done

# Table 2: "ROUND NAME RATE" lines, cryptography's included.
for r in $(seq "$ROUNDS"); do
    read -r before version openssl <<<"$(crypto_sign)"
    bench pin '^sign/(gcs_v4_rsa2048|rsa2048_aws_lc|rsa2048_ring)$' \
        --warm-up-time 1 --measurement-time 2 | sed "s/^/$r /" >>"$TMP/rounds"
    read -r after _ <<<"$(crypto_sign)"
    echo "$r cryptography $(((before + after) / 2))" >>"$TMP/rounds"
done
echo
echo "2. RSA-2048 signers, one core: medians of $ROUNDS rounds (cryptography $version, ${openssl//_/ })"
printf '   %-26s %12s %14s %16s\n' "signer" "per second" "x cryptography" "ratio range"
for name in cryptography gcs_v4_rsa2048 rsa2048_aws_lc rsa2048_ring; do
    v=$(awk -v n="$name" '$2 == n { print $3 }' "$TMP/rounds" | median)
    ratios=$(awk -v n="$name" '$2 == "cryptography" { c[$1] = $3 } $2 == n { v[$1] = $3 }
        END { for (r in v) printf "%.3f\n", v[r] / c[r] }' "$TMP/rounds" | sort -g)
    printf '   %-26s %12.0f %14.2f %16s\n' "$name" "$v" "$(median <<<"$ratios")" \
        "$(head -1 <<<"$ratios")-$(tail -1 <<<"$ratios")"
done

echo
echo "3. a GCS ingest of 2,000 objects signed with the RSA key, all $(nproc) cores (one run)"
bench all '^sign_all_cores/' | while read -r name v; do
    printf '   %-26s %12s references/s\n' "$name" "$v"
done
