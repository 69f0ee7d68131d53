#!/usr/bin/env bash
# Debian's nginx for the deploy tests (tests/deploy): the tests run their own nginx with
# their own configuration on a loopback port; no system service is used.
# Idempotent: installs only when the nginx binary is absent.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    echo "setup-nginx: nginx present, nothing to do"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends nginx
# the Debian package starts a server on port 80; the tests do not need it
$SUDO service nginx stop >/dev/null 2>&1 || true
echo "setup-nginx: installed $(/usr/sbin/nginx -v 2>&1)"
