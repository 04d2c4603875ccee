"""Purchase models per program (METRICS.md section 9): BG/NBD for P(alive), expected purchases
and churn risk, Gamma-Gamma for spend per purchase, and the 12-month CLV from both.

A fit as of a date D uses the purchases strictly before D's start in the program's time zone:
1. one SQL statement builds each purchaser's summary: purchases on one local calendar day are
   one transaction (their values summed); x = transactions − 1, t_x = days from the first to
   the last, T = days from the first to D, and the mean value of the repeat transactions;
2. the fits run once on those arrays (engagement.bgnbd, engagement.gamma_gamma), time in weeks;
3. the backtest fits again on the purchases before a calibration cut and compares the
   predicted cumulative repeat transactions of those customers per week of the holdout with
   the actual ones;
4. if the BG/NBD fit is usable (converged, at least `program.model_min_repeat_buyers`
   repeat buyers), every purchaser's values go to CustomerModelValue in one INSERT, and
   customers whose churn band moved get a `churn_model` transition for campaigns.
Customers without a purchase, and every customer while no usable fit exists, keep the rule
in engagement.scoring. CLV: 12 monthly steps of expected purchases × expected spend,
each discounted at the program's annual rate: Σ_k ΔE_k · spend / (1 + d)^(k/12).
"""

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from engagement import bgnbd, hooks
from engagement import gamma_gamma as gg
from engagement.models import (
    Customer,
    CustomerModelValue,
    CustomerScore,
    Program,
    PurchaseModelFit,
    ScoreTransition,
)
from engagement.retention import HISTORY

# The purchases are read from HISTORY, not the events table: the events plus those that
# retention rolled up (engagement.retention), so a fit gives the same values after a drop.
VALUES = CustomerModelValue._meta.db_table
TRANSITIONS = ScoreTransition._meta.db_table
SCORES = CustomerScore._meta.db_table
WEEK_DAYS = 7.0
CALIBRATION_WEEKS = 26
CLV_MONTHS = 12
PACK = 2**40  # cents of one day packed below the day number (purchase_summary)
ADVISORY_LOCK_BASE = 7_320_000_000  # + program id: one fit per program at a time
Kind = PurchaseModelFit.Kind


@dataclass(frozen=True)
class Summary:
    """Per purchaser (arrays of one length): ids, x, t_x and T in days, repeat spend total."""

    customer_ids: np.ndarray
    x: np.ndarray
    t_x_days: np.ndarray
    T_days: np.ndarray
    repeat_value: np.ndarray

    @property
    def repeat_buyers(self):
        return int((self.x > 0).sum())


def day_start(program: Program, day: date) -> datetime:
    """The UTC instant at which `day` starts in the program's time zone."""
    return datetime.combine(day, time.min, tzinfo=zoneinfo.ZoneInfo(program.timezone))


def _days_sql(since=False):
    """Each purchaser's transactions before %(end)s (and from %(start)s if `since`): one row
    per local calendar day, its value summed in integer cents (a numeric sum's state per group
    is several times larger and slower; event values have 2 places)."""
    start = "AND e.occurred_at >= %(start)s" if since else ""
    return f"""SELECT e.customer_id, CAST(timezone(%(tz)s, e.occurred_at) AS date) AS day,
            SUM(CAST(COALESCE(e.value, 0) * 100 AS BIGINT)) AS cents
        FROM {HISTORY} e WHERE e.program_id = %(program)s AND e.type = 'purchase' AND e.occurred_at < %(end)s {start}
        GROUP BY 1, 2"""


