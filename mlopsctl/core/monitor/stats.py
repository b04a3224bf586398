"""The drift statistics: a column's current values scored against its reference profile
(Wasserstein on percentiles, Jensen-Shannon, KS, chi-squared, PSI)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlopsctl.core.data import profile as profiles

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def reference_quantiles(stats: dict[str, Any]) -> np.ndarray:
    """The reference's quantile function at the 100 percent midpoints."""
    import numpy as np

    points = profiles.percentile_points()
    percentiles = stats.get("percentiles")
    if percentiles and len(percentiles) == len(points) and None not in percentiles:
        return np.asarray(percentiles, dtype="float64")
    # an older profile: interpolate between min, the saved quantiles and max
    known = {0.0: stats.get("min"), 1.0: stats.get("max")}
    known.update({float(q): v for q, v in (stats.get("quantiles") or {}).items()})
    pairs = sorted((q, v) for q, v in known.items() if v is not None)
    return np.interp(points, [q for q, _ in pairs], [v for _, v in pairs])


def numeric_score(stats: dict[str, Any], values: np.ndarray, method: str, tests: int) -> float:
    import numpy as np

    finite = np.sort(values[np.isfinite(values)])
    if finite.size == 0:
        return math.nan
    points = profiles.percentile_points()
    ref_q = reference_quantiles(stats)
    cur_q = np.quantile(finite, points)
    if method == "wasserstein":
        std = stats.get("std") or 0.0
        distance = float(np.mean(np.abs(ref_q - cur_q)))
        return distance / std if std > 0 else (0.0 if distance == 0 else math.inf)
    if method == "ks":
        from scipy.stats import kstwo

        # the reference's CDF is known at its quantiles: compare both ways on those grids
        cur_at_ref = np.searchsorted(finite, ref_q, side="right") / finite.size
        ref_at_cur = np.interp(cur_q, ref_q, points, left=0.0, right=1.0)
        stat = float(max(np.max(np.abs(cur_at_ref - points)), np.max(np.abs(ref_at_cur - points))))
        n, m = int(stats.get("count", 0)) or 1, finite.size
        return float(kstwo.sf(stat, max(1, round(n * m / (n + m)))))
    # chi2 and psi on the reference's deciles: 10 bins of 10% each in the reference
    edges = np.interp(np.arange(1, 10) / 10, points, ref_q)
    observed = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=10)
    expected = np.full(10, 0.1)
    if method == "psi":
        return _psi(expected, observed / observed.sum())
    return _chi2(expected * int(stats.get("count", 0) or 1), observed)


def categorical_score(
    stats: dict[str, Any], keys: pd.Series, method: str
) -> tuple[float, list[str]]:
    import numpy as np

    frequencies: dict[str, float] = stats["frequencies"]
    other = float(stats.get("other") or 0.0)
    counts = keys.value_counts()
    current = {str(k): int(v) for k, v in counts.items()}
    total = sum(current.values())
    names = list(frequencies)
    unseen = sorted((k for k in current if k not in frequencies), key=lambda k: -current[k])
    ref = [frequencies[k] for k in names]
    cur = [current.get(k, 0) / total for k in names]
    new: list[str] = []
    if other > 0:  # values beyond the reference's 50 most common: compare as one bucket
        ref.append(other)
        cur.append(sum(current[k] for k in unseen) / total)
    else:
        new = unseen
        ref += [0.0] * len(unseen)
        cur += [current[k] / total for k in unseen]
    p, q = np.asarray(ref), np.asarray(cur)
    if method == "jensenshannon":
        from scipy.spatial.distance import jensenshannon

        return float(jensenshannon(p, q, base=2)), new
    if method == "psi":
        return _psi(p, q), new
    return _chi2(p * int(stats.get("count", 0) or 1), q * total), new


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    import numpy as np

    e = np.clip(expected, 1e-4, None)
    a = np.clip(actual, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _chi2(expected_counts: np.ndarray, observed: np.ndarray) -> float:
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.vstack([expected_counts, observed])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table)[1])
