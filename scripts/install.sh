#!/usr/bin/env bash
# Install what nerve-registry needs on a Debian or Ubuntu machine: the system
# packages docker-registry and skopeo, and a virtual environment in .venv with
# the project and its Python dependencies. Safe to run again; it skips what is
# already there.
#
# Usage: scripts/install.sh [--with-test-tools]
#   --with-test-tools  also install PostgreSQL (for the database tests) and the
#                      test and lint dependencies.
set -euo pipefail

cd "$(dirname "$0")/.."
with_test_tools=0
if [[ "${1:-}" == "--with-test-tools" ]]; then
    with_test_tools=1
fi

packages=(docker-registry skopeo)
if [[ $with_test_tools == 1 ]]; then
    packages+=(postgresql)
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        sudo="sudo"
    fi
    echo "Installing system packages: ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "nerve-registry needs Python 3.11 or newer; $python is $("$python" --version 2>&1)." >&2
    exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "Creating the virtual environment .venv"
    "$python" -m venv .venv
fi

extras="postgres"
if [[ $with_test_tools == 1 ]]; then
    extras="postgres,test"
fi

echo "Installing nerve-registry and its Python dependencies into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[$extras]"
