"""Demo data for campaigns (order 50): active campaigns from the templates, run over the last
weeks of demo events so that they have produced grants, messages and survey sends.

Idempotent: campaigns are found by template key; the backfill and the release sweeps use the
same exactly-once keys as production, so a second run creates nothing new.
"""

from datetime import timedelta

from django.utils import timezone

from rewards.campaigns import engine, scheduling
from rewards.campaigns.models import Campaign
from rewards.campaigns.templates import create_from_template

BACKFILL_DAYS = 10
DEMO_TEMPLATES = [
    "purchase_points",
    "purchase_csat",
    "cart_abandoned",
    "ticket_unresolved",
    "nps_detractor",
    "nps_promoter",
    "app_uninstalled",
    "segment_win_back",
    "birthday_points",
]

# What customers read in their activity for the demo's point-granting campaigns.
CUSTOMER_TITLES = {
    "purchase_points": {
        "en": "5% back on big orders",
        "ar": "استرداد 5% على الطلبات الكبيرة",
        "ms": "5% kembali untuk pesanan besar",
    },
    "segment_win_back": {"en": "We missed you", "ar": "اشتقنا إليك", "ms": "Kami rindu anda"},
    "birthday_points": {"en": "Happy birthday!", "ar": "عيد ميلاد سعيد!", "ms": "Selamat hari jadi!"},
}


def _surveys(program):
    from surveys.models import Survey

    found = {s.kind: s for s in Survey.objects.filter(program=program, is_active=True).order_by("-id")}
    if "custom" not in found:
        from surveys.definitions import create_survey

        # A one-question "why did you leave?" survey for the app-uninstalled moment.
        found["custom"] = Survey.objects.filter(program=program, name="Why did you leave?").first() or create_survey(
            program=program, name="Why did you leave?", kind=Survey.Kind.CUSTOM, channels=["email", "push"]
        )
    return found


def load_demo(program, progress):
    surveys = _surveys(program)
    existing = {c.template_key: c for c in Campaign.objects.filter(program=program).exclude(template_key="")}
    campaigns = []
    for key in DEMO_TEMPLATES:
        campaign = existing.get(key) or create_from_template(program, key, status="active", surveys=surveys)
        campaigns.append(campaign)
        if key in CUSTOMER_TITLES and not campaign.customer_title_en:
            titles = CUSTOMER_TITLES[key]
            Campaign.objects.filter(pk=campaign.pk).update(
                customer_title_en=titles["en"], customer_title_ar=titles["ar"], customer_title_ms=titles["ms"]
            )
    now = timezone.now()
    start = now - timedelta(days=BACKFILL_DAYS)
    with progress(total=len(campaigns), desc="campaigns over recent events") as bar:
        for campaign in Campaign.objects.filter(pk__in=[c.pk for c in campaigns]).select_related("program"):
            if campaign.status == Campaign.Status.ACTIVE and campaign.trigger_kind in engine.triggers.EVENT_KINDS:
                engine.backfill(campaign, start, now, now)
            bar.update(1)
    while scheduling.release_due_triggers(now=now):
        pass
    while scheduling.release_due_actions(now=now):
        pass
    scheduling.run_scheduled_triggers(now=now)
