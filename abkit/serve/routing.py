"""Deterministic, sticky assignment of users to variants, and the sample-ratio-mismatch check.

Three designs:

- **The seed's router** (:func:`assign_variant`, :func:`assign_many`), bit-exact:
  bucket = int(md5(f"{experiment}:{user_id}").hexdigest(), 16) % 10000; treatment iff
  bucket / 10000 < split. Sticky for a fixed split, but raising the split moves users from
  control to treatment mid-test (the treatment set only grows), which contaminates control.
- **Weighted A/B/n** (:func:`assign_weighted`): the same bucket cut into consecutive ranges.
- **Ramp-safe two-stage** (:class:`TwoStageDesign`): one hash decides whether a user is in the
  experiment (the coverage you ramp), an independent salted hash picks the arm with fixed
  weights, so raising coverage only adds users and never moves one between arms (the
  GrowthBook / Unleash practice). :class:`Layer` keeps experiments of one layer disjoint.

User ids must be strings or integers (an integer hashes as its decimal text, exactly as the
seed's f-string does); floats, bytes, booleans and None/NaN are refused, since they would hash
to a different bucket than the id the user meant, and so are blank ids and missing values written
as text (``''``, ``'  '``, ``'None'``, ``'nan'``: :func:`abkit.core.params.is_missing_id`), which
the
analysis refuses too.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from abkit.core.duckdb_session import shared_cursor
from abkit.core.params import (
    check_number,
    check_text,
    is_missing_id,
    odd_id_sql,
)

__all__ = [
    "BUCKETS",
    "Layer",
    "SrmResult",
    "TwoStageDesign",
    "assign_many",
    "assign_variant",
    "assign_weighted",
    "bucket_of",
    "buckets_of",
    "ramp_comparison",
    "ramp_switches",
    "observed_split",
    "srm_check",
]

BUCKETS = 10_000
SRM_THRESHOLD = 0.001
# Below this many ids a Python loop beats starting a DuckDB query.
_VECTOR_THRESHOLD = 2_000
Variant = Literal["control", "treatment"]
_LABELS = np.array(["control", "treatment"], dtype=object)


# --------------------------------------------------------------------------- id checks


def _user_id_text(user_id: Any) -> str:
    """The text an id hashes as; refuse types whose text would not be the id the user meant."""
    if isinstance(user_id, str):
        if is_missing_id(user_id):
            raise ValueError(
                f"user_id == {user_id!r}, must be a non-empty string or an integer: a blank id or "
                "a missing value written as text would put every such user in one bucket"
            )
        return user_id
    if isinstance(user_id, Integral) and not isinstance(user_id, bool | np.bool_):
        return str(int(user_id))
    raise TypeError(
        f"user_id == {user_id!r} ({type(user_id).__name__}), must be a string or an integer: "
        "other types hash differently from the id they stand for (e.g. 123.0 vs '123')"
    )


def _user_ids_array(user_ids: Any) -> pa.Array:
    """Ids as an Arrow string array, refusing nulls, blank or placeholder ids
    (:func:`abkit.core.params.is_missing_id`) and non-integer numbers."""
    if isinstance(user_ids, pa.ChunkedArray):
        array = user_ids.combine_chunks()
    elif isinstance(user_ids, pa.Array):
        array = user_ids
    else:
        if isinstance(user_ids, pd.Series | pd.Index):
            if isinstance(user_ids.dtype, pd.StringDtype | pd.ArrowDtype):
                return _user_ids_array(pa.array(user_ids))  # Arrow-backed: no Python objects
            values = user_ids.to_numpy()
        elif isinstance(user_ids, np.ndarray):
            values = user_ids
        else:  # a list or other sequence: keep Python objects (numpy's "<U" drops trailing NULs)
            values = np.empty(len(user_ids), dtype=object)
            values[:] = list(user_ids)
        if values.dtype.kind == "f":
            raise TypeError(
                f"user_ids have dtype {values.dtype}, must be strings or integers: a float id "
                "hashes as '123.0', not '123' (cast to int or str first)"
            )
        try:  # Arrow's C conversion; infers string or integer for clean input
            source = user_ids if isinstance(user_ids, list) else values
            array = pa.array(source, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # e.g. an id past int64
            array = None
        if array is None or not (pa.types.is_string(array.type) or pa.types.is_integer(array.type)):
            missing = pd.isna(values)
            if missing.any():
                raise ValueError(
                    f"user_ids contain {int(missing.sum())} null value(s) (first at position "
                    f"{int(np.flatnonzero(missing)[0])}), every user needs an id"
                )
            # mixed strings and integers pass; anything else raises with the scalar's message
            array = pa.array([_user_id_text(value) for value in values], type=pa.string())
    if array.null_count:
        first = array.is_null().index(True).as_py()
        raise ValueError(
            f"user_ids contain {array.null_count} null value(s) (first at position {first}), "
            "every user needs an id"
        )
    if pa.types.is_integer(array.type):
        array = pc.cast(array, pa.string())
    elif pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        array = pc.cast(array, pa.string())
    elif not pa.types.is_string(array.type):
        raise TypeError(f"user_ids have type {array.type}, must be strings or integers")
    # the engine's cheap SQL test first (abkit.core.params.odd_id_sql), then the exact one
    with shared_cursor() as connection:
        connection.register("ids", pa.table({"user_id": array}))
        positions = connection.execute(
            f"SELECT position FROM (SELECT user_id, row_number() OVER () - 1 AS position "
            f"FROM ids) WHERE {odd_id_sql('user_id')} ORDER BY position"
        ).fetchnumpy()["position"]
    if len(positions):
        bad = [int(k) for k in positions if is_missing_id(array[int(k)].as_py())]
        if bad:
            raise ValueError(
                f"user_ids contain {len(bad)} id(s) that are blank or a missing value written "
                f"as text (first {array[bad[0]].as_py()!r} at position {bad[0]}), every user "
                "needs its real id"
            )
    return array


def _check_experiment(experiment: Any) -> str:
    return check_text("experiment", experiment)


def _check_split(split: Any) -> float:
    return check_number("split", split, low=0.0, high=1.0, low_inclusive=True, high_inclusive=True)


# --------------------------------------------------------------------------- buckets


def bucket_of(key: str, user_id: Any) -> int:
    """int(md5(f"{key}:{user_id}").hexdigest(), 16) % 10000 — the seed's bucket, in [0, 10000)."""
    digest = hashlib.md5(f"{key}:{_user_id_text(user_id)}".encode()).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def _bucket_sql() -> str:
    """SQL for the seed's bucket from DuckDB's ``md5_number``.

    ``md5_number`` reads the 16 digest bytes b₀…b₁₅ little-endian; the seed's
    int(hexdigest, 16) reads them big-endian: Σ bᵢ·256^(15−i). Modulo 10000 each power is a
    constant, so bucket = (Σ bᵢ·(256^(15−i) mod 10000)) mod 10000. The bytes are taken from the
    two 64-bit halves (cheaper shifts than on the 128-bit value): bᵢ = (half >> 8j) & 255.
    """
    low = [f"((lo >> {8 * i}) & 255)::INTEGER * {pow(256, 15 - i, BUCKETS)}" for i in range(8)]
    high = [f"((hi >> {8 * i}) & 255)::INTEGER * {pow(256, 7 - i, BUCKETS)}" for i in range(8)]
    return (
        f"SELECT ({' + '.join(low + high)}) % {BUCKETS} AS bucket FROM ("
        "SELECT (n & 18446744073709551615)::UBIGINT AS lo, (n >> 64)::UBIGINT AS hi FROM ("
        "SELECT md5_number($prefix || user_id) AS n FROM ids))"
    )


