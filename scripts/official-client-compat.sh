#!/usr/bin/env bash
# Proves that the official Python client (inference-cli 1.8.3) runs unmodified against
# `rfbatch sandbox`: every `inference rf-cloud data-staging` and `rf-cloud batch-processing`
# command on images and videos, each checked for exit code 0 and for a meaningful piece of
# its output (ids, counts, files on disk).
#
# Usage:  scripts/official-client-compat.sh
# Env:    ICLI_VENV   venv holding inference-cli (default: <repo>/.venv-icli, git-ignored;
#                     created and filled on first use: ~30 s, ~760 MB)
#         KEEP_TMP=1  keep the temporary directory (media, sandbox data, outputs, logs)
#         VERBOSE=1   print every command's output, not only the failing ones
#         RFBATCH_SANDBOX_VARY=SEED  vary the sandbox's answers (rfbatch sandbox --vary SEED)
# Ends with "N passed, M failed"; exits 1 if anything failed, 3 if the client could not be
# installed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${ICLI_VENV:-$ROOT/.venv-icli}
HELPER="$ROOT/scripts/official_client_compat.py"
KEY=compat-key
WS=compat
# Images of the sharded batch: > 256, so that the client cuts two tar shards, and enough
# that a job runs for a few seconds (the sandbox processes 100 images/s per stage), long
# enough for `abort-job` to catch it running.
BIG_N=300
START=$(date +%s)

# ---------------------------------------------------------------- the official client
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("inference-cli") != "1.8.3")' 2>/dev/null; then
    echo "== installing inference-cli==1.8.3 into $VENV"
    # Exit 3 (not 1) when the client cannot be installed, so CI can tell "no package
    # registry" from "the sandbox is incompatible".
    python3 -m venv "$VENV" || { echo "cannot create a venv at $VENV"; exit 3; }
    "$VENV/bin/pip" install -q inference-cli==1.8.3 || { echo "cannot install inference-cli==1.8.3"; exit 3; }
fi
PY="$VENV/bin/python"
ICLI="$VENV/bin/inference"

# ---------------------------------------------------------------- the sandbox
echo "== building rfbatch"
cargo build -q --features cli --bin rfbatch
RFBATCH="$ROOT/target/debug/rfbatch"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rfbatch-compat.XXXXXX")
SANDBOX_PID=""
RECEIVER_PID=""
FILES_PID=""
cleanup() {
    local pid
    for pid in $SANDBOX_PID $RECEIVER_PID $FILES_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
    return 0
}
trap cleanup EXIT

# A webhook receiver, for the ingest and job notifications the sandbox sends.
HOOKS="$TMP/webhooks.jsonl"
: >"$HOOKS"
"$PY" "$HELPER" receiver "$TMP/receiver.port" "$HOOKS" &
RECEIVER_PID=$!

# Job speed, if the sandbox CLI lets us set it: slow enough that `abort-job` catches a
# running job (one CLI call takes ~2 s), fast enough for a short run.
SANDBOX_ARGS=(sandbox --addr 127.0.0.1:0 --api-key "$KEY" --workspace "$WS" --data-dir "$TMP/data")
if "$RFBATCH" sandbox --help 2>/dev/null | grep -q -- '--job-speed'; then
    SANDBOX_ARGS+=(--job-speed 100)
fi
# RFBATCH_SANDBOX_VARY=SEED: the sandbox answers within what the service may, but unlike its
# defaults (rfbatch sandbox --vary).
if [ -n "${RFBATCH_SANDBOX_VARY:-}" ]; then
    SANDBOX_ARGS+=(--vary "$RFBATCH_SANDBOX_VARY")
