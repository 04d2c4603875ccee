"""Demo data for payouts (demo step 40): acme funded, its policy set, and payouts through the
sandbox provider in every state — succeeded, failed, processing (waiting, and unknown
being looked up), queued (new, and a retry after a transient error), cancelled, reversed,
and pending approval (above the threshold with four eyes, one of them already approved
once; held by the velocity check) — plus a reconciliation run. Two approvers, staff of the
program with the approve_payout permission, so four eyes can be completed in the demo;
load_demo prints their logins. Idempotent: users and payouts are created once."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils import timezone

from engagement.models import Customer, ProgramStaff
from payouts import funding, processing, reconciliation, services
from payouts.models import FundingEntry, Payout

APPROVERS = ("approver1", "approver2")
APPROVER_PASSWORD = "ganjaran-demo"

# (what to do, method, amount); sandbox magic cents: .51 rejected, .52 transient, .53 timeout.
PLAN = [
    ("succeed", "gift_card", "50.00"),
    ("succeed", "gift_card", "25.00"),
    ("succeed", "paypal", "20.00"),
    ("succeed", "upi", "15.00"),
    ("succeed", "bank_transfer", "120.00"),
    ("succeed", "voucher", "10.00"),
    ("fail", "paypal", "30.51"),
    ("fail", "gift_card", "45.51"),
    ("wait", "gift_card", "35.00"),
    ("unknown", "gift_card", "40.53"),
    ("queue", "voucher", "10.00"),
    ("retry", "gift_card", "12.52"),
    ("cancel", "paypal", "25.00"),
    ("reverse", "bank_transfer", "80.00"),
    ("approval", "bank_transfer", "750.00"),
    ("approval", "gift_card", "600.00"),
    ("approved once", "paypal", "900.00"),
    ("velocity", "upi", "18.00"),
]


def destination(customer, method, shared=False):
    email = customer.email or f"{customer.external_id}@example.com"
    handle = "shared.wallet" if shared else customer.external_id.replace("-", ".")
    return {
        "gift_card": {"email": email, "product": "GRAB-MY"},
        "bank_transfer": {
            "account_name": customer.name or customer.external_id,
            "account_number": f"5140{customer.pk:08d}",
            "bank_code": "MBBEMYKL",
        },
        "upi": {"vpa": f"{handle}@okaxis"},
        "paypal": {"email": email},
        "voucher": {"email": email},
    }[method]


def load_demo(program, progress):
    approvers = ensure_approvers(program)
    if Payout.objects.filter(program=program, idempotency_key__startswith="demo-").exists():
        return
    settings = services.get_settings(program)
    settings.approval_threshold = Decimal("500.00")
    settings.four_eyes = True
    settings.customer_daily_limit = Decimal("2000.00")
    settings.sandbox_completion_seconds = 0
    settings.save()
    account = funding.get_account(program, program.currency)
    account.low_balance_threshold = Decimal("5000.00")
    account.save(update_fields=["low_balance_threshold"])
    if not FundingEntry.objects.filter(account=account, kind=FundingEntry.Kind.TOP_UP).exists():
        services.record_funding_top_up(program, program.currency, Decimal("50000.00"), note="Demo opening balance")

    # Customers from the 101st (busy ones earn and redeem above); fewer in a small demo.
    offset = max(0, min(100, Customer.objects.filter(program=program).count() - len(PLAN)))
    customers = list(Customer.objects.filter(program=program).order_by("id")[offset : offset + len(PLAN)])
    later = timezone.now() + timedelta(minutes=5)
    bar = progress(total=len(PLAN), desc="payouts")
    for index, ((action, method, amount), customer) in enumerate(zip(PLAN, customers, strict=False)):
        if action == "velocity":  # the same wallet as an earlier customer: held for review
            make = _request(program, customers[3], method, amount, index, destination(customers[3], "upi"))
            make = _request(program, customer, method, amount, index + 100, destination(customers[3], "upi"))
        else:
            make = _request(program, customer, method, amount, index, destination(customer, method))
        _act(make, action, later, approvers)
        bar.update(1)
    bar.close()
    now = timezone.now()
    reconciliation.reconcile(program, "sandbox", now - timedelta(days=1), now + timedelta(minutes=1))


def _request(program, customer, method, amount, index, dest):
    return services.request_payout(
        program=program,
        customer=customer,
        amount=Decimal(amount),
        currency=program.currency,
        method=method,
        destination=dest,
        source="campaign" if index % 2 else "api",
        source_ref=f"demo-{index}",
        idempotency_key=f"demo-{index}",
        enqueue=False,
    )


def _act(payout, action, later, approvers):
    if action in ("succeed", "reverse", "fail", "wait", "unknown", "retry"):
        processing.process_payout(payout.pk)
    if action in ("succeed", "reverse"):
        processing.process_payout(payout.pk, now=later)
    if action == "reverse":
        services.reverse_payout(payout.pk, reason="Bank returned the transfer (demo)")
    if action == "cancel":
        services.cancel_payout(payout.pk, reason="Customer changed their mind (demo)")
    if action == "approved once":  # the second approver (or admin) completes it
        services.approve_payout(payout.pk, user=approvers[0])


def ensure_approvers(program):
    """approver1 and approver2: staff of `program` who may view payouts and approve or
    reject them (four eyes needs two different users). Created once; returns both."""
    User = get_user_model()
    permissions = Permission.objects.filter(
        Q(codename__startswith="view_") | Q(codename="approve_payout"), content_type__app_label="payouts"
    )
    users = []
    for username in APPROVERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username, f"{username}@example.com", APPROVER_PASSWORD, is_staff=True)
            user.user_permissions.set(permissions)
        ProgramStaff.objects.get_or_create(program=program, user=user)
        users.append(user)
    return users


def sign_in_lines(program, site):
    """load_demo's final block: the approvers' logins and where their queue is."""
    names = " and ".join(repr(name) for name in APPROVERS)
    return [
        f"approvers: {site}/admin/payouts/payoutreview/   users {names}, password {APPROVER_PASSWORD!r}"
        " (four eyes: each approves once)"
    ]
