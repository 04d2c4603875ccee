"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV: Using
Iso-Value Curves for Customer Base Analysis", JMR 42(4); Fader & Hardie, "The Gamma-Gamma Model
of Monetary Value", 2013): pure arithmetic on numpy arrays, no database.

Assumptions: a customer's transaction values z vary around their own mean: z ~ Gamma(p, ν);
ν ~ Gamma(q, γ) across customers; spend is independent of the purchase process (BG/NBD). The
model is fitted on customers with at least one repeat transaction, from x (the number of
repeat transactions) and m_x (their mean value).
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from threadpoolctl import threadpool_limits

START = np.log([1.0, 2.0, 10.0])  # log p, log q, log γ

# The objective is a mean per customer (about 1–10): stop on changes well below a unit of
# total log-likelihood even for a million customers.
TOLERANCE = {"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500}


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_dict(self):
        return {"p": self.p, "q": self.q, "gamma": self.gamma}


@dataclass(frozen=True)
class Fit:
    params: GammaGammaParams
    log_likelihood: float
    converged: bool
    iterations: int


def log_likelihood_terms(params, x, m_x):
    """Each customer's log-likelihood of their mean m_x over x transactions (the note's eq. 3):
    f(m_x | p, q, γ, x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q m_x^(px−1) x^(px) / (γ + x m_x)^(px+q)."""
    p, q, gamma = params.p, params.q, params.gamma
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m_x)
        + px * np.log(x)
        - (px + q) * np.log(gamma + x * m_x)
    )


def gradient_terms(params, x, m_x):
    """∂ℓ/∂(p, q, γ) per customer (rows; ψ: digamma)."""
    p, q, gamma = params.p, params.q, params.gamma
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    px, spent = p * x, gamma + x * m_x
    d_p = x * (special.digamma(px + q) - special.digamma(px) + np.log(m_x) + np.log(x) - np.log(spent))
    d_q = special.digamma(px + q) - special.digamma(q) + np.log(gamma) - np.log(spent)
    d_gamma = q / gamma - (px + q) / spent
    return np.stack([d_p, d_q, d_gamma])


# The optimiser's BLAS calls work on vectors of 3 or 4 parameters: BLAS worker threads only
# spin, which tripled its time on a busy 2-core machine.
@threadpool_limits.wrap(limits=1, user_api="blas")
def fit(x, m_x):
    """Maximum likelihood (p, q, γ) from customers with x ≥ 1 and m_x > 0, searched over the
    logarithms of the parameters with L-BFGS-B. `converged` also requires q > 1: below it the
    population mean spend pγ/(q−1) is infinite and no expected spend can be stated."""
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    # Spend is rescaled to a mean of 1 during the search (γ scales with the currency; p, q do
    # not), so the same starting point suits yen and dinars; γ is scaled back afterwards.
    scale = float(m_x.mean()) if len(m_x) else 1.0
    m = m_x / scale
    n = max(len(x), 1)

    def negative(logs):
        """Mean negative log-likelihood and its gradient in the log parameters."""
        theta = np.exp(logs)
        params = GammaGammaParams(*theta)
        value = -log_likelihood_terms(params, x, m).sum() / n
        if not np.isfinite(value):
            return 1e100, np.zeros(3)
        return value, -gradient_terms(params, x, m).sum(axis=1) / n * theta

    result = optimize.minimize(negative, START, jac=True, method="L-BFGS-B", options=TOLERANCE, bounds=[(-15, 15)] * 3)
    p, q, gamma = (float(v) for v in np.exp(result.x))
    params = GammaGammaParams(p, q, gamma * scale)
    ll = float(log_likelihood_terms(params, x, m_x).sum())
    at_bound = bool(np.any(np.abs(result.x) >= 15 - 1e-6))
    converged = bool(result.success) and np.isfinite(ll) and q > 1 and not at_bound
    return Fit(params, ll, converged, int(result.nit))


def expected_spend(params, x, m_x):
    """E(M | p, q, γ, m_x, x) = p(γ + x m_x) / (px + q − 1): the customer's expected value per
    transaction, a weighted mean of the population mean pγ/(q−1) and their own m_x. x = 0 (no
    repeat transaction, m_x unused) gives the population mean."""
    p, q, gamma = params.p, params.q, params.gamma
    x = np.asarray(x, dtype=float)
    m_x = np.where(x > 0, np.asarray(m_x, dtype=float), 0.0)
    return p * (gamma + x * m_x) / (p * x + q - 1)
