"""Load the demo: program `acme`, customers, events, then every app's registered demo step.

Safe to run twice: every step checks what exists (fixed ids, get_or_create) first, so a
second run creates no demo data. The console shows one progress bar per step, then a final
block with the sign-ins: the admin, the apps' demo staff (payouts' two approvers), the
partner key and a fresh one-time portal sign-in link for the demo customer (the only row a
second run adds: a sign-in token). The demo's emails go to files under var/mail, not to the
console.
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from tqdm import tqdm

from engagement import demo, hooks
from engagement.models import Customer, PartnerKey

ADMIN_USER = "admin"
ADMIN_PASSWORD = "ganjaran-demo"
# A fixed key for the demo only, so that every run prints the same working key.
DEMO_KEY = "gk_demo_acme_0123456789abcdefghijklmnopqrstuv"
DEMO_CUSTOMER = "cust-0001"


class StepBar:
    """One progress bar for a whole demo step. A step asks for bars as it goes
    (`progress(total=…, desc=…)`, used as a context manager or with update/close): each one
    adds its total to this bar, so the console shows one line per step."""

    def __init__(self, desc, file):
        self.bar = tqdm(
            desc=desc, total=0, file=file, dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}"
        )
        self.started = time.monotonic()

    def __call__(self, total=0, **kwargs):
        self.bar.total += total
        self.bar.refresh()
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        self.bar.update(n)

    def close(self):
        pass  # the step's part is done; the bar ends with the step

    def finish(self):
        self.bar.total = max(self.bar.total, self.bar.n, 1)
        self.bar.n = self.bar.total
        self.bar.close()


class Command(BaseCommand):
    help = "Load demo data (program acme, ~1,000 customers, ~50,000 events, rewards, surveys, payouts)."
    # `make demo` runs the system checks once, in migrate; here they cost a second of nothing.
    requires_system_checks = []

    def step(self, name, function, *args):
        bar = StepBar(name, self.stderr._out)
        try:
            return function(*args, bar)
        finally:
            bar.finish()

    def handle(self, **options):
        program = demo.get_or_create_program()
        self.step("customers and events", demo.load_base, program)
        for _order, name, step in hooks.demo_steps():
            with transaction.atomic():
                self.step(name, step, program)
        self.ensure_admin()
        self.ensure_key(program)
        self.stdout.write(self.ready_block(program))

    def ready_block(self, program):
        from rewards import portal_auth

        site = settings.SITE_URL
        customer = Customer.objects.get(program=program, external_id=DEMO_CUSTOMER)
        link = portal_auth.issue_login_link(customer, lambda path: site + path)
        minutes = int(portal_auth.login_ttl().total_seconds() // 60)
        outbox = getattr(settings, "EMAIL_FILE_PATH", None)
        return self.style.SUCCESS(
            f"\nGanjaran demo is ready on {site}\n"
            f"  admin:     {site}/admin/   user {ADMIN_USER!r}, password {ADMIN_PASSWORD!r}\n"
            + "".join(f"  {line}\n" for line in hooks.demo_sign_ins(program, site))
            + f"  dashboard: {site}/admin/dashboard/\n"
            f"  API docs:  {site}/api/docs/\n"
            f"  partner key for the API (program acme): {DEMO_KEY}\n"
            f"    curl -H 'Authorization: Bearer {DEMO_KEY}' {site}/api/v1/customers\n"
            f"  portal:    {site}/portal/   demo customer {DEMO_CUSTOMER} ({customer.email})\n"
            f"    one-time sign-in link (valid {minutes} min): {link}\n"
            + (f"    later: ask for a link at {site}/portal/login/; emails are files in {outbox}/\n" if outbox else "")
        )

    def ensure_admin(self):
        User = get_user_model()
        if not User.objects.filter(username=ADMIN_USER).exists():
            User.objects.create_superuser(ADMIN_USER, "admin@example.com", ADMIN_PASSWORD)

    def ensure_key(self, program):
        if not PartnerKey.objects.filter(prefix=DEMO_KEY[: PartnerKey.PREFIX_LENGTH]).exists():
            PartnerKey.issue(program, "demo key", raw_key=DEMO_KEY)
