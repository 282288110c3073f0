#!/usr/bin/env bash
# Side by side: the official Python client (inference-cli 1.8.3,
# `inference rf-cloud data-staging create-batch-of-images`) and this library
# (`examples/bench_ingest.rs ingest`), ingesting the same generated images into one
# `rfbatch sandbox` (in its benchmark store mode when it has one). Runs are interleaved
# (official, ours, official, ours, ...), each into a fresh batch, and each is verified
# afterwards: the batch count and the exact set of names. Prints every run and the medians
# of images/s and peak memory (the summed RSS of the client's whole process tree,
# sampled every 20 ms: the official client forks upload processes).
#
# Usage:  scripts/bench-vs-official.sh
# Env:    IMAGES=10000  SIZE_KIB=50-250  RUNS=3  PARALLEL=<library default>
#         ICLI_VENV     venv holding inference-cli (default ~/.cache/roboflow-batch/venv-icli;
#                       installed on first use, as scripts/official-client-compat.sh does)
#         KEEP_TMP=1    keep the temporary folder
# Exits 3 when the official client cannot be installed, 1 when a run fails verification.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
IMAGES=${IMAGES:-10000}
SIZE_KIB=${SIZE_KIB:-50-250}
RUNS=${RUNS:-3}
VENV=${ICLI_VENV:-$HOME/.cache/roboflow-batch/venv-icli}
KEY=bench-key
WS=bench

# ---------------------------------------------------------------- the official client
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("inference-cli") != "1.8.3")' 2>/dev/null; then
    echo "== installing inference-cli==1.8.3 into $VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" || { echo "cannot create a venv at $VENV"; exit 3; }
    "$VENV/bin/pip" install -q inference-cli==1.8.3 || { echo "cannot install inference-cli==1.8.3"; exit 3; }
fi
ICLI="$VENV/bin/inference"
PY=python3

# ---------------------------------------------------------------- builds
echo "== building rfbatch (sandbox) and the library's bench client, release"
cargo build -q --release --features cli --bin rfbatch
cargo build -q --release --features sandbox --example bench_ingest
RFBATCH="$ROOT/target/release/rfbatch"
OURS="$ROOT/target/release/examples/bench_ingest"

