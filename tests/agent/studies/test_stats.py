"""The Wilson score interval against published values."""

import pytest

from agent.studies.stats import rate, wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (score, no correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # symmetric about one half, and the all-successes mirror of 0/20
        (5, 10, 0.2366, 0.7634),
        (20, 20, 0.8389, 1.0),
    ],
)
def test_wilson_interval_matches_published_values(successes, n, low, high):
    interval = wilson_interval(successes, n)
    assert interval == pytest.approx((low, high), abs=5e-5)


def test_no_cases_no_interval_and_impossible_counts_refused():
    assert wilson_interval(0, 0) is None
    assert rate(0, 0) == {"rate": None, "n": 0, "ci95": None}
    assert rate(1, 4) == {"rate": 0.25, "n": 4, "ci95": [0.0456, 0.6994]}
    with pytest.raises(ValueError, match="3 successes out of 2"):
        wilson_interval(3, 2)
