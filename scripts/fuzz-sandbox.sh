#!/usr/bin/env bash
# Fuzzes `rfbatch sandbox` with schemathesis, from the service's OpenAPI spec
# (scripts/openapi.json, a copy of the published spec): 60 s, a fixed seed, and the checks
# `not_a_server_error` (no 5xx, whatever is sent) and `response_schema_conformance` (every
# documented answer has the documented shape).
#
# Usage:  scripts/fuzz-sandbox.sh
# Env:    FUZZ_VENV   venv holding schemathesis (default: $HOME/.cache/roboflow-batch/venv-fuzz;
#                     created and filled on first use)
#         FUZZ_TIME   seconds of fuzzing (default 60)
#         FUZZ_SEED   the seed (default 20240601)
#         KEEP_TMP=1  keep the temporary directory (sandbox data, log, report)
# Exits 0 when schemathesis reports no failure, 1 when it does (or the sandbox dies), and
# 3 when schemathesis cannot be installed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${FUZZ_VENV:-$HOME/.cache/roboflow-batch/venv-fuzz}
VERSION=4.32.5
SPEC="$ROOT/scripts/openapi.json"
KEY=fuzz-key
WS=fuzz
TIME=${FUZZ_TIME:-60}
SEED=${FUZZ_SEED:-20240601}

# ---------------------------------------------------------------- schemathesis
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$VERSION')" 2>/dev/null; then
    echo "== installing schemathesis==$VERSION into $VENV"
    mkdir -p "$(dirname "$VENV")"
    # Exit 3 (not 1) when it cannot be installed, so CI can tell "no package registry"
    # from "the sandbox failed".
    python3 -m venv "$VENV" || { echo "cannot create a venv at $VENV"; exit 3; }
    "$VENV/bin/pip" install -q "schemathesis==$VERSION" || { echo "cannot install schemathesis==$VERSION"; exit 3; }
fi

# ---------------------------------------------------------------- the sandbox
echo "== building rfbatch"
cargo build -q --features cli --bin rfbatch
RFBATCH="$ROOT/target/debug/rfbatch"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rfbatch-fuzz.XXXXXX")
SANDBOX_PID=""
cleanup() {
    if [ -n "$SANDBOX_PID" ]; then
        kill "$SANDBOX_PID" 2>/dev/null || true
        wait "$SANDBOX_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
    return 0
}
trap cleanup EXIT

"$RFBATCH" sandbox --addr 127.0.0.1:0 --api-key "$KEY" --workspace "$WS" --data-dir "$TMP/data" \
    >"$TMP/sandbox.log" 2>&1 &
SANDBOX_PID=$!
BASE=""
for _ in $(seq 1 100); do
    BASE=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$TMP/sandbox.log" | head -n1 || true)
    [ -n "$BASE" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$BASE" ]; then
    echo "sandbox did not print its base URL:"; cat "$TMP/sandbox.log"; exit 1
fi
echo "== sandbox at $BASE (workspace $WS), tmp $TMP"

# Data for the fuzzer to find: a simple batch, a sharded batch, a video batch and a
# finished job (with its output batches), so that half of the generated ids hit real
# records and their answers are checked against the schemas too.
"$VENV/bin/python" - "$BASE" "$KEY" "$WS" <<'PY'
import json, struct, sys, time, urllib.request, zlib
base, key, ws = sys.argv[1:4]

def call(method, path, body=None, headers=None, url=None):
    url = url or f"{base}/{path}{'&' if '?' in path else '?'}api_key={key}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")

def png(w, h):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")

ds = f"data-staging/v1/external/{ws}/batches"
for i in range(3):
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + png(4 + i, 4) + b"\r\n--b--\r\n")
    call("POST", f"{ds}/fuzz-simple/upload/image?fileName=img-{i}.png", body,
         {"Content-Type": "multipart/form-data; boundary=b"})
import io, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    for i in range(3):
        data = png(8, 8 + i)
        info = tarfile.TarInfo(f"s-{i}.png"); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
d = call("POST", f"{ds}/fuzz-sharded/bulk-upload/image-files")["signedURLDetails"]
call("PUT", "", buf.getvalue(), dict(d["extensionHeaders"], **{"Content-Type": "application/x-tar"}), url=d["uploadURL"])
d = call("POST", f"{ds}/fuzz-videos/upload/video?fileName=clip.mp4")["signedURLDetails"]
call("PUT", "", b"\0\0\0\x18ftypmp42" + bytes(64), d["extensionHeaders"], url=d["uploadURL"])
for _ in range(100):
    if call("GET", f"{ds}/fuzz-sharded/count")["count"] == 3:
        break
    time.sleep(0.1)
