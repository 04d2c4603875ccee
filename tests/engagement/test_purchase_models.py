"""Purchase models per program (engagement.purchase_models): the summary from the events, the
fits and stored values, the rule below the threshold, --as-of, the backtest, the API and the
churn-risk campaign trigger."""

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from engagement import bgnbd, hooks, model_pages, purchase_models, scoring
from engagement import gamma_gamma as gg
from engagement.beat import SCHEDULE
from engagement.models import Customer, CustomerModelValue, CustomerScore, Event, PurchaseModelFit, ScoreTransition
from engagement.purchase_models import Kind
from engagement.tasks import fit_models_task
from rewards.campaigns.models import CampaignEffect
from tests.campaigns.conftest import make_campaign

AS_OF = date(2025, 7, 1)  # midnight in Asia/Kuala_Lumpur = 2025-06-30 16:00 UTC
_ids = itertools.count()


def purchase(customer, at, value="10.00"):
    return Event(
        program_id=customer.program_id,
        customer=customer,
        event_id=f"pm-{next(_ids)}",
        type="purchase",
        occurred_at=at,
        value=Decimal(value),
    )


def simulated_history(program, n, seed=17, weeks=78):
    """`n` customers acquired over the 52 weeks before the last 26 before AS_OF, buying as BG/NBD
    (r=0.25, α=4, a=0.8, b=2.5, weeks) with Gamma-Gamma spend (p=6, q=4, γ=15); one bulk insert."""
    rng = np.random.default_rng(seed)
    end = purchase_models.day_start(program, AS_OF)
    start = end - timedelta(weeks=weeks)
    customers = Customer.objects.bulk_create(Customer(program=program, external_id=f"sim-{i}") for i in range(n))
    events = []
    for customer in customers:
        rate, dropout, nu = rng.gamma(0.25, 1 / 4), rng.beta(0.8, 2.5), rng.gamma(4.0, 1 / 15)
        first = t = rng.uniform(0, 52)  # weeks after start
        while t < weeks:
            events.append(purchase(customer, start + timedelta(weeks=t), f"{rng.gamma(6.0, 1 / nu):.2f}"))
            # BG/NBD: a dropout chance after each repeat transaction (not the first).
            if t > first and rng.random() < dropout:
                break
            t += rng.exponential(1 / rate)
    Event.objects.bulk_create(events)
    return customers


