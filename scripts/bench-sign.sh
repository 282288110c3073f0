#!/usr/bin/env bash
# Signed GET URLs per second on one core: this crate's signers (benches/sign.rs, criterion)
# beside boto3's generate_presigned_url (SigV4, what the official client's S3 path ends
# in) and Python cryptography's RSA-2048 PKCS#1 v1.5 SHA-256 signing (OpenSSL: what
# Google's Python libraries, and so the official client's GCS path, sign with), all
# pinned to CPU 0 and signing with the same fixed test key (tests/data/gcs-test-key.pem).
# Prints one line per signer and the ratios. cryptography is measured just before and just
# after the crate's benches, and the ratios use the mean of the two, so that a change in the
# machine's load during the run weighs on both sides alike.
#
# Usage: scripts/bench-sign.sh        (boto3 comes from scripts/cloud-emulators.sh's venv,
#                                      cryptography is installed into it when missing)
# Env:   BOTO_N    URLs boto3 signs (default 20000)
#        CRYPTO_N  signatures cryptography makes (default 10000)
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
N=${BOTO_N:-20000}
CN=${CRYPTO_N:-10000}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
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
for _ in range(200):  # warm-up
    key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
t = time.perf_counter()
for _ in range(n):
    key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
print(f"{n / (time.perf_counter() - t):.0f} {cryptography.__version__} {backend.openssl_version_text().replace(' ', '_')}")
PY
}

read -r crypto_before crypto_version openssl_version <<<"$(crypto_sign)"
"${PIN[@]}" cargo bench -q --features cloud --bench sign -- --noplot >"$LOG" 2>&1 || { cat "$LOG"; exit 1; }
read -r crypto_after _ <<<"$(crypto_sign)"
crypto_rate=$(( (crypto_before + crypto_after) / 2 ))

printf '%-26s %14s\n' "signer (one core)" "per second"
printf '%-26s %14s\n' "boto3 (S3 SigV4)" "$boto"
printf '%-26s %14s   (%s before, %s after; cryptography %s, %s)\n' "cryptography RSA-2048" \
    "$crypto_rate" "$crypto_before" "$crypto_after" "$crypto_version" "${openssl_version//_/ }"
# criterion: "sign/NAME  time: [...]" then "thrpt: [low UNIT mid UNIT high UNIT]"
awk -v boto="$boto" -v crypto="$crypto_rate" '
    /^sign\// { name = $1; sub("sign/", "", name) }
    /thrpt:/ && name != "" {
        v = $4; u = $5
        if (u ~ /^K/) v *= 1000; else if (u ~ /^M/) v *= 1000000
        printf "%-26s %14.0f", name, v
        if (name == "s3_sigv4") printf "   (%.1fx boto3)", v / boto
        if (name ~ /rsa2048/) printf "   (%.2fx cryptography)", v / crypto
        printf "\n"; name = ""
    }' "$LOG"
grep SKIPPED "$LOG" || true