def purchase_summary(program: Program, as_of: date) -> Summary:
    """The Summary of every customer with a purchase before `as_of` (a date): one statement of
    two hash aggregates (per customer-day, then per customer). The first day's value, which is
    not a repeat purchase, comes from the smallest of day × 2^40 + cents (days since 1900; no
    customer spends 2^40 cents in a day): no join back to the days, no array per row."""
    params = {"program": program.id, "tz": program.timezone, "end": day_start(program, as_of), "as_of": as_of}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT customer_id, COUNT(*) - 1, MAX(day) - MIN(day), CAST(%(as_of)s AS date) - MIN(day),
                   CAST(SUM(cents) - MIN(CAST(day - DATE '1900-01-01' AS BIGINT) * {PACK} + cents) %% {PACK}
                        AS DOUBLE PRECISION) / 100
            FROM ({_days_sql()}) d GROUP BY customer_id ORDER BY customer_id""",
            params,
        )
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 5
    return Summary(
        *(
            np.asarray(c, dtype=dtype)
            for c, dtype in zip(columns, [np.int64, np.int64, float, float, float], strict=True)
        )
    )


def holdout_transactions(program: Program, cut: date, as_of: date) -> dict[int, int]:
    """Actual transactions per week of [cut, as_of) of the customers whose first purchase is
    before `cut`: {week index: count}. Every one is a repeat transaction. Reads the holdout's
    days, and the earlier buyers from the purchases index alone."""
    start = day_start(program, cut)
    params = {"program": program.id, "tz": program.timezone, "end": day_start(program, as_of), "start": start}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT (d.day - CAST(%(cut)s AS date)) / 7 AS week, COUNT(*)
            FROM ({_days_sql(since=True)}) d
            WHERE d.customer_id IN (SELECT e.customer_id FROM {HISTORY} e
                                    WHERE e.program_id = %(program)s AND e.type = 'purchase' AND e.occurred_at < %(start)s)
            GROUP BY 1""",
            {**params, "cut": cut},
        )
        return dict(cursor.fetchall())


def _grouped(summary):
    """Identical (x, t_x, T) rows once with a count: whole days make many customers alike, and
    the likelihood and the hypergeometric function then run per distinct row."""
    keys = np.column_stack([summary.x, summary.t_x_days, summary.T_days])
    unique, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    x, t_x, T = unique[:, 0], unique[:, 1] / WEEK_DAYS, unique[:, 2] / WEEK_DAYS
    return (x, t_x, T), inverse.ravel(), counts


def fit_bgnbd(summary, start=None):
    (x, t_x, T), _, counts = _grouped(summary)
    return bgnbd.fit(x, t_x, T, weights=counts, start=start)


def fit_gamma_gamma(summary):
    """Gamma-Gamma on the repeat buyers with a positive mean repeat value."""
    x, m_x = _spend_inputs(summary)
    keep = (x > 0) & (m_x > 0)
    return gg.fit(x[keep], m_x[keep]), int(keep.sum())


def _spend_inputs(summary):
    x = summary.x.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_x = np.where(x > 0, summary.repeat_value / np.maximum(x, 1), 0.0)
    return x, m_x


def backtest(
    program: Program, as_of: date, calibration_weeks: int = CALIBRATION_WEEKS, start: bgnbd.BgNbdParams | None = None
) -> dict:
    """Fit on the purchases before as_of − `calibration_weeks` weeks; predict those customers'
    cumulative repeat transactions at the end of each holdout week; compare with the actual
    ones. Returns the dict stored on the fit: empty "weeks" if nothing to calibrate on, or with
    "converged": False if the calibration fit failed or its forecast is not finite.
    `start`: the full fit's parameters, a close starting point for the search."""
    cut = as_of - timedelta(weeks=calibration_weeks)
    summary = purchase_summary(program, cut)
    result = {"calibration_end": cut.isoformat(), "holdout_weeks": calibration_weeks, "weeks": []}
    if len(summary.x) == 0 or summary.repeat_buyers == 0:
        return result
    fit = fit_bgnbd(summary, start)
    (x, t_x, T), _, counts = _grouped(summary)
    forecast = [
        float((counts * bgnbd.conditional_expected_purchases(fit.params, week + 1, x, t_x, T)).sum())
        for week in range(calibration_weeks)
    ]
    if not fit.converged or not np.all(np.isfinite(forecast)):
        # A calibration fit that failed (or whose forecast overflowed, NaN) predicts nothing
        # worth showing, and NaN is not JSON: no weeks, said so.
        result.update(converged=False, customers=len(summary.x))
        return result
    actual_by_week = holdout_transactions(program, cut, as_of)
    actual = predicted = 0.0
    errors = []
    for week in range(calibration_weeks):
        predicted = forecast[week]
        actual += actual_by_week.get(week, 0)
        if actual > 0:
            errors.append(abs(predicted - actual) / actual)
        result["weeks"].append({"week": week + 1, "predicted": round(predicted, 2), "actual": int(actual)})
    result.update(
        parameters=fit.params.as_dict(),
        converged=fit.converged,
        customers=len(summary.x),
        predicted_total=round(predicted, 2),
        actual_total=int(actual),
        total_error=round(predicted - actual, 2),
        total_error_percent=round(100 * (predicted - actual) / actual, 2) if actual else None,
        mape=round(100 * float(np.mean(errors)), 2) if errors else None,
    )
    return result


