#!/usr/bin/env bash
# Side by side: the official Python client (inference-cli 1.8.3, `inference rf-cloud
# data-staging ...`) and this project (`rfbatch`), against one `rfbatch sandbox`, optionally
# as far away as a real service (LATENCY_MS: every answer delayed, signed uploads and
# downloads included; the sandbox pages file listings 50 at a time unless asked for more).
# Runs are interleaved (official, ours, official, ours, ...), each into a fresh batch or
# folder, and each is checked afterwards. Prints every run, then medians with min-max.
#
# Benchmarks (BENCH, space- or comma-separated, or `all`):
#   ingest  the same IMAGES generated images: `create-batch-of-images` (which does not
#           verify) against `rfbatch upload images` (which verifies: its time includes the
#           wait for indexing; verification after the uploads and the requests, by kind, come
#           from its --json report). Sandbox in its discard store. After each run the batch
#           is checked: count and the exact set of names. Peak memory is the summed RSS of
#           the client's process tree, sampled every 20 ms (the official client forks upload
#           processes). OURS=lib measures the library's bench client (`bench_ingest ingest`,
#           no verification) instead, as this script did before.
#   export  the output batch of one job over EXPORT_FILES images (one archive per image, so
#           EXPORT_FILES files): `export-batch` against `rfbatch batch export`; both unpack
#           the archives; each run's folder is checked for EXPORT_FILES unpacked files.
#   run     `rfbatch run` end to end on RUN_IMAGES images (ingest and verify, the job
#           `image-stats`, wait, download), its time and requests by phase from --json. The
#           official client has no such command; ours alone.
#
# Usage:  scripts/bench-vs-official.sh
#         LATENCY_MS=40 BENCH=all RUNS=3 scripts/bench-vs-official.sh
# Env:    BENCH=ingest  LATENCY_MS=0  IMAGES=10000  SIZE_KIB=50-250  RUNS=3
#         PARALLEL=<default>  parallel uploads of ours (ingest)
#         OURS=upload   or `lib` (ingest only, see above)
#         EXPORT_FILES=2000  RUN_IMAGES=2000 (taken from the IMAGES generated ones)
#         JOB_SPEED=1000  images per second of the sandbox's jobs (export setup and run)
#         ICLI_VENV     venv holding inference-cli (default ~/.cache/roboflow-batch/venv-icli;
#                       installed on first use, as scripts/official-client-compat.sh does)
#         KEEP_TMP=1    keep the temporary folder
# Exits 3 when the official client cannot be installed, 1 when a run fails its check.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH=${BENCH:-ingest}
[ "$BENCH" = all ] && BENCH="ingest export run"
BENCH=${BENCH//,/ }
for b in $BENCH; do
    case $b in ingest | export | run) ;; *) echo "unknown benchmark $b (BENCH: ingest export run, or all)"; exit 2 ;; esac
done
LATENCY_MS=${LATENCY_MS:-0}
IMAGES=${IMAGES:-10000}
SIZE_KIB=${SIZE_KIB:-50-250}
RUNS=${RUNS:-3}
OURS_KIND=${OURS:-upload}
EXPORT_FILES=${EXPORT_FILES:-2000}
RUN_IMAGES=${RUN_IMAGES:-2000}
JOB_SPEED=${JOB_SPEED:-1000}
VENV=${ICLI_VENV:-$HOME/.cache/roboflow-batch/venv-icli}
KEY=bench-key
WS=bench
has() { case " $BENCH " in *" $1 "*) return 0 ;; *) return 1 ;; esac }

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
echo "== building rfbatch and the library's bench client, release"
cargo build -q --release --features cli --bin rfbatch
cargo build -q --release --features sandbox --example bench_ingest
RFBATCH="$ROOT/target/release/rfbatch"
BENCH_INGEST="$ROOT/target/release/examples/bench_ingest"
if [ "$LATENCY_MS" != 0 ] && ! "$RFBATCH" sandbox --help | grep -q -- '--latency-ms'; then
    echo "this sandbox has no --latency-ms"
    exit 2
fi

