"""BG/NBD and Gamma-Gamma arithmetic (engagement.bgnbd, engagement.gamma_gamma): parameter
recovery from simulated customers, and closed-form values computed by hand."""

import itertools
import math

import numpy as np
import pytest
from scipy import optimize

from engagement import bgnbd
from engagement import gamma_gamma as gg

# The CDNOW estimates of Fader, Hardie & Lee (2005), weeks.
CDNOW = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def simulate_bgnbd(rng, n, r, alpha, a, b, weeks):
    """Customers acquired at time 0 and watched for `weeks`: λ ~ Gamma(r, α), p ~ Beta(a, b);
    Poisson purchases while alive, a dropout with probability p after each one."""
    rates, dropouts = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while (t := t + rng.exponential(1 / rates[i])) <= weeks:
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < dropouts[i]:
                break
    return x, t_x, np.full(n, float(weeks))


def test_bgnbd_recovers_the_parameters_of_simulated_customers():
    # Given 5,000 customers simulated from r=0.25, α=4, a=0.8, b=2.5 over 78 weeks (seed 17)
    x, t_x, T = simulate_bgnbd(np.random.default_rng(17), 5000, 0.25, 4.0, 0.8, 2.5, 78)

    fit = bgnbd.fit(x, t_x, T)

    # Then the estimates are within the stated tolerance: ±10 % for r and α, ±15 % for a and
    # ±20 % for b (the dropout parameters are the least determined with 5,000 customers; six
    # seeds gave at most 7 %, 5 %, 8 % and 16 %).
    assert fit.converged
    assert fit.params.r == pytest.approx(0.25, rel=0.10)
    assert fit.params.alpha == pytest.approx(4.0, rel=0.10)
    assert fit.params.a == pytest.approx(0.8, rel=0.15)
    assert fit.params.b == pytest.approx(2.5, rel=0.20)


def test_bgnbd_fit_with_weights_equals_the_fit_of_the_repeated_rows():
    # 1,000 simulated customers in whole days, identical rows counted once with a weight.
    x, t_x, T = simulate_bgnbd(np.random.default_rng(5), 1000, 0.25, 4.0, 0.8, 2.5, 52)
    rows = np.column_stack([x, np.floor(t_x * 7) / 7, T])
    unique, counts = np.unique(rows, axis=0, return_counts=True)

    weighted = bgnbd.fit(unique[:, 0], unique[:, 1], unique[:, 2], weights=counts)
    repeated = bgnbd.fit(rows[:, 0], rows[:, 1], rows[:, 2])

    assert len(unique) < 500
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, rel=1e-9)
    assert weighted.params.as_dict() == pytest.approx(repeated.params.as_dict(), rel=1e-4)


def test_gamma_gamma_recovers_the_parameters_of_simulated_spend():
    # Given 5,000 customers with 1–20 repeat transactions: ν ~ Gamma(q=4, γ=15), each value
    # ~ Gamma(p=6, ν) (seed 17); m_x is the mean of their values.
    rng = np.random.default_rng(17)
    x = rng.integers(1, 21, 5000)
    nu = rng.gamma(4.0, 1 / 15.0, 5000)
    m_x = np.array([rng.gamma(6.0, 1 / v, k).mean() for v, k in zip(nu, x, strict=True)])

    fit = gg.fit(x, m_x)

    # Then within ±10 % for p and ±15 % for q and γ (q and γ trade off against each other).
    assert fit.converged
    assert fit.params.p == pytest.approx(6.0, rel=0.10)
    assert fit.params.q == pytest.approx(4.0, rel=0.15)
    assert fit.params.gamma == pytest.approx(15.0, rel=0.15)


def test_expected_purchases_match_the_paper():
    # Fader, Hardie & Lee (2005), section 5: with the CDNOW estimates, a customer with x = 2,
    # t_x = 30.43, T = 38.86 is expected to make 1.226 purchases in the next 39 weeks.
    assert float(bgnbd.conditional_expected_purchases(CDNOW, 39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=5e-4)


def hyp2f1_series(a, b, c, z, terms=3000):
    """The Gaussian hypergeometric series Σ (a)_k (b)_k / ((c)_k k!) z^k, by hand (|z| < 1)."""
    total = term = 1.0
    for k in range(terms):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
    return total


@pytest.mark.parametrize(("x", "t_x", "T"), [(5, 20.0, 40.0), (1, 2.0, 30.0), (12, 50.0, 52.0)])
@pytest.mark.parametrize(
    ("r", "alpha", "a", "b"),
    # CDNOW, and a fit with large a and b where scipy's 2F1 of the Pfaff form (argument below
    # −1) went wrong: it must not matter which form the code uses.
    [(0.243, 4.414, 0.793, 2.426), (0.2935, 5.096, 9.9915, 34.67)],
)
def test_p_alive_and_expected_purchases_by_hand(x, t_x, T, r, alpha, a, b):
    params = bgnbd.BgNbdParams(r, alpha, a, b)
    # Equation (13) and equation (10) of the paper written out term by term.
    alive = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    t = 52.0
    z = t / (alpha + T + t)
    expected = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1_series(r + x, b + x, a + b + x - 1, z))
        * alive
    )

    assert float(bgnbd.p_alive(params, x, t_x, T)) == pytest.approx(alive, rel=1e-12)
    assert float(bgnbd.conditional_expected_purchases(params, t, x, t_x, T)) == pytest.approx(expected, rel=1e-9)