def test_the_pipeline_recovers_the_simulated_parameters(acme):
    # Given 5,000 customers simulated from r=0.25, α=4, a=0.8, b=2.5 (weeks) and p=6, q=4, γ=15,
    # stored as purchase events (seed 17), acquired over the first 52 of 78 weeks
    acme.model_min_repeat_buyers = 50
    acme.save()
    simulated_history(acme, 5000)

    fits = purchase_models.fit_models(acme, AS_OF)

    # Then the fits, from the events through whole local days, are within the stated
    # tolerance: ±15 % for r, ±20 % for α (T counts from the start of the first purchase's day,
    # half a day more exposure on average: α comes out ~5 % high in simulations), ±25 % for a
    # and b (the dropout process is the least determined), ±15 % for p, q and γ.
    bg, spend = fits[Kind.BGNBD], fits[Kind.GAMMA_GAMMA]
    assert bg.usable and spend.usable
    assert bg.parameters == pytest.approx({"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}, rel=0.25)
    assert (bg.parameters["r"], bg.parameters["alpha"]) == (pytest.approx(0.25, rel=0.15), pytest.approx(4.0, rel=0.20))
    assert spend.parameters == pytest.approx({"p": 6.0, "q": 4.0, "gamma": 15.0}, rel=0.15)


def test_summary_counts_one_local_day_as_one_transaction(acme, alice, bob):
    # Given alice's purchases in Kuala Lumpur time (UTC+8): two on 1 January (02:00 and 15:00
    # UTC, 10:00 and 23:00 local), one at 00:30 local on 2 January (16:30 UTC on 1 January),
    # one on 15 January, and one on AS_OF itself (not before it); bob one on 10 January.
    Event.objects.bulk_create(
        [
            purchase(alice, datetime(2025, 1, 1, 2, tzinfo=UTC), "10.00"),
            purchase(alice, datetime(2025, 1, 1, 15, tzinfo=UTC), "5.00"),
            purchase(alice, datetime(2025, 1, 1, 16, 30, tzinfo=UTC), "20.00"),
            purchase(alice, datetime(2025, 1, 15, 4, tzinfo=UTC), "30.00"),
            purchase(alice, datetime(2025, 6, 30, 16, tzinfo=UTC), "99.00"),
            purchase(bob, datetime(2025, 1, 10, 4, tzinfo=UTC), "7.00"),
            Event(
                program=acme,
                customer=bob,
                event_id="pv",
                type="page_view",
                occurred_at=datetime(2025, 2, 1, tzinfo=UTC),
            ),
        ]
    )

    summary = purchase_models.purchase_summary(acme, AS_OF)

    # Then alice: 3 transactions (x = 2), the last 14 days after the first, first 181 days
    # before AS_OF, repeat value 20 + 30; bob: x = 0.
    assert summary.customer_ids.tolist() == [alice.pk, bob.pk]
    assert summary.x.tolist() == [2, 0]
    assert summary.t_x_days.tolist() == [14.0, 0.0]
    assert summary.T_days.tolist() == [181.0, 172.0]
    assert summary.repeat_value.tolist() == [50.0, 0.0]


def test_below_the_threshold_the_rule_is_used(acme, acme_api, alice, bob):
    # Given two customers, one with a repeat purchase, and a scored program
    Event.objects.bulk_create(
        [
            purchase(alice, datetime(2025, 3, 1, 4, tzinfo=UTC)),
            purchase(alice, datetime(2025, 4, 1, 4, tzinfo=UTC)),
            purchase(bob, datetime(2025, 5, 1, 4, tzinfo=UTC)),
        ]
    )
    scoring.rescore_program(acme)

    fits = purchase_models.fit_models(acme, AS_OF)

    # Then both fits are stored but not used (1 repeat buyer < 200): no values, the rule stays
    bg = fits[Kind.BGNBD]
    assert (bg.customers, bg.repeat_buyers, bg.usable) == (2, 1, False)
    assert (fits[Kind.GAMMA_GAMMA].customers, fits[Kind.GAMMA_GAMMA].usable) == (1, False)
    assert CustomerModelValue.objects.count() == 0
    assert not ScoreTransition.objects.filter(kind="churn_model").exists()
    body = acme_api.get("/api/v1/customers/alice/engagement").json()
    assert (body["churn_risk"], body["churn_risk_method"]) == (
        str(CustomerScore.objects.get(customer=alice).churn_risk),
        "rule",
    )
    assert [body[k] for k in ("p_alive", "expected_purchases_90d", "predicted_clv", "as_of")] == [None] * 4


@pytest.fixture
def modelled(acme):
    """acme with 600 simulated customers, a threshold of 50 repeat buyers, fitted as of AS_OF."""
    acme.model_min_repeat_buyers = 50
    acme.save()
    customers = simulated_history(acme, 600)
    call_command("fit_models", "--program", "acme", "--as-of", AS_OF.isoformat())
    return customers


def test_fit_stores_every_purchasers_values(acme, modelled):
    bg = PurchaseModelFit.objects.get(program=acme, kind="bgnbd", as_of=AS_OF)
    spend = PurchaseModelFit.objects.get(program=acme, kind="gamma_gamma", as_of=AS_OF)
    summary = purchase_models.purchase_summary(acme, AS_OF)
    assert (bg.usable, bg.converged, spend.usable) == (True, True, True)
    assert bg.customers == 600 and bg.repeat_buyers == summary.repeat_buyers
    assert set(bg.parameters) == {"r", "alpha", "a", "b"}
    assert set(spend.parameters) == {"p", "q", "gamma"}
    assert CustomerModelValue.objects.filter(fit=bg).count() == 600

    # Each stored value is the formula at the stored parameters, per customer.
    params = bgnbd.BgNbdParams(**bg.parameters)
    gg_params = gg.GammaGammaParams(**spend.parameters)
    i = int(np.argmax(summary.x))  # the most frequent buyer
    x, t_x, T = summary.x[i], summary.t_x_days[i] / 7, summary.T_days[i] / 7
    value = CustomerModelValue.objects.get(fit=bg, customer_id=summary.customer_ids[i])
    assert value.repeat_transactions == x
    assert value.p_alive == pytest.approx(float(bgnbd.p_alive(params, x, t_x, T)), rel=1e-12)
    assert value.expected_purchases_90d == pytest.approx(
        float(bgnbd.conditional_expected_purchases(params, 90 / 7, x, t_x, T)), rel=1e-12
    )
    churn = float(bgnbd.probability_no_purchase(params, 90 / 7, x, t_x, T))
    assert value.churn_risk == Decimal(f"{churn:.3f}")
    assert value.expected_spend == Decimal(f"{float(gg.expected_spend(gg_params, x, summary.repeat_value[i] / x)):.2f}")
    # 12-month CLV = spend × Σ monthly expected purchases discounted at 10 % a year
    months = [float(bgnbd.conditional_expected_purchases(params, 365 * k / 12 / 7, x, t_x, T)) for k in range(13)]
    discounted = sum((months[k] - months[k - 1]) / 1.1 ** (k / 12) for k in range(1, 13))
    expected_clv = float(gg.expected_spend(gg_params, x, summary.repeat_value[i] / x)) * discounted
    assert float(value.predicted_clv) == pytest.approx(expected_clv, abs=0.006)

    # A customer without a repeat purchase is alive for sure.
    once = CustomerModelValue.objects.filter(fit=bg, repeat_transactions=0)
    assert once.exists() and set(once.values_list("p_alive", flat=True)) == {1.0}


def test_backtest_compares_the_holdout_week_by_week(acme, modelled):
    test = PurchaseModelFit.objects.get(program=acme, kind="bgnbd", as_of=AS_OF).backtest

    # The calibration customers' actual repeat transactions in the 26 holdout weeks, counted
    # here from the events (one per local day).
    cut = purchase_models.day_start(acme, AS_OF - timedelta(weeks=26))
    end = purchase_models.day_start(acme, AS_OF)
    early = set(Event.objects.filter(program=acme, occurred_at__lt=cut).values_list("customer_id", flat=True))
    days = {
        (e.customer_id, e.occurred_at.astimezone(cut.tzinfo).date())
        for e in Event.objects.filter(program=acme, occurred_at__gte=cut, occurred_at__lt=end, customer_id__in=early)
    }
    assert test["calibration_end"] == "2024-12-31"
    assert [w["week"] for w in test["weeks"]] == list(range(1, 27))
    assert test["actual_total"] == len(days) == test["weeks"][-1]["actual"]
    assert test["predicted_total"] == test["weeks"][-1]["predicted"]
    assert test["total_error"] == pytest.approx(test["predicted_total"] - test["actual_total"], abs=0.011)
    errors = [abs(w["predicted"] - w["actual"]) / w["actual"] for w in test["weeks"] if w["actual"]]
    assert test["mape"] == pytest.approx(100 * sum(errors) / len(errors), abs=0.05)
    assert all(
        a["actual"] <= b["actual"] and a["predicted"] <= b["predicted"] for a, b in itertools.pairwise(test["weeks"])
    )


def test_as_of_ignores_later_purchases(acme, modelled):
    before = PurchaseModelFit.objects.get(program=acme, kind="bgnbd", as_of=AS_OF)
    # Purchases from AS_OF on (at its very first instant, and later) change nothing as of AS_OF.
    first = modelled[0]
    Event.objects.bulk_create(
        [purchase(first, purchase_models.day_start(acme, AS_OF)), purchase(first, datetime(2025, 9, 1, tzinfo=UTC))]
    )

    call_command("fit_models", "--program", "acme", "--as-of", AS_OF.isoformat())

    after = PurchaseModelFit.objects.get(program=acme, kind="bgnbd", as_of=AS_OF)
    assert after.pk != before.pk  # replaced, not added
    assert (after.parameters, after.log_likelihood, after.backtest) == (
        before.parameters,
        before.log_likelihood,
        before.backtest,
    )
    assert PurchaseModelFit.objects.filter(program=acme).count() == 2


def test_models_api(acme, acme_api, modelled):
    body = acme_api.get("/api/v1/models").json()

    assert [m["kind"] for m in body["models"]] == ["bgnbd", "gamma_gamma"]
    bg = body["models"][0]
    fit = PurchaseModelFit.objects.get(program=acme, kind="bgnbd")
    assert bg == {
        "kind": "bgnbd",
        "as_of": "2025-07-01",
        "fitted_at": bg["fitted_at"],
        "parameters": fit.parameters,
        "time_unit": "week",
        "log_likelihood": fit.log_likelihood,
        "customers": 600,
        "repeat_buyers": fit.repeat_buyers,
        "converged": True,
        "used": True,
        "backtest": fit.backtest,
    }
    assert datetime.fromisoformat(bg["fitted_at"]) == fit.fitted_at
    assert acme_api.get("/api/v1/models?as_of=2025-07-01").json() == body
    missing = acme_api.get("/api/v1/models?as_of=2025-06-01")
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, "unknown_fit")
    bad = acme_api.get("/api/v1/models?as_of=2025-02-30")
    assert (bad.status_code, bad.json()["errors"][0]["attr"]) == (400, "as_of")


def test_engagement_api_reads_the_models_values(acme, acme_api, modelled):
    customer = modelled[0]
    value = CustomerModelValue.objects.get(customer=customer)

    body = acme_api.get(f"/api/v1/customers/{customer.external_id}/engagement").json()

    assert {
        k: body[k]
        for k in (
            "churn_risk",
            "churn_risk_method",
            "p_alive",
            "expected_purchases_90d",
            "expected_purchases_365d",
            "expected_spend",
            "predicted_clv",
            "currency",
            "as_of",
        )
    } == {
        "churn_risk": str(value.churn_risk),
        "churn_risk_method": "model",
        "p_alive": f"{value.p_alive:.3f}",
        "expected_purchases_90d": f"{value.expected_purchases_90d:.3f}",
        "expected_purchases_365d": f"{value.expected_purchases_365d:.3f}",
        "expected_spend": str(value.expected_spend),
        "predicted_clv": str(value.predicted_clv),
        "currency": "MYR",
        "as_of": "2025-07-01",
    }
    dated = acme_api.get(f"/api/v1/customers/{customer.external_id}/engagement?as_of=2025-07-01").json()
    assert dated == body
    missing = acme_api.get(f"/api/v1/customers/{customer.external_id}/engagement?as_of=2025-01-01")
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, "unknown_fit")