def customer_values(program, summary, bg_fit, gg_fit):
    """Per purchaser: (p_alive, E[90 d], E[365 d], churn risk, spend, CLV) as arrays, computed
    per distinct (x, t_x, T) and spread back. spend and CLV are None without a usable
    Gamma-Gamma fit."""
    (x, t_x, T), inverse, _ = _grouped(summary)
    params = bg_fit.params

    def expected(days):
        return bgnbd.conditional_expected_purchases(params, days / WEEK_DAYS, x, t_x, T)

    alive = bgnbd.p_alive(params, x, t_x, T)
    churn = bgnbd.probability_no_purchase(params, program.churn_horizon_days / WEEK_DAYS, x, t_x, T)
    rate = float(program.clv_annual_discount_rate)
    # Expected purchases in each month of the next 12, each discounted to today.
    cumulative = [np.zeros_like(x)] + [expected(365.0 * k / CLV_MONTHS) for k in range(1, CLV_MONTHS + 1)]
    discounted = sum(
        (cumulative[k] - cumulative[k - 1]) / (1 + rate) ** (k / CLV_MONTHS) for k in range(1, CLV_MONTHS + 1)
    )
    values = {
        "p_alive": alive[inverse],
        "expected_90": expected(90.0)[inverse],
        "expected_365": cumulative[-1][inverse],
        "churn_risk": np.clip(churn, 0, 1)[inverse],
        "spend": None,
        "clv": None,
    }
    if gg_fit is not None and gg_fit.converged:
        sx, m_x = _spend_inputs(summary)
        spend = gg.expected_spend(gg_fit.params, np.where(m_x > 0, sx, 0), m_x)
        values["spend"], values["clv"] = spend, spend * discounted[inverse]
    return values


def _array(values):
    """A numpy array as one PostgreSQL array literal ("{1.5,2}"), or None: a single text
    parameter, parsed by the server, instead of a Python object per element to adapt."""
    return None if values is None else "{" + ",".join(map(repr, values.tolist())) + "}"