def test_p_alive_by_hand_for_one_customer():
    # x = 5, t_x = 20, T = 40: odds of having dropped out = 0.793 / 6.426 · (44.414 / 24.414)^5.243
    odds = 0.793 / 6.426 * math.exp(5.243 * math.log(44.414 / 24.414))
    assert odds == pytest.approx(2.8437, abs=1e-4)
    assert float(bgnbd.p_alive(CDNOW, 5, 20, 40)) == pytest.approx(1 / (1 + odds), rel=1e-12)
    assert float(bgnbd.p_alive(CDNOW, 5, 20, 40)) == pytest.approx(0.26016, abs=1e-5)


def test_a_customer_without_a_repeat_purchase_is_alive():
    assert bgnbd.p_alive(CDNOW, np.array([0.0]), np.array([0.0]), np.array([38.86])).tolist() == [1.0]
    # No repeat purchase: the chance of none in the next t weeks is the posterior NBD's zero.
    silent = float(bgnbd.probability_no_purchase(CDNOW, 13, 0, 0, 38.86))
    assert silent == pytest.approx((43.274 / 56.274) ** 0.243, rel=1e-12)


def test_expected_purchases_grow_with_the_horizon():
    # Over customers from new to frequent and horizons up to a year, for both parameter sets.
    for params in (CDNOW, bgnbd.BgNbdParams(0.2935, 5.096, 9.9915, 34.67)):
        for x, T in itertools.product([0, 1, 5, 50, 500], [0.15, 10.0, 78.0]):
            curve = [
                float(bgnbd.conditional_expected_purchases(params, t, x, 0.8 * T if x else 0, T)) for t in range(53)
            ]
            assert curve[0] == 0 and all(b >= a for a, b in itertools.pairwise(curve)), (params, x, T)


def test_large_x_is_finite():
    # 500 repeat purchases in 78 weeks: (α+T)^(r+x) alone would overflow nothing here, but
    # Γ(r+x) and the hypergeometric terms do without log space and the Pfaff transformation.
    expected = float(bgnbd.conditional_expected_purchases(CDNOW, 52, 500, 77.0, 78.0))
    alive = float(bgnbd.p_alive(CDNOW, 500, 77.0, 78.0))
    ll = float(bgnbd.log_likelihood_terms(CDNOW, np.array([5000.0]), np.array([77.0]), np.array([78.0]))[0])

    assert math.isfinite(ll)
    assert 0 < alive < 1
    # If alive, ≈ (r + x)/(α + T) per week: 52 × 500.243 / 82.414 × P(alive), damped by dropout.
    assert 0 < expected < 52 * 500.243 / 82.414 * alive


def test_gamma_gamma_expected_spend_by_hand():
    params = gg.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    # p(γ + x m_x) / (px + q − 1) for x = 4, m_x = 30: 6.25 × 135.44 / 27.74
    assert float(gg.expected_spend(params, 4, 30.0)) == pytest.approx(6.25 * 135.44 / 27.74, rel=1e-12)
    # No repeat transaction: the population mean pγ/(q−1).
    assert float(gg.expected_spend(params, 0, 0.0)) == pytest.approx(6.25 * 15.44 / 2.74, rel=1e-12)


def test_analytic_gradients_match_finite_differences():
    x, t_x, T = simulate_bgnbd(np.random.default_rng(3), 300, 0.25, 4.0, 0.8, 2.5, 52)
    theta = np.array([0.3, 3.5, 0.9, 2.2])

    def bg_total(v):
        return bgnbd.log_likelihood_terms(bgnbd.BgNbdParams(*v), x, t_x, T).sum()

    analytic = bgnbd.gradient_terms(bgnbd.BgNbdParams(*theta), x, t_x, T).sum(axis=1)
    numeric = optimize.approx_fprime(theta, bg_total, 1e-7)
    assert analytic == pytest.approx(numeric, rel=1e-4)

    rng = np.random.default_rng(3)
    k, m = rng.integers(1, 10, 300), rng.gamma(5.0, 4.0, 300)
    spend = np.array([5.0, 3.0, 12.0])

    def gg_total(v):
        return gg.log_likelihood_terms(gg.GammaGammaParams(*v), k, m).sum()

    analytic = gg.gradient_terms(gg.GammaGammaParams(*spend), k, m).sum(axis=1)
    assert analytic == pytest.approx(optimize.approx_fprime(spend, gg_total, 1e-7), rel=1e-4)