def test_a_customer_without_a_purchase_keeps_the_rule(acme, acme_api, modelled):
    Customer.objects.create(program=acme, external_id="browser")
    scoring.rescore_program(acme)

    body = acme_api.get("/api/v1/customers/browser/engagement").json()

    assert (body["churn_risk"], body["churn_risk_method"], body["p_alive"], body["as_of"]) == (
        "1.000",
        "rule",
        None,
        None,
    )


def test_churn_trigger_uses_the_models_value(acme, modelled):
    # Given a churn-risk campaign, then a refit that records churn_model transitions for the
    # customers whose model band differs from their previous (the first fit's) band
    campaign = make_campaign(acme, "churn_risk", {"above": 0.7})
    first = PurchaseModelFit.objects.get(program=acme, kind="bgnbd", as_of=AS_OF)
    later = AS_OF + timedelta(weeks=8)  # no purchases since: churn risks rise

    purchase_models.fit_models(acme, later)

    new = PurchaseModelFit.objects.get(program=acme, kind="bgnbd", as_of=later)
    old = dict(CustomerModelValue.objects.filter(fit=first).values_list("customer_id", "churn_risk"))
    crossed = {
        c
        for c, risk in CustomerModelValue.objects.filter(fit=new).values_list("customer_id", "churn_risk")
        if float(old[c]) < 0.7 <= float(risk)
    }
    assert crossed
    effects = set(CampaignEffect.objects.filter(campaign=campaign).values_list("customer_id", flat=True))
    assert effects == crossed

    # A rule transition of a modelled customer does not trigger it; one of a customer without
    # a model value does.
    modelled_one = next(iter(crossed))
    browser = Customer.objects.create(program=acme, external_id="browser")
    rule_ids = [
        ScoreTransition.objects.create(
            program=acme, customer=c, kind="churn_risk", from_value="0.1", to_value="0.9", occurred_at=datetime.now(UTC)
        ).pk
        for c in (Customer.objects.get(pk=modelled_one), browser)
    ]
    hooks.run_transition_handlers(acme.pk, rule_ids)

    assert set(CampaignEffect.objects.filter(campaign=campaign).values_list("customer_id", flat=True)) == crossed | {
        browser.pk
    }

    # A refit with the same as_of compares with the fit it replaces: no band moved.
    transitions = ScoreTransition.objects.count()
    purchase_models.fit_models(acme, later)
    assert ScoreTransition.objects.count() == transitions

    # A fit of the past (analysing history) records no transitions and sets off nothing.
    transitions = ScoreTransition.objects.count()
    purchase_models.fit_models(acme, AS_OF - timedelta(weeks=4))
    assert ScoreTransition.objects.count() == transitions
    assert PurchaseModelFit.objects.get(program=acme, kind="bgnbd", as_of=AS_OF - timedelta(weeks=4)).usable
    assert set(CampaignEffect.objects.filter(campaign=campaign).values_list("customer_id", flat=True)) == crossed | {
        browser.pk
    }


