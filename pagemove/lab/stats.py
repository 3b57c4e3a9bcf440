"""The statistics of the lab: percentiles, a confidence interval of the median, the cost model, and the
timing verdict on realignment. docs/lab-method.md explains each choice."""

from __future__ import annotations

from .scenarios import size_label

MODEL_TERMS = ("intercept_us", "per_pte_us", "per_pte_extent_us", "per_pmd_move_us", "per_pud_move_us")


def percentile(xs, q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median_ci(xs) -> tuple[float, float]:
    """A distribution-free ~95% confidence interval of the median (order statistics)."""
    s = sorted(xs)
    half = 0.98 * len(s) ** 0.5  # 1.96 * sqrt(n) / 2
    lo, hi = int(len(s) / 2 - half), int(-(-(len(s) / 2 + half) // 1))
    return s[max(lo, 0)], s[min(hi, len(s) - 1)]


def fit_cost_model(rows) -> dict:
    """Least squares t = c0 + c1*PTEs + c2*PTE extents + c3*PMD moves + c4*PUD moves over (Prediction, median_us).

    Each row is weighted by 1/median, so the fit minimises *relative* error: a 5 ms page-wise move does not
    drown the 10 us ones. Terms that no row exercises come back as None; a term whose cost comes out
    negative (no measurable cost: a count that only rides along with another) is set to 0 and the rest
    refitted."""
    import numpy as np
    if not rows:
        return {t: None for t in MODEL_TERMS}
    x = np.array([p.features() for p, _ in rows], dtype=float)
    y = np.array([m for _, m in rows], dtype=float)
    w = 1 / y
    used = x.any(axis=0)
    zero = np.zeros_like(used)  # terms whose fitted cost came out negative: no measurable cost, clamped to 0
    while True:
        fit = used & ~zero
        coef = np.zeros(len(MODEL_TERMS))
        coef[fit] = np.linalg.lstsq(x[:, fit] * w[:, None], y * w, rcond=None)[0]
        negative = [i for i in range(1, len(coef)) if fit[i] and coef[i] < 0]
        if not negative:
            break
        zero[min(negative, key=lambda i: coef[i])] = True
    return {term: float(c) if u else None for term, c, u in zip(MODEL_TERMS, coef, used)}


def model_us(model: dict, p) -> float | None:
    """The cost model's time for a Prediction's counts (None without a fitted model)."""
    if model.get("intercept_us") is None:
        return None
    return sum((c or 0.0) * f for c, f in zip((model[t] for t in MODEL_TERMS), p.features()))


def infer_realigned(r, twin, possible: bool) -> tuple[bool | None, str]:
    """Did the kernel realign? Judged from the timings of a ScenarioResult against its blocked (or free) twin."""
    if not possible:
        return None, "one path only: the guard or the alignment rules leave nothing to realign"
    if twin is None or twin.median_us is None or r.median_us is None:
        return None, "no twin measured to compare with"
    if not r.small:
        return None, f"a realignment saves at most 511 PTE moves, lost in the noise at {size_label(r.length)}"
    free, blocked = (r, twin) if not r.blocker else (twin, r)
    saving = blocked.median_us - free.median_us
    if free.ci_us[1] < blocked.ci_us[0]:  # the 95% intervals of the two medians do not overlap
        if r.blocker:
            return False, f"{saving:.1f} us slower than without the blocker: the blocker prevented realignment"
        return True, f"{saving:.1f} us faster than with a blocker below old: realigned"
    # Not faster is no proof of "not realigned": at 2 MiB the two paths can cost the same within the noise.
    return None, f"blocked minus free: {saving:+.1f} us, within the noise"
