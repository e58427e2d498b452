#!/usr/bin/env bash
# The benchmark in one command (bench/README.md): prepares the venv, then runs bench/run.py.
#   bench/run.sh [--duration 10] [--connections 8,32] [--keep-data] [--only NAMES]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in wrk pgbench; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench: $tool not found; install it from the OS packages" \
             "(Debian/Ubuntu: apt-get install wrk postgresql)" >&2
        exit 1
    fi
done

make --no-print-directory venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
exec .venv/bin/python bench/run.py "$@"