def test_model_page_shows_parameters_and_the_backtest_chart(acme, admin_client, modelled):
    fit = PurchaseModelFit.objects.get(program=acme, kind="bgnbd")

    page = admin_client.get(f"/admin/dashboard/models/?program={acme.pk}").content.decode()

    assert f"r = {fit.parameters['r']:.4f}" in page
    assert 'data-kind="gamma_gamma"' in page
    chart = model_pages.backtest_chart(fit.backtest["weeks"])
    assert f'<polyline class="eng-actual" points="{chart["actual"]}"/>' in page
    assert f'<polyline class="eng-predicted" points="{chart["predicted"]}"/>' in page
    assert str(fit.backtest["mape"]) in page
    # Both lines on one scale: the tallest point of either reaches the top of the box.
    tops = [float(p.split(",")[1]) for line in (chart["actual"], chart["predicted"]) for p in line.split()]
    assert min(tops) == pytest.approx(model_pages.PAD, abs=0.05)


def test_model_page_without_a_fit(acme, admin_client):
    page = admin_client.get("/admin/dashboard/models/").content.decode()
    assert "No fit yet." in page


def test_dashboard_and_customer_page_show_churn_risk_and_clv(acme, admin_client, modelled):
    fit = PurchaseModelFit.objects.get(program=acme, kind="bgnbd")
    at_risk = CustomerModelValue.objects.filter(fit=fit, churn_risk__gte=Decimal("0.5")).exclude(predicted_clv=None)
    top = at_risk.order_by("-predicted_clv", "customer_id").first()

    page = admin_client.get(f"/admin/dashboard/?program={acme.pk}").content.decode()

    assert f"{at_risk.count()} customers with churn risk ≥ 0.5" in page
    assert f">{top.customer.external_id}</a></th><td>RM{top.predicted_clv:,.2f}</td><td>{top.churn_risk}</td>" in page
    risks = [float(r) for r in CustomerModelValue.objects.filter(fit=fit).values_list("churn_risk", flat=True)]
    for band in range(10):
        n = sum(1 for r in risks if band / 10 <= r < (band + 1) / 10 or (band == 9 and r == 1.0))
        assert f"<title>{band / 10:.1f}–{(band + 1) / 10:.1f}: {n}</title>" in page

    customer_page = admin_client.get(f"/admin/engagement/customer/{top.customer_id}/change/").content.decode()
    assert f"churn risk {top.churn_risk} · P(alive) {top.p_alive:.3f}" in customer_page
    assert f"{top.predicted_clv} MYR (model as of 2025-07-01)" in customer_page


