from payouts import demo
from payouts.models import Hold, Payout, ReconciliationRun, Status
from tests.factories import CustomerFactory


class Bar:
    def update(self, n):
        pass

    def close(self):
        pass


def test_demo_has_payouts_in_every_state_and_is_idempotent(acme):
    CustomerFactory.create_batch(120, program=acme)

    demo.load_demo(acme, lambda **kwargs: Bar())
    demo.load_demo(acme, lambda **kwargs: Bar())

    statuses = set(Payout.objects.filter(program=acme).values_list("status", flat=True))
    assert statuses == set(Status.values)
    holds = set(Payout.objects.filter(program=acme, status=Status.PENDING_APPROVAL).values_list("hold", flat=True))
    assert holds == {Hold.APPROVAL, Hold.VELOCITY}
    assert Payout.objects.filter(program=acme).count() == 17
    assert ReconciliationRun.objects.filter(program=acme).count() == 1
