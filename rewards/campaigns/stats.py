"""Read side: a campaign's numbers for the admin (and the docs' examples)."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum

from engagement.models import Event
from rewards.campaigns.models import ActionRun, CampaignEffect

CONVERSION_DAYS = 7


def campaign_stats(campaign):
    """qualified, limited, over_budget, granted, points, money, survey_sends, messages,
    pending, conversions (qualified customers who bought within 7 days after the trigger)."""
    effects = CampaignEffect.objects.filter(campaign=campaign)
    by_status = dict(effects.values_list("status").annotate(n=Count("id")).order_by())
    done = ActionRun.objects.filter(campaign=campaign, status=ActionRun.Status.DONE)
    totals = done.aggregate(points=Sum("points"), money=Sum("money"))
    by_kind = dict(done.values_list("kind").annotate(n=Count("id")).order_by())
    bought_after = Event.objects.filter(
        customer_id=OuterRef("customer_id"),
        type="purchase",
        occurred_at__gt=OuterRef("occurred_at"),
        occurred_at__lte=OuterRef("occurred_at") + timedelta(days=CONVERSION_DAYS),
    )
    qualified = effects.filter(status=CampaignEffect.Status.QUALIFIED)
    return {
        "qualified": by_status.get("qualified", 0),
        "limited": by_status.get("limited", 0),
        "over_budget": by_status.get("budget_exhausted", 0),
        "granted": qualified.filter(Exists(done.filter(effect_id=OuterRef("pk")))).count(),
        "points": totals["points"] or 0,
        "money": totals["money"] or Decimal("0.00"),
        "survey_sends": by_kind.get("send_survey", 0),
        "messages": by_kind.get("send_message", 0),
        "payouts": by_kind.get("create_payout", 0),
        "pending": ActionRun.objects.filter(campaign=campaign, status=ActionRun.Status.PENDING).count(),
        "waiting_triggers": campaign.pending_triggers.filter(status="pending").count(),
        "conversions": qualified.filter(Exists(bought_after)).count(),
        "failed": ActionRun.objects.filter(campaign=campaign).filter(Q(status=ActionRun.Status.FAILED)).count(),
    }
