"""Onboarding a served installation: create_program, and scripts/manage.sh reading the
services of the running stack from var/serve.env."""

import os
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from engagement.models import Program

ROOT = Path(__file__).resolve().parents[2]


def test_create_program_creates_it_and_prints_the_next_steps(db):
    out = StringIO()

    call_command(
        "create_program", "Kedai Kopi Rewards", "--currency", "myr", "--timezone", "Asia/Kuala_Lumpur",
        "--locale", "ms", "--points-name", "beans", stdout=out,
    )  # fmt: skip

    program = Program.objects.get()
    assert (program.name, program.slug, program.currency, program.timezone, program.default_locale,
            program.points_name) == ("Kedai Kopi Rewards", "kedai-kopi-rewards", "MYR", "Asia/Kuala_Lumpur", "ms",
                                     "beans")  # fmt: skip
    text = out.getvalue()
    assert "Created program 'Kedai Kopi Rewards' (slug kedai-kopi-rewards)." in text
    assert "manage.py createsuperuser" in text
    assert "manage.py create_partner_key kedai-kopi-rewards --name shop" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--currency", "RINGGIT"], "currency:"),
        (["--timezone", "Mars/Olympus"], "timezone:"),
        (["--locale", "fr"], "default_locale:"),
        (["--slug", "not a slug"], "slug:"),
    ],
)
def test_create_program_refuses_bad_values_and_creates_nothing(db, args, message):
    with pytest.raises(CommandError) as error:
        call_command("create_program", "Kedai", *args, stdout=StringIO())

    assert "The program was not created" in str(error.value) and message in str(error.value)
    assert Program.objects.count() == 0


def test_create_program_refuses_a_taken_slug(acme):
    with pytest.raises(CommandError, match="slug:"):
        call_command("create_program", "Another Acme", "--slug", "acme", stdout=StringIO())

    assert list(Program.objects.values_list("name", flat=True)) == ["Acme"]


def test_manage_script_runs_with_the_served_stacks_settings(tmp_path):
    serve_env = tmp_path / "serve.env"
    serve_env.write_text(
        "DATABASE_URL=postgres://ganjaran@127.0.0.1:6543/served\nREDIS_URL=redis://127.0.0.1:6380/0\n"
        "SECRET_KEY=served-stack-secret\nSECURE_SSL_REDIRECT=0\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    code = "from django.conf import settings as s; print(s.SECRET_KEY, s.DATABASES['default']['PORT'], s.REDIS_URL)"

    result = subprocess.run(
        ["bash", "scripts/manage.sh", "shell", "--no-imports", "-c", code],
        cwd=ROOT, env={**env, "SERVE_ENV": str(serve_env)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "served-stack-secret 6543 redis://127.0.0.1:6380/0"


def test_manage_script_without_a_running_stack_says_what_to_do(tmp_path):
    result = subprocess.run(
        ["bash", "scripts/manage.sh", "check"],
        cwd=ROOT, env={**os.environ, "SERVE_ENV": str(tmp_path / "none.env")}, capture_output=True, text=True,
    )  # fmt: skip

    assert result.returncode == 1
    assert "start the stack first with 'make serve'" in result.stderr
