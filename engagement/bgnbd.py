"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting Your Customers the
Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2)): pure arithmetic on
numpy arrays, no database.

Assumptions (the paper's): while active, a customer buys as a Poisson process with rate λ;
λ ~ Gamma(r, α) across customers; after each transaction the customer drops out for good with
probability p; p ~ Beta(a, b) across customers; λ and p are independent. A customer is
summarised by (x, t_x, T): repeat transactions, time of the last one, time since the first, all
measured from the first transaction, here in weeks.

Every function takes arrays (or scalars) x, t_x, T and works in log space: the likelihood's
Γ(r + x)/(α + T)^(r + x) overflow for large x long before the ratio does.
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from threadpoolctl import threadpool_limits

# Starting point of the search (log r, log α, log a, log b): the literature's orders of
# magnitude (CDNOW: r 0.24, α 4.4, a 0.79, b 2.4, weeks).
START = np.log([0.5, 5.0, 1.0, 3.0])

# The objective is a mean per customer (about 1–10): stop on changes well below a unit of
# total log-likelihood even for a million customers.
TOLERANCE = {"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500}


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self):
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class Fit:
    params: BgNbdParams
    log_likelihood: float
    converged: bool
    iterations: int


def _terms(params, x, t_x, T):
    """(common, alive, dead) log terms of equation (6): ℓ = common + log(e^alive + e^dead)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    alive = special.betaln(a, b + x) - (r + x) * np.log(alpha + T)
    # x = 0: the second term is absent (its beta function is not even defined at b + x − 1 < b).
    with np.errstate(invalid="ignore", divide="ignore"):
        dead = np.where(
            x > 0, special.betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf
        )
    return common, alive, dead


def log_likelihood_terms(params, x, t_x, T):
    """Each customer's log-likelihood, equation (6) of the paper:
    L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
        + [x > 0] B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))."""
    common, alive, dead = _terms(params, np.asarray(x, dtype=float), t_x, T)
    return common + np.logaddexp(alive, dead)


def gradient_terms(params, x, t_x, T):
    """∂ℓ/∂(r, α, a, b) per customer (rows), from the derivatives of the log-gamma and log-beta
    functions (digamma ψ): each of the two terms of L contributes in proportion to its share
    of L (w_alive + w_dead = 1)."""
    x = np.asarray(x, dtype=float)
    _, alive, dead = _terms(params, x, t_x, T)
    return _gradient(params, x, t_x, T, alive, dead, np.logaddexp(alive, dead))


def _gradient(params, x, t_x, T, alive, dead, total):
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    w_alive, w_dead = np.exp(alive - total), np.exp(dead - total)
    psi = special.digamma
    with np.errstate(invalid="ignore", divide="ignore"):
        psi_b_dead = np.where(x > 0, psi(np.maximum(b + x - 1, 1e-300)), 0.0)
    d_r = psi(r + x) - psi(r) + np.log(alpha) - w_alive * np.log(alpha + T) - w_dead * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + T) + w_dead / (alpha + t_x))
    psi_abx = psi(a + b + x)
    d_a = -(psi(a) - psi(a + b)) + w_alive * (psi(a) - psi_abx) + w_dead * (psi(a + 1) - psi_abx)
    d_b = -(psi(b) - psi(a + b)) + w_alive * (psi(b + x) - psi_abx) + w_dead * (psi_b_dead - psi_abx)
    return np.stack([d_r, d_alpha, d_a, d_b])


# The optimiser's BLAS calls work on vectors of 3 or 4 parameters: BLAS worker threads only
# spin, which tripled its time on a busy 2-core machine.
@threadpool_limits.wrap(limits=1, user_api="blas")
def fit(x, t_x, T, weights=None, start=None):
    """Maximum likelihood estimates of (r, α, a, b) from the customers' (x, t_x, T).

    The search runs over the logarithms of the parameters (all four must be positive) with
    L-BFGS-B; `weights` counts identical customers once with a weight (t_x and T are whole
    days, so many customers share a summary); `start` (BgNbdParams) replaces the default
    starting point, e.g. a fit of nearly the same data. Returns a Fit; `converged` is False when the
    optimiser did not report success or the estimate is not finite.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    weights = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    total = weights.sum()

    def negative(logs):
        """The mean negative log-likelihood and its gradient in the log parameters
        (∂/∂log θ = θ ∂/∂θ): an analytic gradient costs about one more pass over the
        customers, finite differences four."""
        theta = np.exp(logs)
        params = BgNbdParams(*theta)
        common, alive, dead = _terms(params, x, t_x, T)
        mixed = np.logaddexp(alive, dead)
        value = -(weights * (common + mixed)).sum() / total
        if not np.isfinite(value):
            return 1e100, np.zeros(4)
        return value, -(_gradient(params, x, t_x, T, alive, dead, mixed) @ weights) / total * theta

    # Bounds keep exp() finite: no program has rates beyond e^±15.
    result = optimize.minimize(negative, START, jac=True, method="L-BFGS-B", options=TOLERANCE, bounds=[(-15, 15)] * 4)
    params = BgNbdParams(*(float(v) for v in np.exp(result.x)))
    ll = float(-result.fun * total)
    at_bound = bool(np.any(np.abs(result.x) >= 15 - 1e-6))
    converged = bool(result.success) and np.isfinite(ll) and not at_bound
    return Fit(params, ll, converged, int(result.nit))


