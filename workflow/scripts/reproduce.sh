#!/usr/bin/env bash
# Quick start, command 1: set up this machine and run the default pipeline to report/report.pdf.
# Extra arguments go to snakemake, e.g. `--configfile config/paper.yaml` or `--cores 8`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash workflow/scripts/setup.sh
source .venv/bin/activate
bash workflow/scripts/unlock_stale.sh  # a killed run's lock: unlocked when no Snakemake of this directory is alive
snakemake --workflow-profile workflow/profiles/default --cores all "$@"
echo "report: $(pwd)/report/report.pdf"
