#!/usr/bin/env bash
# PostgreSQL server binaries for the storage tests (the tests start their own throwaway
# cluster with initdb/pg_ctl on a loopback port; no system service is used).
# Idempotent: installs only when initdb is absent.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    echo "setup-postgres: initdb present, nothing to do"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends postgresql
# the Debian package starts a cluster of its own; the tests do not need it
$SUDO service postgresql stop >/dev/null 2>&1 || true
echo "setup-postgres: installed $(ls -d /usr/lib/postgresql/*/bin)"
