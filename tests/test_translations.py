"""Every app's Arabic and Malay catalogues are current with the code and complete: a fresh
extraction (scripts/messages.sh, Django's makemessages) on a copy of the sources finds no
message the committed catalogues lack, and no committed message is untranslated or fuzzy."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
APPS = [
    "engagement",
    "engagement/channels",
    "engagement/webhooks",
    "surveys",
    "payouts",
    "rewards",
    "rewards/campaigns",
    "rewards/checkout",
]
LANGUAGES = ["ar", "ms"]
SKIP = [".venv", ".git", "var", "staticfiles", "tests", "bench", "__pycache__", "*.mo", ".*_cache", ".hypothesis"]


def catalogue(root, app, language):
    path = root / app / "locale" / language / "LC_MESSAGES" / "django.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def message_keys(cat):
    return {
        (message.context, message.id if isinstance(message.id, str) else message.id[0]) for message in cat if message.id
    }


def untranslated(cat):
    missing = []
    for message in cat:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


@pytest.fixture(scope="module")
def fresh_extraction(tmp_path_factory):
    copy = tmp_path_factory.mktemp("extract") / "src"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*SKIP))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    subprocess.run(
        ["bash", "scripts/messages.sh"], cwd=copy, env={**env, "PYTHON": sys.executable},
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return copy


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("app", APPS)
def test_catalogue_is_current_with_the_code(fresh_extraction, app, language):
    committed = message_keys(catalogue(ROOT, app, language))
    extracted = message_keys(catalogue(fresh_extraction, app, language))

    assert sorted(extracted - committed) == [], f"run `make messages` and translate the new {app} messages"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("app", APPS)
def test_every_message_is_translated(app, language):
    assert untranslated(catalogue(ROOT, app, language)) == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("app", APPS)
def test_translations_keep_the_placeholders_of_their_message(app, language):
    """GNU msgfmt's format check: a translation with a placeholder its message lacks (or a
    broken one) would raise at run time when the text is formatted."""
    path = ROOT / app / "locale" / language / "LC_MESSAGES" / "django.po"

    result = subprocess.run(["msgfmt", "--check-format", "-o", os.devnull, str(path)], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
