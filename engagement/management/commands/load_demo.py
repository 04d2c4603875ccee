"""Load the demo: program `acme`, customers, events, then every app's registered demo step.

Safe to run twice: every step checks what exists (fixed ids, get_or_create) first.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from tqdm import tqdm

from engagement import demo, hooks
from engagement.models import PartnerKey

ADMIN_USER = "admin"
ADMIN_PASSWORD = "ganjaran-demo"
# A fixed key for the demo only, so that every run prints the same working key.
DEMO_KEY = "gk_demo_acme_0123456789abcdefghijklmnopqrstuv"


class Command(BaseCommand):
    help = "Load demo data (program acme, ~1,000 customers, ~50,000 events, rewards, surveys, payouts)."

    def progress(self, **kwargs):
        return tqdm(file=self.stderr._out, dynamic_ncols=True, **kwargs)

    def handle(self, **options):
        program = demo.get_or_create_program()
        self.stdout.write("Loading the base demo (customers and events)…")
        accepted = demo.load_base(program, self.progress)
        self.stdout.write(f"  {accepted} new events")
        for order, name, step in hooks.demo_steps():
            self.stdout.write(f"Demo step {order}: {name}…")
            with transaction.atomic():
                step(program, self.progress)
        self.ensure_admin()
        self.ensure_key(program)
        self.stdout.write(
            self.style.SUCCESS(
                "\nGanjaran demo is ready on http://127.0.0.1:8000\n"
                f"  admin:     http://127.0.0.1:8000/admin/   user {ADMIN_USER!r}, password {ADMIN_PASSWORD!r}\n"
                "  dashboard: http://127.0.0.1:8000/admin/dashboard/\n"
                "  API docs:  http://127.0.0.1:8000/api/docs/\n"
                "  portal:    http://127.0.0.1:8000/portal/\n"
                f"  partner key for the API (program acme): {DEMO_KEY}\n"
                "    curl -H 'Authorization: Bearer " + DEMO_KEY + "' http://127.0.0.1:8000/api/v1/customers\n"
            )
        )

    def ensure_admin(self):
        User = get_user_model()
        if not User.objects.filter(username=ADMIN_USER).exists():
            User.objects.create_superuser(ADMIN_USER, "admin@example.com", ADMIN_PASSWORD)

    def ensure_key(self, program):
        if not PartnerKey.objects.filter(prefix=DEMO_KEY[: PartnerKey.PREFIX_LENGTH]).exists():
            PartnerKey.issue(program, "demo key", raw_key=DEMO_KEY)
