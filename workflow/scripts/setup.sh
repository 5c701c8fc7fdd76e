#!/usr/bin/env bash
# Set up a fresh machine for the workflow (idempotent): the project virtualenv from the lock file,
# the package itself, and TeX Live + poppler from Debian packages when latexmk/pdftotext are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import rlrepro, snakemake, pytest' 2>/dev/null \
   || [ requirements.lock -nt .venv/.lock-installed ]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r requirements.lock
  .venv/bin/pip install --quiet --no-deps -e .
  touch .venv/.lock-installed
fi

if ! command -v latexmk >/dev/null || ! command -v pdftotext >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing TeX Live and poppler-utils from Debian packages (a few minutes)..." >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-science \
    lmodern poppler-utils >/dev/null
fi
