#!/usr/bin/env bash
# Installs SEKMET (a small FHIR R4 server, PyPI "sekmet-fhir") into its own venv for the
# fetch tests. It stays out of the service's runtime dependencies: its pins may clash.
# Idempotent. The venv path can be changed with SEKMET_VENV (the tests read the same variable).
set -euo pipefail
VENV="${SEKMET_VENV:-/tmp/sekmet-venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ -x "$VENV/bin/sekmet" ]; then
  echo "sekmet already installed in $VENV"
  exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet sekmet-fhir
"$VENV/bin/sekmet" --version
