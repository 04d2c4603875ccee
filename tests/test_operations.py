"""Operations settings: the read-replica router (config/db_router.py) and the schema's
readiness for distribution by program (docs/operations.md)."""

import pytest
from django.apps import apps
from django.test import override_settings

from config import db_router

OUR_APPS = {"engagement", "channels", "webhooks", "surveys", "payouts", "rewards", "campaigns", "checkout"}
# Tables without a program column: each hangs off one parent that has it (docs/operations.md
# lists them; distributing by program would add program_id to each first).
CHILD_TABLES = {
    "engagement_program": None,
    "engagement_customereventcount": "customer",
    "engagement_customermodelvalue": "customer",
    "channels_messagestatuschange": "message",
    "channels_topicoptout": "customer",
    "surveys_question": "survey",
    "surveys_invitationstatuschange": "invitation",
    "surveys_answer": "response",
    "payouts_fundingentry": "payout",
    "payouts_payoutstatuschange": "payout",
    "payouts_payoutattempt": "payout",
    "payouts_payoutapproval": "payout",
    "rewards_portallogintoken": "customer",
    "rewards_bulkgrantrow": "bulk",
    "rewards_fulfilmentstatuschange": "subject",
    "campaigns_campaignstatuschange": "campaign",
    "campaigns_campaignaction": "campaign",
    "campaigns_actionrun": "campaign",
}
REPLICA = {
    "default": {"ENGINE": "django.db.backends.postgresql", "NAME": "primary"},
    "replica": {"ENGINE": "django.db.backends.postgresql", "NAME": "replica"},
}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_reads_go_to_the_replica_only_inside_the_context_and_only_when_one_is_configured():
    router = db_router.ReadReplicaRouter()
    assert router.db_for_read(None) == "default"
    with db_router.reading_from_replica():
        # No replica in the test settings: the context changes nothing.
        assert db_router.read_alias() == "default"
        with override_settings(DATABASES=REPLICA):
            assert router.db_for_read(None) == "replica"
            assert router.db_for_write(None) == "default"
    with override_settings(DATABASES=REPLICA):
        assert router.db_for_read(None) == "default"
        assert router.allow_migrate("replica", "engagement") is False
        assert router.allow_migrate("default", "engagement") is True


def test_metrics_read_through_the_router_connection():
    """compute_metrics runs in reading_from_replica(); its raw SQL asks read_connection()."""
    import inspect

    from engagement import metrics
    from engagement.metrics import base, customers

    assert "reading_from_replica()" in inspect.getsource(metrics.compute_metrics)
    for module in (base, customers):
        assert "connection.cursor()" not in inspect.getsource(module)


def test_every_table_has_a_program_or_is_a_listed_child_of_one():
    found = {}
    for model in apps.get_models():
        if model._meta.app_label not in OUR_APPS:
            continue
        fields = {f.name: f for f in model._meta.concrete_fields}
        if "program" in fields:
            continue
        parent = CHILD_TABLES.get(model._meta.db_table, "missing")
        found[model._meta.db_table] = parent
        if parent:
            assert parent in fields and fields[parent].is_relation, (model._meta.db_table, parent)
    assert found == CHILD_TABLES
