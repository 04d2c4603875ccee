#!/usr/bin/env bash
# Installs the system programs the tests need when they are absent: Redis, GNU gettext and
# Debian's Chromium for the browser tests. Uses apt-get (as root, or via sudo). PostgreSQL needs
# no apt: without a system server, scripts/services.sh runs the one pip installed (requirements.txt).
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# GNU gettext: `make messages` and the catalogue test re-extract with Django's makemessages.
command -v xgettext >/dev/null 2>&1 || need+=(gettext)
if [ "${GANJARAN_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then need+=(chromium); fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "Installing system packages: ${need[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
