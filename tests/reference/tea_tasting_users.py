"""Write tea_tasting_users.csv: the data behind tea-tasting's CUPED test values.

tea-tasting's ``tests/metrics/test_mean.py`` (test_ratio_of_means_analyze_ratio_less_use_norm)
asserts its ``RatioOfMeans`` results on ``make_users_data(n_users=100, covariates=True,
rng=42)``; this script saves that table so abkit's tests need no tea-tasting. Run under a
Python >= 3.12 with tea-tasting 2.0 (benchmarks/bench_analysis.py builds such a venv):

    benchmarks/output/tea-tasting-venv/bin/python tests/reference/tea_tasting_users.py
"""

from pathlib import Path

import tea_tasting.datasets

users = tea_tasting.datasets.make_users_data(
    n_users=100, covariates=True, rng=42, return_type="pandas"
)
users.to_csv(Path(__file__).with_name("tea_tasting_users.csv"), index=False)