def _log_odds_dead(params, x, t_x, T):
    """log of a/(b+x−1) · ((α+T)/(α+t_x))^(r+x) for x > 0 (−inf for x = 0): the odds that the
    customer dropped out after their last transaction rather than being alive at T."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        odds = np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, odds, -np.inf)


def p_alive(params, x, t_x, T):
    """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x−1) ((α+T)/(α+t_x))^(r+x)); 1 for x = 0
    (in BG/NBD a customer can only drop out right after a repeat transaction)."""
    return special.expit(-_log_odds_dead(params, x, t_x, T))


def conditional_expected_purchases(params, t, x, t_x, T):
    """E[Y(t) | x, t_x, T]: expected transactions in the next `t` weeks, equation (10):
    (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x−1; z)] · P(alive),
    z = t/(α+T+t).

    The bracket's product is computed through Euler's transformation
    2F1(A, B; C; z) = (1−z)^(C−A−B) 2F1(C−A, C−B; C; z), which turns it into
    (1−z)^(a−1) 2F1(a+b−1−r, a−1; a+b+x−1; z): the first two parameters no longer grow with x,
    the third does (so the series converges faster for frequent buyers), z stays in [0, 1),
    and no power (α+T)^(r+x) can overflow. (The Pfaff form with argument −t/(α+T) gave
    wrong values in scipy for large a and b.) The (a−1) of the leading factor cancels the
    bracket's own as a → 1; a = 1 exactly is a removable singularity the fit never lands on.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    z = t / (alpha + T + t)
    shrink = np.exp((a - 1) * (np.log(alpha + T) - np.log(alpha + T + t)))
    bracket = 1 - shrink * special.hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    return (a + b + x - 1) / (a - 1) * bracket * p_alive(params, x, t_x, T)


def probability_no_purchase(params, t, x, t_x, T):
    """P(no transaction in the next `t` weeks | x, t_x, T) = (1 − P(alive)) + P(alive) ·
    ((α+T)/(α+T+t))^(r+x): a customer who dropped out buys nothing; one still alive has the
    posterior rate λ ~ Gamma(r+x, α+T), and no purchase means no dropout chance either."""
    r, alpha = params.r, params.alpha
    alive = p_alive(params, x, t_x, T)
    silent_if_alive = np.exp((r + np.asarray(x, dtype=float)) * (np.log(alpha + T) - np.log(alpha + T + t)))
    return 1 - alive + alive * silent_if_alive