SCRATCH=/dev/shm
[ -d "$SCRATCH" ] || SCRATCH=${TMPDIR:-/tmp}
TMP=$(mktemp -d "$SCRATCH/rfbatch-vs-official.XXXXXX")
SANDBOX_PID=""
cleanup() {
    if [ -n "$SANDBOX_PID" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- dataset and sandbox
echo "== generating $IMAGES images of $SIZE_KIB KiB into $TMP/images"
"$OURS" generate "$TMP/images" --images "$IMAGES" --size-kib "$SIZE_KIB"
cat "$TMP"/images/* >/dev/null # into the page cache for both clients

SANDBOX_ARGS=(sandbox --addr 127.0.0.1:0 --api-key "$KEY" --workspace "$WS" --data-dir "$TMP/data"
    --threads 16 --indexing-delay-ms 50)
if "$RFBATCH" sandbox --help 2>/dev/null | grep -q -- '--store'; then
    SANDBOX_ARGS+=(--store discard)
    STORE="discard (tar headers indexed, bytes dropped)"
else
    STORE="files on $SCRATCH (this sandbox has no --store discard yet)"
fi
"$RFBATCH" "${SANDBOX_ARGS[@]}" >"$TMP/sandbox.log" 2>&1 &
SANDBOX_PID=$!
BASE=""
for _ in $(seq 1 100); do
    BASE=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$TMP/sandbox.log" | head -n1 || true)
    [ -n "$BASE" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || break
    sleep 0.1
done
[ -n "$BASE" ] || { echo "the sandbox did not start:"; cat "$TMP/sandbox.log"; exit 1; }
echo "== sandbox at $BASE, store: $STORE"
export API_BASE_URL="$BASE" ROBOFLOW_API_KEY="$KEY" COLUMNS=200 NO_COLOR=1 TERM=dumb

# ---------------------------------------------------------------- one measured run
# measure NAME BATCH CMD...: runs CMD, samples the summed RSS of its process tree, waits
# for the batch to be indexed, checks count and names, appends a JSON line to results.
measure() {
    local name=$1 batch=$2
    shift 2
    "$PY" - "$name" "$batch" "$TMP/images" "$TMP/results.jsonl" "$TMP/$batch.log" "$@" <<'PYEOF'
import json, os, sys, time, subprocess, urllib.request, urllib.parse

name, batch, images, results, log = sys.argv[1:6]
cmd = sys.argv[6:]
base, key, ws = os.environ["API_BASE_URL"], os.environ["ROBOFLOW_API_KEY"], "bench"

def tree_rss_kib(root):
    """Summed VmRSS of root and all its descendants."""
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(pid))
        except (OSError, ValueError, IndexError):
            pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total

with open(log, "w") as out:
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        time.sleep(0.02)
    secs = time.monotonic() - start
if p.returncode != 0:
    sys.exit(f"{name} failed (exit {p.returncode}); see {log}")
# A single-process client that reports its own VmHWM (ours) is measured exactly; sampling
# can miss a short peak.
try:
    last = open(log).read().strip().splitlines()[-1]
    peak = max(peak, int(json.loads(last).get("peakRssMiB", 0) * 1024))
except (IndexError, ValueError, AttributeError):
    pass

def get(path, **q):
    q["api_key"] = key
    url = f"{base}/data-staging/v1/external/{ws}/batches/{batch}{path}?" + urllib.parse.urlencode(q)
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)

want = sorted(f for f in os.listdir(images) if not f.startswith("."))  # not the official .import_log
deadline = time.monotonic() + 600
while get("/count")["count"] < len(want) and time.monotonic() < deadline:
    time.sleep(0.2)
names, token = [], None
while True:
    page = get("/list", **({"nextPageToken": token} if token else {}))
    names += [f["fileName"] for f in page["filesMetadata"]]
    token = page.get("nextPageToken")
    if not token:
        break
ok = sorted(names) == want
rec = {"client": name, "batch": batch, "images": len(want), "seconds": round(secs, 3),
       "imagesPerSec": round(len(want) / secs, 1), "peakRssMiB": round(peak / 1024, 1),
       "verified": ok, "listed": len(names), "unique": len(set(names))}
with open(results, "a") as f:
    f.write(json.dumps(rec) + "\n")
print(f"  {name:<9} {batch:<12} {secs:8.2f} s {rec['imagesPerSec']:9.1f} images/s "
      f"{rec['peakRssMiB']:8.1f} MiB  verified={ok} ({len(set(names))} unique of {len(names)} listed)")
if not ok:
    sys.exit(f"{name}: the batch does not hold exactly the {len(want)} images; see {log}")
PYEOF
}

OURS_ARGS=()
[ -n "${PARALLEL:-}" ] && OURS_ARGS+=(--parallel "$PARALLEL")
echo "== $RUNS interleaved runs each"
for i in $(seq 1 "$RUNS"); do
    measure official "official-$i" "$ICLI" rf-cloud data-staging create-batch-of-images \
        --images-dir "$TMP/images" --batch-id "official-$i"
    # The official client writes its resume log into the image folder; a stale one would
    # make the next run skip everything.
    rm -f "$TMP"/images/.import_log-*
    measure library "library-$i" "$OURS" ingest "$TMP/images" --batch "library-$i" "${OURS_ARGS[@]}"
done

"$PY" - "$TMP/results.jsonl" "$IMAGES" "$SIZE_KIB" "$STORE" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda c, k: statistics.median(r[k] for r in rows if r["client"] == c)
o_ips, l_ips = med("official", "imagesPerSec"), med("library", "imagesPerSec")
o_rss, l_rss = med("official", "peakRssMiB"), med("library", "peakRssMiB")
print(f"== medians of {sum(r['client'] == 'library' for r in rows)} runs, {sys.argv[2]} images of {sys.argv[3]} KiB, store {sys.argv[4]}")
print(f"  official  {o_ips:9.1f} images/s  {o_rss:8.1f} MiB peak")
print(f"  library   {l_ips:9.1f} images/s  {l_rss:8.1f} MiB peak")
print(f"  library/official: {l_ips / o_ips:.1f}x images/s, {l_rss / o_rss:.2f}x memory")
PYEOF
