#!/usr/bin/env bash
# Install everything the tests need, then run the linters and the test suite
# against real docker-registry, skopeo and PostgreSQL processes.
# Extra arguments go to pytest, e.g. scripts/test.sh -k status -x
set -euo pipefail

cd "$(dirname "$0")/.."
./scripts/install.sh --with-test-tools

echo "== ruff"
.venv/bin/ruff check src tests benchmarks examples
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