def _store_values(fit_row, summary, values):
    """One INSERT … SELECT FROM unnest(arrays) of every purchaser's values."""
    per_customer = ["p_alive", "expected_90", "expected_365", "spend", "clv", "churn_risk"]
    arrays = [_array(summary.customer_ids), _array(summary.x), *(_array(values[k]) for k in per_customer)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {VALUES} (fit_id, customer_id, repeat_transactions, p_alive, expected_purchases_90d,
                    expected_purchases_365d, expected_spend, predicted_clv, churn_risk)
                SELECT %s, c, x, pa, e90, e365, ROUND(CAST(sp AS NUMERIC), 2), ROUND(CAST(clv AS NUMERIC), 2),
                       ROUND(CAST(ch AS NUMERIC), 3)
                FROM unnest(CAST(%s AS BIGINT[]), CAST(%s AS BIGINT[]), CAST(%s AS FLOAT8[]), CAST(%s AS FLOAT8[]),
                            CAST(%s AS FLOAT8[]), CAST(%s AS FLOAT8[]), CAST(%s AS FLOAT8[]), CAST(%s AS FLOAT8[]))
                     AS u(c, x, pa, e90, e365, sp, clv, ch)""",
            [fit_row.id, *arrays],
        )


def _stash_churn_baseline(cursor, program, as_of):
    """Copy the churn risks a new fit as of `as_of` is compared with into the temporary table
    churn_baseline (dropped at commit): those of the usable fit it replaces (same as_of), else
    of the latest usable fit before it, else none (then the rule's, from the scores). Runs
    before the replaced fit's values are deleted."""
    previous = (
        PurchaseModelFit.objects.filter(program=program, kind=Kind.BGNBD, usable=True, as_of__lte=as_of)
        .order_by("-as_of")
        .first()
    )
    # A caller's outer transaction (a test, a script) may hold one from an earlier fit.
    cursor.execute("DROP TABLE IF EXISTS churn_baseline")
    cursor.execute(
        f"""CREATE TEMP TABLE churn_baseline ON COMMIT DROP AS
            SELECT customer_id, churn_risk FROM {VALUES} WHERE fit_id = %s""",
        [previous.id if previous else None],
    )


def _record_churn_transitions(cursor, program, fit_row, now):
    """`churn_model` transitions for the customers whose churn band under this fit differs
    from the band they had (churn_baseline, else the rule's from their score). Returns the
    new transitions' ids."""
    cursor.execute(
        f"""INSERT INTO {TRANSITIONS} (program_id, customer_id, kind, from_value, to_value, occurred_at)
        SELECT %(program)s, v.customer_id, 'churn_model', COALESCE(CAST(old AS TEXT), ''),
               CAST(v.churn_risk AS TEXT), %(now)s
        FROM (SELECT v.customer_id, v.churn_risk, COALESCE(b.churn_risk, s.churn_risk) AS old
              FROM {VALUES} v LEFT JOIN churn_baseline b ON b.customer_id = v.customer_id
              LEFT JOIN {SCORES} s ON s.customer_id = v.customer_id WHERE v.fit_id = %(fit)s) v
        WHERE old IS NULL OR FLOOR(old * 10 + 0.000001) <> FLOOR(v.churn_risk * 10 + 0.000001)
        RETURNING id""",
        {"program": program.id, "fit": fit_row.id, "now": now},
    )
    return sorted(row[0] for row in cursor.fetchall())


def _save_fit(program, kind, as_of, now, **fields):
    PurchaseModelFit.objects.filter(program=program, kind=kind, as_of=as_of).delete()
    return PurchaseModelFit.objects.create(program=program, kind=kind, as_of=as_of, fitted_at=now, **fields)


def fit_models(
    program: Program,
    as_of: date | None = None,
    *,
    calibration_weeks: int = CALIBRATION_WEEKS,
    now: datetime | None = None,
) -> dict[str, PurchaseModelFit]:
    """Fit BG/NBD and Gamma-Gamma for `program` on the purchases before `as_of` (a date; default
    today in the program's time zone), with the backtest, and store both fits and (when the
    BG/NBD fit is usable) every purchaser's values; replaces a fit with the same as_of.
    One transaction under the program's advisory lock; if the fit is (now) the program's
    current one, churn-band moves are handed to the transition handlers (campaigns) inside
    it. Returns {kind: PurchaseModelFit}."""
    now = now or timezone.now()
    as_of = as_of or now.astimezone(zoneinfo.ZoneInfo(program.timezone)).date()
    summary = purchase_summary(program, as_of)
    repeat_buyers = summary.repeat_buyers
    bg_fit = fit_bgnbd(summary) if repeat_buyers else None
    gg_fit, gg_customers = fit_gamma_gamma(summary) if repeat_buyers else (None, 0)
    usable = bool(bg_fit and bg_fit.converged and repeat_buyers >= program.model_min_repeat_buyers)
    test = backtest(program, as_of, calibration_weeks, start=bg_fit.params if bg_fit and bg_fit.converged else None)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_BASE + program.id])
        latest = latest_usable_fit(program)
        # Will this fit be the current one (a refit of the current as_of is)?
        current = usable and (latest is None or latest.as_of <= as_of)
        if current:
            _stash_churn_baseline(cursor, program, as_of)
        common = {"customers": len(summary.x), "repeat_buyers": repeat_buyers}
        bg_row = _save_fit(
            program,
            Kind.BGNBD,
            as_of,
            now,
            parameters=bg_fit.params.as_dict() if bg_fit else {},
            log_likelihood=bg_fit.log_likelihood if bg_fit else None,
            converged=bool(bg_fit and bg_fit.converged),
            usable=usable,
            backtest=test,
            **common,
        )
        gg_row = _save_fit(
            program,
            Kind.GAMMA_GAMMA,
            as_of,
            now,
            parameters=gg_fit.params.as_dict() if gg_fit else {},
            log_likelihood=gg_fit.log_likelihood if gg_fit else None,
            converged=bool(gg_fit and gg_fit.converged),
            usable=bool(usable and gg_fit and gg_fit.converged),
            customers=gg_customers,
            repeat_buyers=repeat_buyers,
        )
        if usable:
            _store_values(bg_row, summary, customer_values(program, summary, bg_fit, gg_fit))
            # Only a fit that is now the current one moves churn bands: a fit of the past
            # (--as-of an earlier date, to analyse history) must not set off campaigns.
            if current:
                transition_ids = _record_churn_transitions(cursor, program, bg_row, now)
                if transition_ids:
                    hooks.run_transition_handlers(program.id, transition_ids)
    return {Kind.BGNBD: bg_row, Kind.GAMMA_GAMMA: gg_row}


