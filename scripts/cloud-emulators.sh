#!/usr/bin/env bash
# Installs the three storage emulators the cloud tests run against, into cache folders
# outside the clone (so CI runs and worktrees share them):
#   - moto[server] (S3) and gcp-storage-emulator (GCS), plus boto3 and google-cloud-storage
#     (whose signed URLs the tests compare ours with, and boto3 for the signing
#     benchmark), into a venv:            $CLOUD_EMU_VENV (default $HOME/.cache/roboflow-batch/venv-cloud)
#   - azurite (Azure Blob), from npm:    $AZURITE_DIR    (default $HOME/.cache/roboflow-batch/azurite)
#
# The tests find them at these paths (or through MOTO_SERVER, GCS_EMULATOR and AZURITE_BIN,
# which name the executables directly) and start each one themselves on a free port.
#
# Prints the three executables. Exits 0 when all are installed, 3 when any package could
# not be installed (no registry?), so that CI can tell that from a failure of ours.
set -euo pipefail

CACHE=${RFBATCH_CACHE:-$HOME/.cache/roboflow-batch}
VENV=${CLOUD_EMU_VENV:-$CACHE/venv-cloud}
AZ=${AZURITE_DIR:-$CACHE/azurite}
mkdir -p "$CACHE"
missing=()

if ! "$VENV/bin/python" -c 'import moto, gcp_storage_emulator, boto3, flask, google.cloud.storage' 2>/dev/null; then
    echo "== installing moto[server], gcp-storage-emulator, boto3 and google-cloud-storage into $VENV"
    if python3 -m venv "$VENV" &&
        "$VENV/bin/pip" install -q 'moto[server]==5.2.5' 'gcp-storage-emulator==2026.7.19' boto3 'google-cloud-storage==3.17.1'; then
        :
    else
        echo "cannot install moto[server] / gcp-storage-emulator / boto3 / google-cloud-storage from PyPI" >&2
        missing+=(moto gcp-storage-emulator)
    fi
fi

if [ ! -x "$AZ/node_modules/.bin/azurite-blob" ]; then
    echo "== installing azurite into $AZ"
    mkdir -p "$AZ"
    if ! npm install --silent --no-audit --no-fund --prefix "$AZ" azurite@3.37.0 >/dev/null; then
        echo "cannot install azurite from npm" >&2
        missing+=(azurite)
    fi
fi

for exe in "$VENV/bin/moto_server" "$VENV/bin/gcp-storage-emulator" "$AZ/node_modules/.bin/azurite-blob"; do
    if [ -x "$exe" ]; then echo "installed: $exe"; else echo "missing: $exe" >&2; fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "not installed: ${missing[*]}" >&2
    exit 3
fi