_BUCKET_SQL = _bucket_sql()


def buckets_of(key: str, user_ids: Any) -> np.ndarray:
    """:func:`bucket_of` for many ids at once, as an int64 array (DuckDB's md5 above ~2,000 ids).

    Row order is kept (DuckDB preserves insertion order for a projection); the tests compare
    100,000 ids with hashlib.
    """
    key = _check_experiment(key)
    ids = _user_ids_array(user_ids)
    if len(ids) < _VECTOR_THRESHOLD:
        prefix = f"{key}:".encode()
        md5 = hashlib.md5
        return np.fromiter(
            (
                int.from_bytes(md5(prefix + text.encode()).digest(), "big") % BUCKETS
                for text in ids.to_pylist()
            ),
            dtype=np.int64,
            count=len(ids),
        )
    with shared_cursor() as connection:
        connection.register("ids", pa.table({"user_id": ids}))
        result = connection.execute(_BUCKET_SQL, {"prefix": f"{key}:"}).fetchnumpy()
    return result["bucket"].astype(np.int64)


# --------------------------------------------------------------------------- the seed's router


def assign_variant(experiment: str, user_id: Any, split: float) -> Variant:
    """The seed's ``ABRouter.assign``: "treatment" iff bucket / 10000 < split, else "control".

    The comparison is the seed's float comparison, so assignments agree bit for bit.

    Examples:
        >>> assign_variant("fine-tuned-v2-test", "user_42", 0.2)
        'control'
    """
    share = _check_split(split)
    bucket = bucket_of(_check_experiment(experiment), user_id)
    return "treatment" if bucket / BUCKETS < share else "control"