SCRATCH=/dev/shm
[ -d "$SCRATCH" ] || SCRATCH=${TMPDIR:-/tmp}
TMP=$(mktemp -d "$SCRATCH/rfbatch-vs-official.XXXXXX")
SANDBOX_PIDS=()
stop_sandboxes() {
    local pid
    for pid in "${SANDBOX_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SANDBOX_PIDS=()
}
cleanup() {
    stop_sandboxes
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- dataset
echo "== generating $IMAGES images of $SIZE_KIB KiB into $TMP/images"
"$BENCH_INGEST" generate "$TMP/images" --images "$IMAGES" --size-kib "$SIZE_KIB"
cat "$TMP"/images/* >/dev/null # into the page cache for both clients
# subset N: a folder of the first N images (hard links)
subset() {
    local dir="$TMP/images-$1"
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir"
        find "$TMP/images" -maxdepth 1 -type f ! -name '.*' -printf '%f\n' | sort | head -n "$1" |
            while read -r f; do ln "$TMP/images/$f" "$dir/$f"; done
    fi
    echo "$dir"
}

# ---------------------------------------------------------------- sandboxes
# start_sandbox NAME ARGS...: starts a sandbox; sets BASE and points both clients at it.
start_sandbox() {
    local name=$1
    shift
    local args=(sandbox --addr 127.0.0.1:0 --api-key "$KEY" --workspace "$WS" --data-dir "$TMP/data-$name"
        --threads 16 --indexing-delay-ms 50 --latency-ms "$LATENCY_MS" "$@")
    "$RFBATCH" "${args[@]}" >"$TMP/sandbox-$name.log" 2>&1 &
    SANDBOX_PIDS+=($!)
    BASE=""
    for _ in $(seq 1 100); do
        BASE=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$TMP/sandbox-$name.log" | head -n1 || true)
        [ -n "$BASE" ] && break
        kill -0 "${SANDBOX_PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$BASE" ] || { echo "the sandbox did not start:"; cat "$TMP/sandbox-$name.log"; exit 1; }
    echo "== sandbox $name at $BASE, ${LATENCY_MS} ms per answer, ${*:-default options}; load:$(uptime | sed 's/.*load average://')"
    export API_BASE_URL="$BASE" ROBOFLOW_API_KEY="$KEY" COLUMNS=200 NO_COLOR=1 TERM=dumb
}

# ---------------------------------------------------------------- one measured run
# measure KIND CLIENT LABEL TARGET EXPECT CMD...: runs CMD (stdout to $TMP/LABEL.out, stderr
# to .err), samples the summed RSS of its process tree, checks the result (ingest: TARGET is
# the batch, EXPECT the image folder; export and run: TARGET is the output folder, EXPECT
# the number of files it must hold), appends a JSON line to results.jsonl.
cat >"$TMP/measure.py" <<'PYEOF'
import json, os, sys, time, subprocess, urllib.request, urllib.parse

kind, client, label, target, expect, results, out = sys.argv[1:8]
cmd = sys.argv[8:]
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

with open(out, "w") as o, open(out + ".err", "w") as e:
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=o, stderr=e)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        time.sleep(0.02)
    secs = time.monotonic() - start
if p.returncode != 0:
    sys.exit(f"{client} failed (exit {p.returncode}); see {out} and {out}.err")

# Ours prints one JSON document (rfbatch --json) or a JSON line (bench_ingest).
report = {}
text = open(out).read().strip()
for candidate in (text, (text.splitlines() or [""])[-1]):
    try:
        report = json.loads(candidate)
        break
    except ValueError:
        pass
if not isinstance(report, dict):
    report = {}
# A single-process client that reports its own VmHWM (bench_ingest) is measured exactly.
peak = max(peak, int(float(report.get("peakRssMiB", 0)) * 1024))

def get(batch, path, **q):
    q["api_key"] = key
    url = f"{base}/data-staging/v1/external/{ws}/batches/{batch}{path}?" + urllib.parse.urlencode(q)
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)

def ORDER(phases):
    """Phase names in the order they run."""
    known = [k for k in ("ingest", "job", "export") if k in phases]
    return known + sorted(k for k in phases if k not in known)

def files_under(d):
    """Regular files under d, dot files and dot folders left out."""
    n = 0
    for root, dirs, names in os.walk(d):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        n += sum(1 for x in names if not x.startswith("."))
    return n

rec = {"bench": kind, "client": client, "label": label, "seconds": round(secs, 3),
       "peakRssMiB": round(peak / 1024, 1)}
req = report.get("requests")
if isinstance(req, dict):
    rec["requests"] = sum(req.values())
    rec["requestsByKind"] = req
if kind == "ingest":
    want = sorted(f for f in os.listdir(expect) if not f.startswith("."))  # not the official .import_log
    deadline = time.monotonic() + 600
    while get(target, "/count")["count"] < len(want) and time.monotonic() < deadline:
        time.sleep(0.2)
    names, token = [], None
    while True:
        q = {"pageSize": 1000}
        if token:
            q["nextPageToken"] = token
        page = get(target, "/list", **q)
        names += [f["fileName"] for f in page["filesMetadata"]]
        token = page.get("nextPageToken")
        if not token:
            break
    ok = sorted(names) == want
    rec.update(files=len(want), perSec=round(len(want) / secs, 1), verified=ok)
    v = report.get("verification") or {}
    if v:
        rec["uploadSecs"] = report.get("uploadSecs")
        rec["verifySecs"] = v.get("waitedSecs")
        rec["verifyComplete"] = v.get("complete")
    extra = (f"upload {rec['uploadSecs']:.2f} s, verification after it {rec['verifySecs']:.2f} s "
             f"({100 * rec['verifySecs'] / secs:.1f}%)" if v else "")
    check = f"checked={ok} ({len(set(names))} unique of {len(names)} listed)"
else:
    n = files_under(target)
    want = int(expect)
    ok = n == want if kind == "export" else n >= want
    rec.update(files=want, perSec=round(want / secs, 1), verified=ok, filesOnDisk=n)
    phases = report.get("phaseSecs")
    if phases:
        rec["phaseSecs"] = {k: round(v, 2) for k, v in phases.items()}
        rec["phaseRequests"] = report.get("phaseRequests")
    extra = ", ".join(f"{k} {phases[k]:.2f} s / {rec['phaseRequests'].get(k)} req" for k in ORDER(phases)) if phases else ""
    check = f"checked={ok} ({n} files on disk)"
with open(results, "a") as f:
    f.write(json.dumps(rec) + "\n")
reqs = f"{rec['requests']:6} req" if "requests" in rec else "     - req"
print(f"  {kind:<6} {client:<8} {label:<14} {secs:8.2f} s {rec['perSec']:9.1f} files/s "
      f"{rec['peakRssMiB']:8.1f} MiB {reqs}  {check}" + (f"\n{'':33}{extra}" if extra else ""))
if not ok:
    sys.exit(f"{client}: the check failed; see {out}")
PYEOF
measure() { "$PY" "$TMP/measure.py" "$1" "$2" "$3" "$4" "$5" "$TMP/results.jsonl" "$TMP/$3.out" "${@:6}"; }
rm_official_log() { rm -f "$1"/.import_log-*; } # the official client's resume log: a stale one skips everything

# ---------------------------------------------------------------- ingest
if has ingest; then
    start_sandbox ingest --store discard
    OURS_ARGS=()
    [ -n "${PARALLEL:-}" ] && OURS_ARGS+=(--parallel "$PARALLEL")
    echo "== ingest: $IMAGES images, $RUNS interleaved runs each, ours: ${OURS_KIND}"
    for i in $(seq 1 "$RUNS"); do
        measure ingest official "official-$i" "official-$i" "$TMP/images" \
            "$ICLI" rf-cloud data-staging create-batch-of-images --images-dir "$TMP/images" --batch-id "official-$i"
        rm_official_log "$TMP/images"
        if [ "$OURS_KIND" = lib ]; then
            measure ingest library "library-$i" "library-$i" "$TMP/images" \
                "$BENCH_INGEST" ingest "$TMP/images" --batch "library-$i" "${OURS_ARGS[@]}"
        else
            measure ingest rfbatch "rfbatch-$i" "rfbatch-$i" "$TMP/images" \
                "$RFBATCH" upload images "$TMP/images" --batch "rfbatch-$i" --json \
                --journal-dir "$TMP/journal" "${OURS_ARGS[@]}"
        fi
    done
    stop_sandboxes
fi

# ---------------------------------------------------------------- export
if has export; then
    # One archive per image: a job over EXPORT_FILES images leaves EXPORT_FILES files.
    start_sandbox export --job-speed "$JOB_SPEED" --job-images-per-task 1
    src=$(subset "$EXPORT_FILES")
    echo "== export: setting up the output batch (rfbatch run over $EXPORT_FILES images, not timed)"
    "$RFBATCH" run "$src" --batch export-src --workflow image-stats --out "$TMP/export-setup" \
        --json >"$TMP/export-setup.json" 2>"$TMP/export-setup.err" ||
        { echo "the setup run failed:"; tail -n 20 "$TMP/export-setup.err"; exit 1; }
    OUT_BATCH=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobId"] + "-export")' "$TMP/export-setup.json")
    rm -rf "$TMP/export-setup"
    echo "== export: batch $OUT_BATCH, $EXPORT_FILES archives, $RUNS interleaved runs each"
    for i in $(seq 1 "$RUNS"); do
        measure export official "export-off-$i" "$TMP/export-off-$i" "$EXPORT_FILES" \
            "$ICLI" rf-cloud data-staging export-batch -b "$OUT_BATCH" -t "$TMP/export-off-$i"
        rm -rf "$TMP/export-off-$i"
        measure export rfbatch "export-rf-$i" "$TMP/export-rf-$i" "$EXPORT_FILES" \
            "$RFBATCH" batch export "$OUT_BATCH" --out "$TMP/export-rf-$i" --json
        rm -rf "$TMP/export-rf-$i"
    done
    stop_sandboxes
fi

# ---------------------------------------------------------------- run
if has run; then
    start_sandbox run --job-speed "$JOB_SPEED"
    src=$(subset "$RUN_IMAGES")
    echo "== run: rfbatch run over $RUN_IMAGES images (workflow image-stats), $RUNS runs"
    for i in $(seq 1 "$RUNS"); do
        measure run rfbatch "run-$i" "$TMP/run-$i" "$RUN_IMAGES" \
            "$RFBATCH" run "$src" --batch "run-$i" --workflow image-stats --out "$TMP/run-$i" \
            --journal-dir "$TMP/journal" --json
        rm -rf "$TMP/run-$i"
    done
    stop_sandboxes
fi

# ---------------------------------------------------------------- medians
echo "== load at the end:$(uptime | sed 's/.*load average://')"
"$PY" - "$TMP/results.jsonl" "$LATENCY_MS" "$IMAGES" "$SIZE_KIB" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"== medians (min-max) at {sys.argv[2]} ms per answer; {sys.argv[3]} images of {sys.argv[4]} KiB generated")
def span(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}-{fmt.format(max(vals))})"
for bench in ("ingest", "export", "run"):
    sel = [r for r in rows if r["bench"] == bench]
    if not sel:
        continue
    meds = {}
    for client in dict.fromkeys(r["client"] for r in sel):
        rs = [r for r in sel if r["client"] == client]
        meds[client] = statistics.median(r["perSec"] for r in rs)
        line = (f"  {bench:<6} {client:<8} {len(rs)} runs  {span([r['perSec'] for r in rs], '{:.1f}')} files/s  "
                f"{span([r['seconds'] for r in rs], '{:.2f}')} s  {span([r['peakRssMiB'] for r in rs], '{:.1f}')} MiB")
        if any("requests" in r for r in rs):
            line += f"  {span([r.get('requests') for r in rs], '{:.0f}')} requests"
        if any(r.get("verifySecs") is not None for r in rs):
            share = [100 * r["verifySecs"] / r["seconds"] for r in rs]
            line += (f"\n{'':17}verification after the uploads {span([r['verifySecs'] for r in rs], '{:.2f}')} s"
                     f" = {span(share, '{:.1f}')}% of the wall time")
        if any("phaseSecs" in r for r in rs):
            for phase in [k for k in ("ingest", "job", "export") if k in rs[0]["phaseSecs"]]:
                line += (f"\n{'':17}{phase:<7} {span([r['phaseSecs'][phase] for r in rs], '{:.2f}')} s"
                         f"  {span([r['phaseRequests'][phase] for r in rs], '{:.0f}')} requests")
        print(line)
    others = [c for c in meds if c != "official"]
    if "official" in meds and others:
        print(f"  {bench:<6} {others[0]}/official: {meds[others[0]] / meds['official']:.1f}x files/s")
PYEOF
