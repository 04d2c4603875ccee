"""Factories for rewards models."""

from decimal import Decimal

import factory

from rewards.models import RewardItem, RewardKind, Tier, VoucherCode


class RewardItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RewardItem

    kind = RewardKind.MERCHANDISE
    title_en = factory.Sequence(lambda n: f"Reward {n}")
    title_ar = factory.LazyAttribute(lambda o: f"مكافأة {o.title_en}")
    title_ms = factory.LazyAttribute(lambda o: f"Ganjaran {o.title_en}")
    points_cost = 100
    cash_value = Decimal("10.00")


class VoucherItemFactory(RewardItemFactory):
    kind = RewardKind.VOUCHER
    title_en = factory.Sequence(lambda n: f"Coffee voucher {n}")


class VoucherCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VoucherCode

    item = factory.SubFactory(VoucherItemFactory)
    program = factory.LazyAttribute(lambda o: o.item.program)
    code = factory.Sequence(lambda n: f"CODE-{n:05d}")


def make_tiers(program):
    return [
        Tier.objects.create(program=program, name="Bronze", name_ar="برونزي", name_ms="Gangsa", min_points=0),
        Tier.objects.create(
            program=program,
            name="Silver",
            name_ar="فضي",
            name_ms="Perak",
            min_points=500,
            earn_multiplier=Decimal("1.25"),
        ),
        Tier.objects.create(
            program=program,
            name="Gold",
            name_ar="ذهبي",
            name_ms="Emas",
            min_points=2000,
            earn_multiplier=Decimal("1.5"),
        ),
    ]
