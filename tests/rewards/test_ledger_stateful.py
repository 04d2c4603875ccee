"""Hypothesis stateful test: random grants (spendable and pending), redemptions, expiries,
pending releases, purchase refunds (clawbacks) and adjustments against a simple model of
lots; after every step every ledger invariant holds and the balance matches the model."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from payouts.services import cancel_payout
from rewards import ledger
from rewards.errors import InsufficientPoints
from rewards.ledger_audit import find_breaches
from rewards.models import LedgerEntry, PointsAccount, RewardsSettings
from rewards.redemptions import redeem_reward
from tests.factories import CustomerFactory, ProgramFactory
from tests.rewards.factories import RewardItemFactory

START = datetime(2026, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.program = ProgramFactory()
        RewardsSettings.objects.create(program=self.program, points_validity_days=0, expiry_rounding="none")
        self.customer = CustomerFactory(program=self.program)
        self.item = RewardItemFactory(program=self.program, points_cost=100, kind="experience")
        self.cash = RewardItemFactory(program=self.program, points_cost=150, kind="cash", cash_value=Decimal("5.00"))
        self.open_payouts = []
        self.now = START
        self.n = 0
        # Model: lots as dicts; orders: order -> {"earned", "due"}.
        self.lots = []
        self.orders = {}

    def key(self, prefix):
        self.n += 1
        return f"{prefix}-{self.n}"

    # --- model helpers ---
    def model_balance(self):
        return sum(lot["remaining"] for lot in self.lots if lot["status"] == "available")

    def model_pending(self):
        return sum(lot["remaining"] for lot in self.lots if lot["status"] == "pending")

    def consume(self, points):
        available = [lot for lot in self.lots if lot["status"] == "available" and lot["remaining"]]
        available.sort(key=lambda lot: (lot["expires"] or FAR, lot["id"]))
        for lot in available:
            take = min(points, lot["remaining"])
            lot["remaining"] -= take
            points -= take

    # --- rules ---
    @rule(
        points=st.integers(1, 400),
        expires_days=st.none() | st.integers(1, 60),
        pending_days=st.none() | st.integers(1, 30),
    )
    def grant(self, points, expires_days, pending_days):
        order = self.key("order")
        expires = self.now + timedelta(days=expires_days) if expires_days else None
        pending_until = self.now + timedelta(days=pending_days) if pending_days else None
        with time_machine.travel(self.now, tick=False):
            ledger.grant_points(
                customer=self.customer, points=points, reason="grant", idempotency_key=order,
                source=("order", order), expires_at=expires, pending_until=pending_until,
            )  # fmt: skip
        self.lots.append({
            "id": self.n, "remaining": points, "expires": expires, "order": order,
            "status": "pending" if pending_until else "available", "available_at": pending_until,
        })  # fmt: skip
        self.orders[order] = {"earned": points, "due": 0}

    @rule()
    def redeem(self):
        before = self.model_balance()
        with time_machine.travel(self.now, tick=False):
            try:
                redeem_reward(customer=self.customer, item=self.item, idempotency_key=self.key("redeem"))
            except InsufficientPoints:
                assert before < 100
                return
        assert before >= 100
        self.consume(100)

    @rule()
    def redeem_cash(self):
        """A cash reward: points debited now, the payout decides later."""
        before = self.model_balance()
        with time_machine.travel(self.now, tick=False):
            try:
                redemption = redeem_reward(customer=self.customer, item=self.cash, idempotency_key=self.key("cash"))
            except InsufficientPoints:
                assert before < 150
                return
        assert before >= 150
        self.consume(150)
        self.open_payouts.append(redemption.payout_id)
        event("cash redeemed")

    @rule(data=st.data())
    def cancel_payout_refunds(self, data):
        """A cancelled payout refunds the redemption's points as a new lot."""
        if not self.open_payouts:
            return
        payout_id = data.draw(st.sampled_from(self.open_payouts))
        self.open_payouts.remove(payout_id)
        with time_machine.travel(self.now, tick=False):
            cancel_payout(payout_id, reason="test")
        refund = LedgerEntry.objects.get(redemption__payout_id=payout_id, kind="refund")
        self.lots.append({"id": self.n, "remaining": 150, "expires": refund.expires_at, "order": None,
                          "status": "available", "available_at": None})  # fmt: skip
        self.key("refund-lot")
        event("payout cancelled, points refunded")

    @rule(points=st.integers(-300, 300).filter(bool))
    def adjust(self, points):
        before = self.model_balance()
        with time_machine.travel(self.now, tick=False):
            try:
                ledger.adjust_points(
                    customer=self.customer, points=points, reason="adj", actor="test", idempotency_key=self.key("adj")
                )
            except InsufficientPoints:
                assert before < -points
                return
        if points > 0:
            self.lots.append({"id": self.n, "remaining": points, "expires": None, "order": None,
                              "status": "available", "available_at": None})  # fmt: skip
        else:
            self.consume(-points)

    @rule(days=st.integers(1, 40))
    def advance_and_run_beat(self, days):
        self.now += timedelta(days=days)
        with time_machine.travel(self.now, tick=False):
            ledger.release_pending_points()
            ledger.expire_points()
        for lot in self.lots:
            if lot["status"] == "pending" and lot["available_at"] <= self.now:
                lot["status"] = "available"
        for lot in self.lots:
            if lot["status"] == "available" and lot["expires"] and lot["expires"] <= self.now:
                lot["remaining"] = 0

    @rule(data=st.data())
    def refund_order(self, data):
        if not self.orders:
            return
        order = data.draw(st.sampled_from(sorted(self.orders)))
        with time_machine.travel(self.now, tick=False):
            ledger.claw_back(
                customer=self.customer, source_type="order", source_id=order, fraction=1.0,
                refund_key=self.key("refund"),
            )  # fmt: skip
        info = self.orders[order]
        left = info["earned"] - info["due"]
        info["due"] = info["earned"]
        for lot in self.lots:
            if lot["order"] == order and lot["status"] == "pending" and left:
                take = min(left, lot["remaining"])
                lot["remaining"] -= take
                left -= take
                if not lot["remaining"]:
                    lot["status"] = "cancelled"
        self.consume(min(left, self.model_balance()))

    @invariant()
    def ledger_is_consistent(self):
        if not hasattr(self, "customer"):
            return
        assert find_breaches(self.program) == []
        account = PointsAccount.objects.filter(customer=self.customer).first()
        got = (account.balance, account.pending) if account else (0, 0)
        assert got == (self.model_balance(), self.model_pending())


@pytest.mark.django_db
def test_ledger_state_machine():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
