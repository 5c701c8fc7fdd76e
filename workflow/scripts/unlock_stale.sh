#!/usr/bin/env bash
# Remove a stale Snakemake lock of this repository before a run. A killed pipeline leaves
# .snakemake/locks/ behind and the next `snakemake` refuses to start until `snakemake --unlock`.
# No live Snakemake process whose working directory is this repository -> unlock, saying so;
# a live one -> a clear error (two pipelines must not write the same files). Linux (/proc).
# reproduce.sh runs it; by hand: `bash workflow/scripts/unlock_stale.sh` in an activated .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
here="$(pwd -P)"
shopt -s nullglob
locks=(.snakemake/locks/*)
[ ${#locks[@]} -gt 0 ] || exit 0

live=()
for proc in /proc/[0-9]*; do
  pid="${proc#/proc/}"
  [ "$pid" != "$$" ] || continue
  [ "$(readlink "$proc/cwd" 2>/dev/null)" = "$here" ] || continue
  # A Snakemake process has an argument named snakemake: `snakemake ...`, `.venv/bin/snakemake ...`,
  # `python -m snakemake ...` (cmdline holds the arguments, each ended by a NUL byte).
  while IFS= read -r -d '' arg; do
    if [ "${arg##*/}" = snakemake ]; then live+=("$pid"); break; fi
  done 2>/dev/null < "$proc/cmdline" || true
done

if [ ${#live[@]} -gt 0 ]; then
  echo "error: Snakemake is running in $here (pid ${live[*]}) and holds its lock (.snakemake/locks/)." >&2
  echo "Wait for it to finish or stop it, then run again." >&2
  exit 1
fi
echo "Snakemake's lock in $here/.snakemake/locks/ is stale (no Snakemake process of this directory is alive;" \
     "a killed run leaves it behind): running \`snakemake --unlock\`." >&2
snakemake --unlock >/dev/null