def test_the_schema_documents_the_models_and_the_new_fields(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)

    models = schema["paths"]["/api/v1/models"]["get"]
    assert models["operationId"] == "purchase_models"
    assert [p["name"] for p in models["parameters"]] == ["as_of"]
    fit = schema["components"]["schemas"]["PurchaseModelFit"]["properties"]
    assert set(fit) == {
        "kind",
        "as_of",
        "fitted_at",
        "parameters",
        "time_unit",
        "log_likelihood",
        "customers",
        "repeat_buyers",
        "converged",
        "used",
        "backtest",
    }
    engagement = schema["components"]["schemas"]["CustomerEngagement"]["properties"]
    assert {
        "p_alive",
        "expected_purchases_90d",
        "expected_purchases_365d",
        "predicted_clv",
        "churn_risk",
        "churn_risk_method",
        "as_of",
    } <= set(engagement)
    assert engagement["churn_risk_method"]["oneOf"][0] == {"$ref": "#/components/schemas/ChurnRiskMethodEnum"}
    assert schema["components"]["schemas"]["ChurnRiskMethodEnum"]["enum"] == ["model", "rule"]


def test_weekly_task_and_command_errors(acme, alice):
    Event.objects.bulk_create([purchase(alice, datetime(2025, 3, 1, 4, tzinfo=UTC))])

    assert fit_models_task(acme.pk) == 1
    assert fit_models_task(10**9) == 0
    assert "engagement.tasks.fit_all_models_task" in {e["task"] for e in SCHEDULE.values()}
    with pytest.raises(CommandError, match="No program with slug 'nope'"):
        call_command("fit_models", "--program", "nope")
    with pytest.raises(CommandError, match="--calibration-weeks must be at least 1"):
        call_command("fit_models", "--program", "acme", "--calibration-weeks", "0")
    assert PurchaseModelFit.objects.filter(program=acme).count() == 2


