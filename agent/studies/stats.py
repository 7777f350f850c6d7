"""Small statistics for study reports: a rate with the number of cases behind it and its 95%
Wilson score interval.

Wilson rather than the normal approximation because study rates sit at 0 or 1 on a handful of
cases (the normal interval collapses to a point there) and its interval stays inside [0, 1].
"""

from __future__ import annotations

import math

Z95 = 1.959964  # the standard normal quantile of 0.975: a two-sided 95% interval


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of `successes` out of `n`; None without cases."""
    if n == 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n} cases")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(successes: int, n: int) -> dict[str, float | int | list[float] | None]:
    """{'rate', 'n', 'ci95'}: a rate as a report shows it (rate and interval None without
    cases)."""
    interval = wilson_interval(successes, n)
    return {
        "rate": successes / n if n else None,
        "n": n,
        "ci95": [round(bound, 4) for bound in interval] if interval else None,
    }
