#!/usr/bin/env bash
# Quick start, command 2: set up this machine (if needed) and run the whole test suite.
# The SLURM tests (tests/test_slurm.py) start a single-node SLURM on localhost: Debian's slurm-wlm
# and munge are installed here when missing (needs root or sudo; without them those tests skip).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash workflow/scripts/setup.sh
if ! command -v slurmctld >/dev/null && ! [ -x /usr/sbin/slurmctld ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  echo "Installing slurm-wlm and munge for the SLURM tests..." >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
    || { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
         && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; } \
    || echo "Could not install SLURM: tests/test_slurm.py will be skipped." >&2
fi
source .venv/bin/activate
python -m pytest "$@"
