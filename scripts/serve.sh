#!/usr/bin/env bash
# The full stack, production-like: gunicorn + a Celery worker + Celery beat on PostgreSQL and
# Redis. Uses DATABASE_URL/REDIS_URL when given, else throwaway local servers (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
  exec bash scripts/services.sh run bash "$0"
fi

export SECRET_KEY="${SECRET_KEY:-ganjaran-serve-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}"
# Local plain-http use unless told otherwise; production sets these (README).
export SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-0}" SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-0}" CSRF_COOKIE_SECURE="${CSRF_COOKIE_SECURE:-0}"
export STATIC_MANIFEST=1
mkdir -p var
# `make manage ARGS="..."` reads this to run manage.py against these very services; owner-only
# (it holds SECRET_KEY), removed when the stack stops.
SERVE_ENV=var/serve.env
(umask 077; {
  echo "# Written by scripts/serve.sh for scripts/manage.sh while the stack runs."
  for name in DATABASE_URL REDIS_URL SECRET_KEY SECURE_SSL_REDIRECT SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE; do
    printf '%s=%q\n' "$name" "${!name}"
  done
  for name in DEBUG ALLOWED_HOSTS SITE_URL EMAIL_URL ADMIN_OTP; do
    if [ -n "${!name:-}" ]; then printf '%s=%q\n' "$name" "${!name}"; fi
  done
} > "$SERVE_ENV")
trap 'rm -f "$SERVE_ENV"' EXIT
$BIN/python manage.py migrate --noinput
$BIN/python manage.py collectstatic --noinput -v0

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$SERVE_ENV"; }
trap cleanup EXIT INT TERM
# One worker for every queue by default; docs/operations.md shows workers per queue on
# several machines (CELERY_QUEUES, CELERY_CONCURRENCY) and one beat for the whole installation
# (SERVE_BEAT=0 on the others).
queues=${CELERY_QUEUES:-$($BIN/python -c "from django.conf import settings; import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','config.settings'); django.setup(); print(','.join(settings.CELERY_TASK_QUEUES_ALL))")}
concurrency=()
[ -n "${CELERY_CONCURRENCY:-}" ] && concurrency=(--concurrency "$CELERY_CONCURRENCY")
$BIN/celery -A config worker -Q "$queues" "${concurrency[@]}" --loglevel=INFO & pids+=($!)
[ "${SERVE_BEAT:-1}" = 1 ] && { $BIN/celery -A config beat --loglevel=INFO & pids+=($!); }
# Threads with keep-alive: a partner's connection is reused (no TCP handshake and worker
# hand-off per request) and a thread waiting on PostgreSQL leaves the CPU to another
# (bench/README.md, "Checkout": 2.6x the requests/s of sync workers on 2 cores). Its balanced
# variant gives each new connection to the worker holding the fewest (config/web_worker.py).
$BIN/gunicorn config.wsgi --bind "${BIND:-127.0.0.1:8000}" --workers "${WEB_CONCURRENCY:-2}" \
  --worker-class config.web_worker.ThreadWorker --threads "${WEB_THREADS:-4}" --keep-alive "${WEB_KEEPALIVE:-30}" --access-logfile - & pids+=($!)
echo "Ganjaran serving on http://${BIND:-127.0.0.1:8000} (Ctrl-C stops everything)"
wait -n
