"""Two programs of demo data (small), a superuser and a staff user limited to program A."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Concat
from tqdm import tqdm

from engagement import demo, hooks, metrics
from engagement.models import Customer, Program, ProgramStaff
from engagement.tenancy import program_path


def _quiet_progress(**kwargs):
    return tqdm(disable=True, **kwargs)


def _load_program(slug, name):
    program = Program.objects.create(
        slug=slug, name=name, currency="MYR", timezone="Asia/Kuala_Lumpur", points_name="beans"
    )
    demo.load_base(program, _quiet_progress)
    for _order, _name, step in hooks.demo_steps():
        with transaction.atomic():
            step(program, _quiet_progress)
    # The nightly metric snapshot (the demo builds none), so its read-only list has a row.
    metrics.snapshot_metrics(program)
    return program


def _make_distinct(program):
    """The demo loader writes the same names for every program: prefix program B's, so a
    leak of B's rows into A's pages is visible as text."""
    from django.apps import apps

    Customer.objects.filter(program=program).update(
        name=Concat(Value("Beta "), "name"), external_id=Concat(Value("beta-"), "external_id")
    )
    for model in apps.get_models():
        path = program_path(model)
        if path is None or model is Program or model._meta.proxy:
            continue
        for field_name in ("name", "title_en", "subject"):
            try:
                field = model._meta.get_field(field_name)
            except Exception:
                continue
            if isinstance(field, CharField) and not field.choices:
                rows = model._default_manager.filter(**{path: program})
                rows.update(**{field_name: Concat(Value("Beta "), field_name)})


@pytest.fixture(scope="module")
def _two_programs_once(django_db_setup, django_db_blocker):
    """Loaded once per test module inside a transaction that is rolled back at its end;
    each test runs in a savepoint within it (the `db` fixture), so tests stay independent."""
    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "CUSTOMERS", 30)
        patch.setattr(demo, "EVENTS", 800)
        # Must open before any test's own transaction (request two_programs before db/users).
        assert not connection.in_atomic_block
        outer = transaction.atomic()
        outer.__enter__()
        try:
            alpha = _load_program("alpha", "Alpha Kopi Rewards")
            beta = _load_program("beta", "Beta Tea Club")
            _make_distinct(beta)
            yield alpha.pk, beta.pk
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def two_programs(_two_programs_once, db):
    alpha_pk, beta_pk = _two_programs_once
    return Program.objects.get(pk=alpha_pk), Program.objects.get(pk=beta_pk)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-Root-123")


@pytest.fixture
def alpha_staff(two_programs):
    """Staff of program A with every permission (so only tenancy limits what they see)."""
    alpha, beta = two_programs
    User = get_user_model()
    staff = User.objects.create_user("siti", "siti@alpha.example", "pw-Siti-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.all())
    ProgramStaff.objects.create(program=alpha, user=staff)
    other = User.objects.create_user("beta-manager", "gus@beta.example", "pw-Gus-123", is_staff=True)
    ProgramStaff.objects.create(program=beta, user=other)
    return staff
