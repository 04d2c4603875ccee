#!/usr/bin/env bash
# manage.py against the stack that `make serve` is running: its database, Redis and SECRET_KEY
# come from var/serve.env (written by scripts/serve.sh). Usage: scripts/manage.sh COMMAND [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
SERVE_ENV=${SERVE_ENV:-var/serve.env}
if [ ! -f "$SERVE_ENV" ]; then
  echo "No $SERVE_ENV: start the stack first with 'make serve' (in another terminal)," >&2
  echo "or set DATABASE_URL, REDIS_URL and SECRET_KEY and run .venv/bin/python manage.py directly." >&2
  exit 1
fi
set -a
# shellcheck disable=SC1090
. "$SERVE_ENV"
set +a
exec .venv/bin/python manage.py "$@"