fi
"$RFBATCH" "${SANDBOX_ARGS[@]}" >"$TMP/sandbox.log" 2>&1 &
SANDBOX_PID=$!
BASE=""
for _ in $(seq 1 100); do
    BASE=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$TMP/sandbox.log" | head -n1 || true)
    [ -n "$BASE" ] && [ -s "$TMP/receiver.port" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$BASE" ]; then
    echo "sandbox did not print its base URL:"; cat "$TMP/sandbox.log"; exit 1
fi
HOOK_URL="http://127.0.0.1:$(cat "$TMP/receiver.port")/hook"
echo "== sandbox at $BASE (workspace $WS), webhooks to $HOOK_URL, tmp $TMP${RFBATCH_SANDBOX_VARY:+, answers varied with seed $RFBATCH_SANDBOX_VARY}"

# ---------------------------------------------------------------- test media
MEDIA="$TMP/media"
"$PY" "$HELPER" gen-media "$MEDIA" "$BIG_N"
# A static file server over the media: the "bucket" that references point at.
"$PY" "$HELPER" serve "$MEDIA" "$TMP/files.port" &
FILES_PID=$!
for _ in $(seq 1 100); do
    [ -s "$TMP/files.port" ] && break
    sleep 0.1
done
FILES_URL="http://127.0.0.1:$(cat "$TMP/files.port")"
OUT="$TMP/out"
mkdir -p "$OUT"

# ---------------------------------------------------------------- test harness
export API_BASE_URL="$BASE" ROBOFLOW_API_KEY="$KEY" COLUMNS=250 NO_COLOR=1 TERM=dumb
PASSED=0
FAILED=0
FAILED_NAMES=()
CUR=""
CUR_REASONS=()
CUR_LOG=""
LAST=""
N=0

begin() {
    CUR=$1
    CUR_REASONS=()
    N=$((N + 1))
    CUR_LOG="$OUT/test-$N.log"
    : >"$CUR_LOG"
}
# run CMD...: runs a command, logs it and its output; a non-zero exit fails the test.
run() {
    LAST="$CUR_LOG.last"
    local rc=0
    "$@" >"$LAST" 2>&1 || rc=$?
    { echo "\$ $*"; cat "$LAST"; echo "[exit $rc]"; } >>"$CUR_LOG"
    if [ "$rc" != 0 ]; then CUR_REASONS+=("exit $rc: $*"); fi
    return 0
}
icli() { run "$ICLI" rf-cloud "$@"; }
# expect_out REGEX: the last command's output matches (grep -E).
expect_out() {
    grep -Eq -- "$1" "$LAST" || CUR_REASONS+=("output lacks /$1/")
}
# expect DESC CMD...: a predicate holds.
expect() {
    local desc=$1
    shift
    local res rc=0
    res=$("$@" 2>&1) || rc=$?
    echo "check [$desc] -> rc $rc ${res:0:300}" >>"$CUR_LOG"
    [ "$rc" = 0 ] || CUR_REASONS+=("$desc")
}
# expect_eq DESC EXPECTED CMD...: the predicate's output equals EXPECTED.
expect_eq() {
    local desc=$1 want=$2
    shift 2
    local got
    got=$("$@" 2>&1) || true
    echo "check [$desc] want '$want' got '${got:0:300}'" >>"$CUR_LOG"
    [ "$got" = "$want" ] || CUR_REASONS+=("$desc: want '$want', got '${got:0:200}'")
}
end_test() {
    if [ ${#CUR_REASONS[@]} = 0 ]; then
        PASSED=$((PASSED + 1))
        echo "PASS  $CUR"
        [ "${VERBOSE:-0}" = 1 ] && sed 's/^/      /' "$CUR_LOG"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$CUR")
        echo "FAIL  $CUR"
        printf '      - %s\n' "${CUR_REASONS[@]}"
        sed 's/^/      | /' "$CUR_LOG" | head -n 120
    fi
    return 0
}
jsonl() { "$PY" "$HELPER" jsonl "$@"; }
api() { "$PY" "$HELPER" get "$BASE" "$KEY" "$1"; }
apiq() { # apiq PATH EXPR: GET and eval EXPR on the JSON body `r`
    "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$(api "$1")" "$2"
}
wait_job() { "$PY" "$HELPER" wait-job "$BASE" "$KEY" "$WS" "$1" "${2:-60}"; }
hooks() { # hooks EXPR: eval EXPR over the received webhooks `rows` (waits up to 10 s for a truthy answer)
    local got=""
    for _ in $(seq 1 50); do
        got=$(jsonl "$HOOKS" "$1" 2>&1 || true)
        case "$got" in True | [1-9]*) echo "$got"; return 0 ;; esac
        sleep 0.2
    done
    echo "$got"
    return 1
}
same_files() { # same_files DIR_A DIR_B: same names (top level) and identical bytes
    local a=$1 b=$2 f
    [ "$(ls "$a" | sort)" = "$(ls "$b" | grep -v '^\.' | sort)" ] || { echo "names differ"; return 1; }
    for f in "$a"/*; do cmp -s "$f" "$b/$(basename "$f")" || { echo "differs: $f"; return 1; }; done
}

DS=(data-staging)
BP=(batch-processing)

# ================================================================ data staging: uploads
begin "create-batch-of-images: simple path (5 images, multipart POST each)"
icli "${DS[@]}" create-batch-of-images -b compat-small --images-dir "$MEDIA/small" --batch-name "Small Batch"
# (A count may come as a whole-number float, 5.0, from a varied sandbox; the client prints it as is.)
expect_eq "count of compat-small" 5 apiq "data-staging/v1/external/$WS/batches/compat-small/count" 'int(r["count"])'
expect_eq "batchType" simple-batch apiq "data-staging/v1/external/$WS/batches/compat-small" 'r["batch"]["batchType"]'
end_test

begin "create-batch-of-images: sharded path ($BIG_N images, 2 shards, tar shard PUT, notifications + ingest id)"
icli "${DS[@]}" create-batch-of-images -b compat-big --images-dir "$MEDIA/big" \
    --notifications-url "$HOOK_URL" --ingest-id compat-ingest --batch-name "Big Batch"
expect_out "Uploading images shards .*2/2"
expect "count reaches $BIG_N (background indexing)" "$PY" "$HELPER" wait-count "$BASE" "$KEY" "$WS" compat-big "$BIG_N" 30
expect_eq "batchType" sharded-batch apiq "data-staging/v1/external/$WS/batches/compat-big" 'r["batch"]["batchType"]'
expect "ingest webhook from notification_config.json (ingest_id compat-ingest)" \
    hooks 'any(r["body"].get("ingest_id") == "compat-ingest" and r["body"].get("batch_id") == "compat-big" for r in rows)'
end_test

begin "create-batch-of-videos (2 mp4, signed URL PUT each)"
icli "${DS[@]}" create-batch-of-videos -b compat-videos --videos-dir "$MEDIA/videos"
expect "count reaches 2" "$PY" "$HELPER" wait-count "$BASE" "$KEY" "$WS" compat-videos 2 20
expect_eq "batchContentType" videos apiq "data-staging/v1/external/$WS/batches/compat-videos" 'r["batch"]["batchContentType"]'
end_test

# References ingests (D10/D11). The sandbox fetches every reference, here from the local
# file server standing in for a bucket (a local references file is sent inline, and the
# client checks none of its URLs). One reference is missing, and is reported.
for f in small-00.png small-01.jpg small-02.png; do
    echo "{\"name\": \"$f\", \"url\": \"$FILES_URL/small/$f?X-Amz-Signature=abc\"}"
done >"$MEDIA/image-refs.jsonl"
echo "{\"name\": \"gone.png\", \"url\": \"$FILES_URL/small/gone.png?X-Amz-Signature=abc\"}" >>"$MEDIA/image-refs.jsonl"
echo "{\"name\": \"ref-0.mp4\", \"url\": \"$FILES_URL/videos/clip-0.mp4?X-Amz-Signature=abc\"}" >"$MEDIA/video-refs.jsonl"

begin "create-batch-of-images -ds references-file (inline list, ingest id, notification categories): fetched"
icli "${DS[@]}" create-batch-of-images -b compat-refs -ds references-file -r "$MEDIA/image-refs.jsonl" \
    --ingest-id refs-ingest --notifications-url "$HOOK_URL" \
    --notification-category ingest-status --notification-category files-status
expect_out "Your ingest ID: refs-ingest"
expect_out "System will create the following shards in batch compat-refs"
expect "count reaches 3 (the 3 existing references fetched)" "$PY" "$HELPER" wait-count "$BASE" "$KEY" "$WS" compat-refs 3 30
expect "ingest-status webhook for refs-ingest: success" \
    hooks 'any(r["body"].get("ingest_id") == "refs-ingest" and r["body"]["notification"]["type"] == "ingest-status-notification-v1" and r["body"]["notification"]["success"] for r in rows)'
expect "files-status webhook: 3 ingested, gone.png failed with a 404" \
    hooks 'any(r["body"].get("ingest_id") == "refs-ingest" and sorted(r["body"]["notification"].get("ingested_files", [])) == ["small-00.png", "small-01.jpg", "small-02.png"] and [f["file_name"] for f in r["body"]["notification"].get("failed_files", [])] == ["gone.png"] and "404" in r["body"]["notification"]["failed_files"][0]["reason"] for r in rows)'
icli "${DS[@]}" list-ingest-details -b compat-refs -o "$OUT/refs-shards.jsonl"
expect_eq "one shard of 3 objects" "[3]" jsonl "$OUT/refs-shards.jsonl" '[r["shard_objects_count"] for r in rows]'
icli "${DS[@]}" export-batch -b compat-refs -t "$OUT/export-refs"
expect "exported references are byte-identical to the sources" bash -c \
    "for f in small-00.png small-01.jpg small-02.png; do cmp -s '$MEDIA/small/'\$f '$OUT/export-refs/'\$f || exit 1; done"
end_test

begin "create-batch-of-images -ds references-file (https URL of a JSONL list): host not allowed"
icli "${DS[@]}" create-batch-of-images -b compat-refs-url -ds references-file -r "https://storage.example.com/b/refs.jsonl"
expect_out "Your ingest ID: "
# storage.example.com is neither loopback nor --fetch-allow: nothing is fetched, and the
# shard says why.
expect "the shard fails, naming the host that is not allowed" "$PY" "$HELPER" wait-shards "$BASE" "$KEY" "$WS" compat-refs-url \
    'len(s) == 1 and s[0]["statusType"] == "error" and "storage.example.com" in s[0]["statusMetadata"]["reason"] and "not allowed" in s[0]["statusMetadata"]["reason"]' 20
end_test

begin "create-batch-of-videos -ds references-file: fetched"
icli "${DS[@]}" create-batch-of-videos -b compat-video-refs -ds references-file -r "$MEDIA/video-refs.jsonl" --ingest-id vrefs-ingest
expect_out "Your ingest ID: vrefs-ingest"
expect "count reaches 1" "$PY" "$HELPER" wait-count "$BASE" "$KEY" "$WS" compat-video-refs 1 30
expect_eq "batchContentType" videos apiq "data-staging/v1/external/$WS/batches/compat-video-refs" 'r["batch"]["batchContentType"]'
end_test

begin "create-batch-of-images -ds roboql (D12 roboql-ingest)"
icli "${DS[@]}" create-batch-of-images -b compat-roboql -ds roboql -q 'tag:compat' --ingest-id roboql-ingest
expect_out "RoboQL ingest accepted for batch 'compat-roboql'"
end_test

# ================================================================ data staging: inspection
begin "list-batches"
# Enough pages for every batch, whatever the largest page the service allows.
icli "${DS[@]}" list-batches --page-size 50 --pages 100
expect_out "compat-small"
expect_out "compat-big"
expect_out "compat-videos"
expect_out "Big Batch"
end_test

begin "list-batches --page-size 1 --pages 2 (pagination)"
icli "${DS[@]}" list-batches --page-size 1 --pages 2
expect_eq "batch rows shown" 2 bash -c "grep -cE '^│ +compat-[a-z-]+ +│' '$CUR_LOG.last'"
end_test

begin "show-batch-details (simple, sharded, videos)"
icli "${DS[@]}" show-batch-details -b compat-small
expect_out "simple-batch"
expect_out "Files Count[^0-9]+5(\.0)? "
icli "${DS[@]}" show-batch-details -b compat-big
expect_out "sharded-batch"
expect_out "Files Count[^0-9]+$BIG_N(\.0)? "
icli "${DS[@]}" show-batch-details -b compat-videos
expect_out "videos"
expect_out "Files Count[^0-9]+2(\.0)? "
end_test

begin "list-batch-content (-o JSONL, --limit)"
icli "${DS[@]}" list-batch-content -b compat-big -o "$OUT/big-content.jsonl"
# (-o writes the client's snake_case model dump)
expect_eq "$BIG_N distinct file names" "$BIG_N" jsonl "$OUT/big-content.jsonl" 'len({r["file_name"] for r in rows})'
expect_eq "names match the sources" True jsonl "$OUT/big-content.jsonl" \
    "sorted(r['file_name'] for r in rows) == sorted(f for f in os.listdir('$MEDIA/big') if not f.startswith('.'))"
icli "${DS[@]}" list-batch-content -b compat-small --limit 3
expect_eq "3 records printed" 3 bash -c "grep -c download_url '$CUR_LOG.last'"
icli "${DS[@]}" list-batch-content -b compat-videos
expect_out "clip-0.mp4"
expect_out "clip-1.mp4"
end_test

begin "list-ingest-details (shards of the sharded batch)"
icli "${DS[@]}" list-ingest-details -b compat-big -o "$OUT/shards.jsonl"
expect_eq "shard objects sum to $BIG_N" "$BIG_N" jsonl "$OUT/shards.jsonl" 'sum(r["shard_objects_count"] for r in rows)'
expect_eq "two shards (256 + rest)" 2 jsonl "$OUT/shards.jsonl" 'len({r["shard_id"] for r in rows})'
expect_eq "no shard in error" True jsonl "$OUT/shards.jsonl" 'bool(rows) and all("error" not in r["status_type"] for r in rows)'
icli "${DS[@]}" list-ingest-details -b compat-big
expect_out "'shard_objects_count': 256"
end_test

begin "export-batch of an input batch (simple): files byte-identical"
icli "${DS[@]}" export-batch -b compat-small -t "$OUT/export-small"
expect "exported files equal the sources" same_files "$MEDIA/small" "$OUT/export-small"
expect "export log written" test -s "$OUT/export-small/.export_log.jsonl"
end_test

# ================================================================ batch processing
begin "process-images-with-workflow (image-stats, --job-id, jsonl, notifications)"
icli "${BP[@]}" process-images-with-workflow -b compat-big -w image-stats -j compat-img \
    --aggregation-format jsonl --notifications-url "$HOOK_URL" --job-name "Compat images" \
    --max-image-failure-rate 0.5
expect_out "compat-img"
expect_eq "definition kept" image-stats apiq "batch-processing/v1/external/$WS/jobs/compat-img" \
    'r["job"]["jobDefinition"]["processingSpecification"]["workflowId"]'
end_test

begin "start the same job id again: same definition is accepted, a different one is a 409"
icli "${BP[@]}" process-images-with-workflow -b compat-big -w image-stats -j compat-img \
    --aggregation-format jsonl --notifications-url "$HOOK_URL" --job-name "Compat images" \
    --max-image-failure-rate 0.5
expect_out "Triggered job with ID: compat-img"
# A divergent definition must fail: the client exits 1 and prints the status code.
LAST="$CUR_LOG.last"
rc=0
"$ICLI" rf-cloud "${BP[@]}" process-images-with-workflow -b compat-small -w image-stats -j compat-img >"$LAST" 2>&1 || rc=$?
{ echo "\$ (expecting exit 1) process-images-with-workflow -b compat-small -j compat-img"; cat "$LAST"; echo "[exit $rc]"; } >>"$CUR_LOG"
[ "$rc" = 1 ] || CUR_REASONS+=("divergent restart of compat-img: want exit 1, got $rc")
expect_out "409"
end_test

begin "process-images-with-workflow then abort-job (compat-abort)"
icli "${BP[@]}" process-images-with-workflow -b compat-big -w image-stats -j compat-abort
expect_out "compat-abort"
icli "${BP[@]}" abort-job -j compat-abort
expect_out "aborted"
expect "aborted job becomes terminal" wait_job compat-abort 20
expect_eq "aborted job is in error" True apiq "batch-processing/v1/external/$WS/jobs/compat-abort" 'r["job"].get("error", False)'
end_test

begin "process-videos-with-workflow (image-stats, --max-video-fps)"
icli "${BP[@]}" process-videos-with-workflow -b compat-videos -w image-stats -j compat-vid --max-video-fps 5 \
    --aggregation-format csv
expect_out "compat-vid"
expect_eq "job type" simple-video-processing-v1 apiq "batch-processing/v1/external/$WS/jobs/compat-vid" \
    'r["job"]["jobDefinition"]["type"]'
end_test

begin "trt-compile"
icli "${BP[@]}" trt-compile -m compat-model/1 -d nvidia-t4 -d nvidia-l4 -j compat-trt
expect_out "Triggered job with ID: compat-trt"
expect_eq "job type" trt-compilation-v1 apiq "batch-processing/v1/external/$WS/jobs/compat-trt" 'r["job"]["jobDefinition"]["type"]'
end_test

begin "list-jobs"
icli "${BP[@]}" list-jobs --max-pages 100
expect_out "compat-img"
expect_out "compat-abort"
expect_out "compat-vid"
expect_out "compat-trt"
end_test

begin "show-job-details while running or done"
icli "${BP[@]}" show-job-details -j compat-img
expect_out "Batch Job Overview \[id=compat-img\]"
expect_out "Compat images"
end_test

begin "image job completes; show-job-details shows both stages and output batches"
expect "compat-img terminal" wait_job compat-img 60
expect_eq "no error" False apiq "batch-processing/v1/external/$WS/jobs/compat-img" 'r["job"].get("error", False)'
icli "${BP[@]}" show-job-details -j compat-img
expect_out "compat-img-processing"
expect_out "compat-img-export"
# Stage names are display names (a varied sandbox names them unlike their ids).
expect_eq "two stages shown" 2 bash -c "grep -c 'Stage: ' '$CUR_LOG.last'"
expect "job webhook: job_state success, Bearer rf_$WS" hooks \
    "any(r['body'].get('job_id') == 'compat-img' and r['body'].get('job_state') == 'success' and {k.lower(): v for k, v in r['headers'].items()}.get('authorization') == 'Bearer rf_$WS' for r in rows)"
end_test

begin "fetch-logs (all, then --log-severity info -o JSONL, then --log-severity error)"
icli "${BP[@]}" fetch-logs -j compat-img
expect_out "'severity': <LogSeverity\.INFO"
expect_out "'log_type': 'job-completed'"
icli "${BP[@]}" fetch-logs -j compat-img --log-severity info -o "$OUT/logs-info.jsonl"
expect_eq "only info logs, at least one" True jsonl "$OUT/logs-info.jsonl" 'bool(rows) and all(r["severity"] == "info" for r in rows)'
icli "${BP[@]}" fetch-logs -j compat-abort --log-severity error -o "$OUT/logs-error.jsonl"
expect_eq "only error logs, at least one (the abort)" True jsonl "$OUT/logs-error.jsonl" \
    'bool(rows) and all(r["severity"] == "error" for r in rows)'
end_test

begin "show-batch-details of the output batches (multipart)"
icli "${DS[@]}" show-batch-details -b compat-img-processing
expect_out "multipart-batch"
expect_out "Parts with content"
icli "${DS[@]}" show-batch-details -b compat-img-export
expect_out "multipart-batch"
end_test

begin "list-batch-content of the processing output"
icli "${DS[@]}" list-batch-content -b compat-img-processing -o "$OUT/proc-content.jsonl"
expect_eq "has parts and files" True jsonl "$OUT/proc-content.jsonl" 'bool(rows) and all(r.get("part_name") for r in rows)'
end_test

begin "export-batch <job>-processing: JSONL results, one per image"
icli "${DS[@]}" export-batch -b compat-img-processing -t "$OUT/export-proc"
expect_eq "$BIG_N result records with width/height" "$BIG_N" bash -c \
    "find '$OUT/export-proc' -mindepth 2 -type f -name '*.jsonl' -exec cat {} + | grep -c '\"width\"'"
end_test

begin "export-batch <job>-export: archives unpacked into part dirs"
icli "${DS[@]}" export-batch -b compat-img-export -t "$OUT/export-exp"
expect_eq "one extracted result per image under a part directory" "$BIG_N" bash -c \
    "find '$OUT/export-exp' -mindepth 2 -type f -name 'big-*' | wc -l | tr -d ' '"
expect "no archive left behind" bash -c "! find '$OUT/export-exp' -name '*.tar*' | grep -q ."
end_test

begin "restart-job with overrides (aborted job runs again to success)"
icli "${BP[@]}" restart-job -j compat-abort --max-parallel-tasks 2 --machine-type cpu --max-image-failure-rate 0.25
expect_eq "override recorded" 2 apiq "batch-processing/v1/external/$WS/jobs/compat-abort" \
    '[o.get("maxParallelTasks") for o in r["job"]["restartParametersOverride"]][-1]'
expect "restarted job terminal" wait_job compat-abort 60
expect_eq "restarted job succeeded" False apiq "batch-processing/v1/external/$WS/jobs/compat-abort" 'r["job"].get("error", False)'
icli "${BP[@]}" show-job-details -j compat-abort
expect_out "Restart parameters override"
end_test

begin "video job reaches a terminal state; show-job-details"
expect "compat-vid terminal" wait_job compat-vid 60
icli "${BP[@]}" show-job-details -j compat-vid
expect_out "Batch Job Overview \[id=compat-vid\]"
expect_out "compat-vid-processing"
end_test

begin "export-batch <video job>-processing (CSV)"
icli "${DS[@]}" export-batch -b compat-vid-processing -t "$OUT/export-vid"
expect "a CSV result names both videos" bash -c \
    "f=\$(find '$OUT/export-vid' -mindepth 2 -type f -name '*.csv' | head -n1); [ -n \"\$f\" ] && grep -q clip-0.mp4 \"\$f\" && grep -q clip-1.mp4 \"\$f\""
end_test

begin "restart-job without overrides (empty body) of a finished job"
icli "${BP[@]}" restart-job -j compat-vid
expect_out "restarted"
expect "restarted video job terminal again" wait_job compat-vid 60
expect_eq "no error" False apiq "batch-processing/v1/external/$WS/jobs/compat-vid" 'r["job"].get("error", False)'
end_test

# ---------------------------------------------------------------- summary
ELAPSED=$(($(date +%s) - START))
echo
if [ "$FAILED" != 0 ]; then
    echo "failed:"
    printf '  - %s\n' "${FAILED_NAMES[@]}"
    echo "sandbox log (tail):"
    tail -n 30 "$TMP/sandbox.log" | sed 's/^/  | /'
fi
echo "(${ELAPSED}s)"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
