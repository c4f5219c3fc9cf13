#!/usr/bin/env bash
# Install nerve-registry (see scripts/install.sh) and start the MS registry
# service on its embedded default: the API on http://127.0.0.1:8080 and a
# docker-registry process on 127.0.0.1:5000, with all data under
# ~/.local/share/nerve-registry (or $NERVE_DATA_DIR). Extra arguments go to
# `nerve-registry serve`, e.g. scripts/start.sh --port 9000.
set -euo pipefail

cd "$(dirname "$0")/.."
./scripts/install.sh
exec .venv/bin/nerve-registry serve "$@"