def assign_many(experiment: str, user_ids: Any, split: float) -> np.ndarray:
    """:func:`assign_variant` for a list, array, Series or Arrow column of ids.

    Returns an object array of the strings "control" / "treatment", element for element what
    the scalar function returns, with the hashing done in DuckDB instead of a Python loop.
    """
    share = _check_split(split)
    buckets = buckets_of(experiment, user_ids)
    return _LABELS[(buckets / BUCKETS < share).astype(np.intp)]


# --------------------------------------------------------------------------- A/B/n


def check_weights(weights: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    """The arms' names and shares of an A/B/n split: at least two, each in [0, 1], summing to 1."""
    if not isinstance(weights, Mapping) or len(weights) < 2:
        raise ValueError(f"weights == {weights!r}, must map at least two variant names to shares")
    names = [check_text("variant name", name) for name in weights]
    shares = np.array(
        [
            check_number(
                f"weights[{name!r}]",
                share,
                low=0.0,
                high=1.0,
                low_inclusive=True,
                high_inclusive=True,
            )
            for name, share in weights.items()
        ]
    )
    if not math.isclose(shares.sum(), 1.0, abs_tol=1e-9):
        raise ValueError(f"weights == {dict(weights)!r} sum to {shares.sum():.6g}, must sum to 1")
    return names, shares


def _pick_by_weight(buckets: np.ndarray, names: list[str], shares: np.ndarray) -> np.ndarray:
    """Consecutive bucket ranges: variant k iff cumsum_{k-1} <= bucket/10000 < cumsum_k."""
    edges = np.cumsum(shares)
    edges[-1] = 1.0  # so rounding never leaves the top buckets unassigned
    index = np.searchsorted(edges, buckets / BUCKETS, side="right")
    return np.asarray(names, dtype=object)[index]


def assign_weighted(experiment: str, user_ids: Any, weights: Mapping[str, float]) -> np.ndarray:
    """A/B/n: each id's variant from the seed's bucket cut into ranges of the given weights.

    With ``{"control": 1 - s, "treatment": s}`` listed treatment first this is not the seed's
    router; use :func:`assign_many` for that. Weights must lie in [0, 1] and sum to 1.
    """
    names, shares = check_weights(weights)
    return _pick_by_weight(buckets_of(experiment, user_ids), names, shares)


# --------------------------------------------------------------------------- two-stage design


@dataclass(frozen=True)
class TwoStageDesign:
    """Ramp-safe assignment: coverage and arm come from two independent hashes.

    A user is in the experiment iff bucket(f"{experiment}/coverage", id) / 10000 < coverage;
    the arm is chosen from bucket(f"{experiment}/arm", id) with fixed ``weights``. Raising
    ``coverage`` (5 % -> 20 % -> 50 %) only adds users; nobody changes arm.

    Attributes:
        experiment: name; also the hash salt, so experiments are independent.
        weights: variant -> share of covered users (sums to 1).
        coverage: share of all users in the experiment, in [0, 1].
    """

    experiment: str
    weights: Mapping[str, float] = field(default_factory=lambda: {"control": 0.5, "treatment": 0.5})
    coverage: float = 1.0

    def __post_init__(self) -> None:
        _check_experiment(self.experiment)
        check_weights(self.weights)
        check_number(
            "coverage", self.coverage, low=0.0, high=1.0, low_inclusive=True, high_inclusive=True
        )

    def with_coverage(self, coverage: float) -> TwoStageDesign:
        """The same design at another coverage (a ramp step)."""
        return TwoStageDesign(self.experiment, self.weights, coverage)

    def assign_many(self, user_ids: Any) -> np.ndarray:
        """Variant per id, or None for ids outside the coverage."""
        names, shares = check_weights(self.weights)
        covered = buckets_of(f"{self.experiment}/coverage", user_ids) / BUCKETS < self.coverage
        arms = _pick_by_weight(buckets_of(f"{self.experiment}/arm", user_ids), names, shares)
        return np.where(covered, arms, None)

    def assign(self, user_id: Any) -> str | None:
        """Variant of one id, or None when the id is outside the coverage."""
        return self.assign_many([_user_id_text(user_id)])[0]


@dataclass(frozen=True)
class Layer:
    """Mutually exclusive experiments: each owns a disjoint range of one layer-wide hash.

    Attributes:
        name: the layer's salt.
        ranges: experiment -> (start, end) share of the layer's users, disjoint, in [0, 1].
    """

    name: str
    ranges: Mapping[str, tuple[float, float]]

    def __post_init__(self) -> None:
        check_text("layer name", self.name)
        spans = sorted((tuple(span), experiment) for experiment, span in self.ranges.items())
        previous_end, previous = 0.0, None
        for (start, end), experiment in spans:
            check_number(
                f"ranges[{experiment!r}] start",
                start,
                low=0.0,
                high=1.0,
                low_inclusive=True,
                high_inclusive=True,
            )
            check_number(
                f"ranges[{experiment!r}] end",
                end,
                low=0.0,
                high=1.0,
                low_inclusive=True,
                high_inclusive=True,
            )
            if end <= start:
                raise ValueError(f"ranges[{experiment!r}] == {(start, end)}, end must exceed start")
            if start < previous_end:
                raise ValueError(
                    f"ranges[{experiment!r}] == {(start, end)} overlaps ranges[{previous!r}]: "
                    "experiments in one layer must not share users"
                )
            previous_end, previous = end, experiment

    def experiment_of(self, user_ids: Any) -> np.ndarray:
        """For each id, the layer's experiment it belongs to, or None."""
        position = buckets_of(self.name, user_ids) / BUCKETS
        owner = np.full(len(position), None, dtype=object)
        for experiment, (start, end) in self.ranges.items():
            owner[(position >= start) & (position < end)] = experiment
        return owner


# --------------------------------------------------------------------------- ramps


def ramp_switches(assignments: Sequence[np.ndarray], stage_names: Sequence[str]) -> pd.DataFrame:
    """Users whose arm changed between consecutive ramp stages.

    Args:
        assignments: one array per stage, the same users in the same order; None marks a user
            outside the experiment at that stage.
        stage_names: a label per stage, e.g. ["5%", "20%", "50%"].

    Returns:
        One row per step: from_stage, to_stage, in_both (users in the experiment at both),
        switched (of those, how many changed arm), control_to_treatment.
    """
    if len(assignments) != len(stage_names) or len(assignments) < 2:
        raise ValueError("give at least two stages, one name per stage")
    rows = []
    for (before, after), (name_before, name_after) in zip(
        zip(assignments[:-1], assignments[1:], strict=True),
        zip(stage_names[:-1], stage_names[1:], strict=True),
        strict=True,
    ):
        before, after = np.asarray(before, dtype=object), np.asarray(after, dtype=object)
        both = (before != None) & (after != None)  # noqa: E711 - elementwise on object arrays
        changed = both & (before != after)
        rows.append(
            {
                "from_stage": name_before,
                "to_stage": name_after,
                "in_both": int(both.sum()),
                "switched": int(changed.sum()),
                "control_to_treatment": int(
                    (changed & (before == "control") & (after == "treatment")).sum()
                ),
            }
        )
    return pd.DataFrame(rows)


def ramp_comparison(experiment: str, user_ids: Any, schedule: Sequence[float]) -> pd.DataFrame:
    """Arm switches of the seed's router and of the two-stage design over one ramp schedule.

    The seed router ramps its ``split`` through ``schedule``; the two-stage design ramps its
    coverage through the same values with arms fixed at 50/50.
    Columns: design, step, in_both, switched, control_to_treatment.
    """
    if len(schedule) < 2 or list(schedule) != sorted(schedule):
        raise ValueError(f"schedule == {list(schedule)}, must be at least two increasing shares")
    names = [f"{share:.0%}" for share in schedule]
    two_stage = TwoStageDesign(experiment)
    tables = {
        "seed router (split ramps)": ramp_switches(
            [assign_many(experiment, user_ids, share) for share in schedule], names
        ),
        "two-stage (coverage ramps)": ramp_switches(
            [two_stage.with_coverage(share).assign_many(user_ids) for share in schedule], names
        ),
    }
    frames = [table.assign(design=design) for design, table in tables.items()]
    result = pd.concat(frames, ignore_index=True)
    result.insert(0, "step", result.pop("from_stage") + " -> " + result.pop("to_stage"))
    return result[["design", "step", "in_both", "switched", "control_to_treatment"]]


# --------------------------------------------------------------------------- SRM


@dataclass(frozen=True)
class SrmResult:
    """Result of :func:`srm_check`.

    Attributes:
        statistic: Pearson χ² = Σ (O_k − N·p_k)² / (N·p_k).
        df: K − 1.
        p_value: upper tail of χ²(df).
        mismatch: p_value < threshold: the split is not what was planned; do not analyse.
        threshold: the p-value below which a mismatch is declared (0.001 by default).
        table: variant, observed, expected, observed_share, expected_share.
    """

    statistic: float
    df: int
    p_value: float
    mismatch: bool
    threshold: float
    table: pd.DataFrame

    @property
    def verdict(self) -> str:
        if self.mismatch:
            return (
                f"sample ratio mismatch (p = {self.p_value:.2g} < {self.threshold:g}): the "
                "assignment or the logging is broken; the comparison is invalid"
            )
        return f"no sample ratio mismatch (p = {self.p_value:.3g} >= {self.threshold:g})"


def srm_check(
    observed_counts: Mapping[str, int] | Sequence[int],
    expected_shares: Mapping[str, float] | Sequence[float],
    *,
    threshold: float = SRM_THRESHOLD,
) -> SrmResult:
    """Sample ratio mismatch: χ² goodness of fit of observed unit counts to the planned split.

    Args:
        observed_counts: units (users) per variant; a mapping, or a sequence in the order of
            ``expected_shares``.
        expected_shares: planned share per variant, summing to 1.
        threshold: flag a mismatch at p below this (GrowthBook, Eppo and Statsig use 0.001).

    References:
        Fabijan et al., "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments",
        KDD 2019; scipy.stats.chisquare.

    Examples:
        >>> round(srm_check([53, 47], [0.5, 0.5]).p_value, 6)
        0.548506
    """
    if isinstance(expected_shares, Mapping):
        names = list(expected_shares)
        shares = [expected_shares[name] for name in names]
    else:
        shares = list(expected_shares)
        names = (
            list(observed_counts)
            if isinstance(observed_counts, Mapping)
            else [f"variant_{k}" for k in range(len(shares))]
        )
    if isinstance(observed_counts, Mapping):
        unknown = set(observed_counts) - set(names)
        if unknown:
            raise ValueError(
                f"observed_counts has variant(s) {sorted(unknown)} not in expected_shares {names}"
            )
        counts = [observed_counts.get(name, 0) for name in names]
    else:
        counts = list(observed_counts)
    if len(counts) != len(shares) or len(shares) < 2:
        raise ValueError(
            f"observed_counts has {len(counts)} entries and expected_shares "
            f"{len(shares)}; need the same number, at least 2"
        )
    for name, count in zip(names, counts, strict=True):
        check_number(f"observed_counts[{name!r}]", count, low=0.0, low_inclusive=True)
    check_weights(dict(zip(names, shares, strict=True)))
    if min(shares) <= 0:
        raise ValueError(f"expected_shares == {shares}, each must be > 0")
    check_number("threshold", threshold, low=0.0, high=1.0)
    observed = np.asarray(counts, dtype=float)
    total = observed.sum()
    if total <= 0:
        raise ValueError("observed_counts are all 0, nothing to check")
    expected = total * np.asarray(shares, dtype=float)
    statistic, p_value = stats.chisquare(observed, expected)
    table = pd.DataFrame(
        {
            "variant": names,
            "observed": observed.astype(int),
            "expected": expected,
            "observed_share": observed / total,
            "expected_share": shares,
        }
    )
    return SrmResult(
        float(statistic),
        len(shares) - 1,
        float(p_value),
        bool(p_value < threshold),
        threshold,
        table,
    )


def observed_split(
    counts: Mapping[str, int], planned_shares: Mapping[str, float], *, alpha: float = 0.05
) -> pd.DataFrame:
    """Observed share of units per variant with a Wilson confidence interval, beside the plan.

    Columns: variant, units, observed_share, ci_low, ci_high, planned_share, planned_in_ci.
    The Wilson score interval (Wilson 1927; statsmodels ``proportion_confint(method="wilson")``)
    treats each variant's count as binomial out of the total.
    """
    from statsmodels.stats.proportion import proportion_confint  # heavy: only when asked

    check_number("alpha", alpha, low=0.0, high=1.0)
    unknown = sorted(set(counts) - set(planned_shares))
    if unknown:
        raise ValueError(f"counts has variant(s) {unknown} not in planned_shares")
    total = sum(counts.values())
    if total <= 0:
        raise ValueError("counts are all 0, nothing to compare")
    rows = []
    for variant, planned in planned_shares.items():
        units = int(counts.get(variant, 0))
        low, high = proportion_confint(units, total, alpha=alpha, method="wilson")
        rows.append(
            {
                "variant": variant,
                "units": units,
                "observed_share": units / total,
                "ci_low": float(low),
                "ci_high": float(high),
                "planned_share": planned,
                "planned_in_ci": bool(low <= planned <= high),
            }
        )
    return pd.DataFrame(rows)
