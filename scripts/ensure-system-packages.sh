#!/usr/bin/env bash
# Installs the system programs the tests need when they are absent: a PostgreSQL server,
# Redis, GNU gettext and Debian's Chromium for the browser tests. Uses apt-get (as root, or via sudo).
set -euo pipefail

need=()
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if ! command -v postgres >/dev/null 2>&1 && [ -z "$(pg_bin)" ]; then need+=(postgresql); fi
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
