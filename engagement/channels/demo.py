"""Demo data for channels (order 12): acme's contact policy, an admin-edited template, a few
push subscriptions and a small message log. Idempotent: rows are got-or-created and
messages carry idempotency keys, so a second run adds nothing."""

from engagement.channels.models import ContactPolicy, MessageTemplate, PushSubscription
from engagement.channels.sending import send_message

WIN_BACK_CUSTOMERS = 12
PUSH_SUBSCRIBERS = 20


def load_demo(program, progress):
    ContactPolicy.objects.get_or_create(
        program=program,
        defaults={"max_per_day": 5, "max_per_week": 15, "max_per_month": 40, "min_gap_minutes": 0},
    )
    MessageTemplate.objects.get_or_create(
        program=program,
        key="reward_granted",
        channel="email",
        locale="en",
        defaults={
            "subject": "{{ points }} {{ program.points_name }} are yours",
            "body": "Hi {{ customer.name }}, thanks for shopping with {{ program.name }}: "
            "{{ points }} {{ program.points_name }} were added to your account.",
        },
    )
    customers = list(program.customers.filter(erased_at__isnull=True).order_by("id")[:PUSH_SUBSCRIBERS])
    for customer in customers:
        if customer.consent_push:
            PushSubscription.objects.get_or_create(
                program=program,
                customer=customer,
                endpoint=f"https://push.example.invalid/demo/{customer.external_id}",
                defaults={"p256dh": "demo-key", "auth": "demo-auth", "user_agent": "Demo browser"},
            )
    bar = progress(total=WIN_BACK_CUSTOMERS, desc="channels: demo messages")
    for customer in program.customers.filter(erased_at__isnull=True).order_by("id")[:WIN_BACK_CUSTOMERS]:
        send_message(
            customer=customer,
            channel="email",
            template_key="win_back",
            context={"offer": "Here are 100 bonus points on your next visit."},
            source="demo",
            idempotency_key=f"demo:win_back:{customer.external_id}",
        )
        bar.update(1)
    bar.close()
