#!/usr/bin/env bash
# Quick start, command 2: set up this machine (if needed) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash workflow/scripts/setup.sh
source .venv/bin/activate
python -m pytest "$@"