job = {"type": "simple-image-processing-v1",
       "jobInput": {"type": "staging-batch-input-v1", "batchId": "fuzz-simple"},
       "computeConfiguration": {"type": "compute-configuration-v2", "machineType": "cpu"},
       "processingSpecification": {"type": "workflows-processing-specification-v1",
                                   "workspace": ws, "workflowId": "image-stats"}}
call("POST", f"batch-processing/v1/external/{ws}/jobs/fuzz-job", json.dumps(job).encode(),
     {"Content-Type": "application/json"})
for _ in range(200):
    if call("GET", f"batch-processing/v1/external/{ws}/jobs/fuzz-job")["job"]["isTerminal"]:
        break
    time.sleep(0.1)
print("seeded: batches fuzz-simple, fuzz-sharded, fuzz-videos; job fuzz-job")
PY

# The API key and workspace are fixed, so that requests get past authentication; half of
# the batch, job and stage ids are the seeded ones; every other parameter and body is
# generated.
cat >"$TMP/schemathesis.toml" <<TOML
[dictionaries.batches]
values = ["fuzz-simple", "fuzz-sharded", "fuzz-videos", "fuzz-job-processing", "fuzz-job-export"]
[dictionaries.jobs]
values = ["fuzz-job"]
[dictionaries.stages]
values = ["processing", "export"]

[parameters]
"query.api_key" = "$KEY"
"path.workspace" = "$WS"
"path.batch_id" = { dictionary = "batches", probability = 0.5 }
"path.job_id" = { dictionary = "jobs", probability = 0.5 }
"path.stage_id" = { dictionary = "stages", probability = 0.5 }
TOML

echo "== schemathesis $VERSION: ${TIME}s, seed $SEED"
status=0
# From the temporary directory: schemathesis keeps a cache in its working directory.
(cd "$TMP" && "$VENV/bin/schemathesis" --config-file "$TMP/schemathesis.toml" run "$SPEC" \
    --url "$BASE" \
    --checks not_a_server_error,response_schema_conformance \
    --max-time "$TIME" \
    --seed "$SEED" \
    --workers 2 \
    --request-timeout 30 \
    --suppress-health-check all \
    --report junit --report-dir "$TMP/report") || status=$?

if ! kill -0 "$SANDBOX_PID" 2>/dev/null; then
    echo "the sandbox died during fuzzing:"; tail -n 30 "$TMP/sandbox.log"; exit 1
fi
if [ "$status" != 0 ]; then
    # Tell findings about the sandbox (a failed check, or an error answering) from crashes
    # inside schemathesis or hypothesis themselves (seen: "AST constructor recursion depth
    # mismatch" in hypothesis's lambda sources on CPython 3.11), which say nothing about the
    # sandbox. The latter are shown as a warning; anything else fails.
    verdict=0
    "$VENV/bin/python" - "$TMP/report" <<'PY' || verdict=$?
import pathlib, sys, xml.etree.ElementTree as ET
findings, internal = [], []
for f in pathlib.Path(sys.argv[1]).glob("*.xml"):
    for case in ET.parse(f).getroot().iter("testcase"):
        for child in case:
            if child.tag not in ("failure", "error"):
                continue
            text = (child.get("message") or "") + "\n" + (child.text or "")
            # A "Runtime Error" with a traceback through hypothesis or schemathesis, and no
            # network error or timeout talking to the sandbox.
            tool_only = (child.tag == "error" and "Runtime Error" in text
                         and ("site-packages/hypothesis" in text or "site-packages/schemathesis" in text)
                         and not any(w in text for w in ("Network Error", "ConnectionError", "Timeout", "timed out")))
            (internal if tool_only else findings).append((case.get("name"), child.tag, text.strip()))
for name, tag, text in internal:
    print(f"warning: schemathesis crashed internally on {name} (not a finding about the sandbox):")
    for line in [l for l in text.splitlines() if l.strip()][:3]:
        print("  | " + line[:300])
for name, tag, text in findings:
    print(f"{tag}: {name}\n" + "\n".join("  | " + l for l in text.splitlines()[:40]))
sys.exit(1 if findings or not internal else 0)
PY
    if [ "$verdict" != 0 ]; then
        echo "schemathesis reported failures (exit $status); sandbox log (tail):"
        tail -n 30 "$TMP/sandbox.log" | sed 's/^/  | /'
        exit 1
    fi
    echo "fuzzing passed with the warnings above: no finding about the sandbox"
    exit 0
fi
echo "fuzzing passed: no server error, every answer conforms"