def regular_buyers(program, n, weeks=78):
    """`n` customers, each buying every 7 days from a first week spread over the first 52 of
    `weeks` until AS_OF: no one ever drops out, so BG/NBD's dropout parameters run to their
    bounds and the fit does not converge."""
    end = purchase_models.day_start(program, AS_OF)
    start = end - timedelta(weeks=weeks)
    customers = Customer.objects.bulk_create(Customer(program=program, external_id=f"reg-{i}") for i in range(n))
    Event.objects.bulk_create(
        purchase(customer, start + timedelta(weeks=week, hours=1))
        for i, customer in enumerate(customers)
        for week in range(i % 52, weeks)
    )


def test_a_backtest_whose_calibration_fit_fails_is_stored_and_shown_as_such(acme, admin_client):
    # Given customers who buy every week and never stop (the dropout estimate runs to its bound)
    regular_buyers(acme, 60)

    fits = purchase_models.fit_models(acme, AS_OF)

    # Then the fit is stored (no NaN in its JSON), its backtest says the calibration fit did not
    # converge and predicts nothing, and the model page says so instead of drawing a chart.
    test = PurchaseModelFit.objects.get(pk=fits[Kind.BGNBD].pk).backtest
    assert test == {
        "calibration_end": "2024-12-31",
        "holdout_weeks": 26,
        "weeks": [],
        "converged": False,
        "customers": 60,
    }
    page = admin_client.get(f"/admin/dashboard/models/?program={acme.pk}").content.decode()
    assert "did not converge: no backtest." in page
    assert "eng-predicted" not in page
