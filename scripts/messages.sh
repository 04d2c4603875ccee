#!/usr/bin/env bash
# Re-extract the Arabic and Malay catalogues of every app (<app>/locale/{ar,ms}/LC_MESSAGES/django.po)
# with Django's makemessages (GNU gettext's xgettext/msgmerge). Existing translations are kept;
# new messages arrive with an empty msgstr for a translator (tests/test_translations.py fails
# until they are filled). Compile with `make translations`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
APPS=(engagement engagement/channels engagement/webhooks surveys payouts rewards rewards/campaigns rewards/checkout)
for app in "${APPS[@]}"; do mkdir -p "$app/locale"; done
# Settings are only read, never a database: a throwaway key and a database address nothing
# connects to (an empty one would mean embedded mode, which starts a PostgreSQL server).
NO_DB="postgres://unused@127.0.0.1:1/unused"
# First the generated lists of automatic field and model names (engagement/labels.py).
SECRET_KEY="${SECRET_KEY:-makemessages}" DATABASE_URL="$NO_DB" "$PY" manage.py write_field_labels >/dev/null
SECRET_KEY="${SECRET_KEY:-makemessages}" DATABASE_URL="$NO_DB" "$PY" manage.py makemessages \
  -l ar -l ms --no-obsolete --add-location=file -e html,txt,py \
  --ignore=.venv --ignore=tests --ignore=bench --ignore=var --ignore=staticfiles --ignore=scripts --ignore=config