# --- reads ---------------------------------------------------------------------------------


def latest_usable_fit(program: Program, *, before: date | None = None) -> PurchaseModelFit | None:
    """The BG/NBD fit whose values are current (the latest usable one), or None."""
    fits = PurchaseModelFit.objects.filter(program=program, kind=Kind.BGNBD, usable=True)
    if before is not None:
        fits = fits.filter(as_of__lt=before)
    return fits.order_by("-as_of").first()


def get_fits(program: Program, as_of: date | None = None) -> list[PurchaseModelFit]:
    """The latest fit of each kind, or those made with `as_of`; ordered by kind."""
    fits = PurchaseModelFit.objects.filter(program=program)
    if as_of is not None:
        return list(fits.filter(as_of=as_of).order_by("kind"))
    latest = [fits.filter(kind=kind).order_by("-as_of").first() for kind in Kind.values]
    return sorted((f for f in latest if f), key=lambda f: f.kind)


def get_customer_value(
    customer: Customer, as_of: date | None = None
) -> tuple[PurchaseModelFit | None, CustomerModelValue | None]:
    """(fit, CustomerModelValue) of the customer under the latest usable fit (or the usable fit
    made with `as_of`); (fit or None, None) when the rule applies."""
    fits = PurchaseModelFit.objects.filter(program_id=customer.program_id, kind=Kind.BGNBD, usable=True)
    fit = (fits.filter(as_of=as_of) if as_of else fits.order_by("-as_of")).first()
    if fit is None:
        return None, None
    return fit, CustomerModelValue.objects.filter(fit=fit, customer=customer).first()


def list_modelled_customer_ids(program_id: int, customer_ids: Iterable[int]) -> set[int]:
    """Which of `customer_ids` have a value under their program's latest usable fit: their churn
    risk is the model's, not the rule's."""
    program = Program.objects.filter(pk=program_id).first()
    fit = latest_usable_fit(program) if program else None
    if fit is None:
        return set()
    return set(
        CustomerModelValue.objects.filter(fit=fit, customer_id__in=customer_ids).values_list("customer_id", flat=True)
    )
