"""CUPED: the difference of mean selection times adjusted by a pre-experiment covariate, per interaction.

Deng, Xu, Kohavi & Walker, "Improving the sensitivity of online controlled experiments by utilizing
pre-experiment data" (WSDM 2013), in the ratio-metric form their appendix and Deng, Knoblich & Lu
(2018) give for clustered observations. Each interaction i (the randomisation unit) has n_i
selections, y_i = sum of (selection_time_s - shift) over them, and a covariate x_i measured before
the experiment (abkit: the advocate's mean selection time over a window before the phase began,
centred on the pre-period grand mean, 0 for an advocate without history; see docs/statistics.md).

Per arm, the mean selection time r = sum(y) / sum(n) (+ shift) and the selection-weighted covariate
mean xbar = sum(n x) / sum(n) are ratio estimators; their delta-method (cluster-robust) variances and
covariance come from the linearised per-interaction terms e_i = y_i - r n_i and d_i = n_i (x_i - xbar):

    V_y = c sum(e**2),  V_x = c sum(d**2),  C = c sum(e d),  c = k / (k - 1) / sum(n)**2

(V_y is `ClusterSummary.variance_of_mean`). One theta, pooled across the arms, minimises the variance
of the adjusted delta (as GrowthBook's regression adjustment, and Deng et al.'s pooled theta):

    theta = (C_1 + C_0) / (V_x1 + V_x0)
    delta_adj = (r_1 - r_0) - theta (xbar_1 - xbar_0)
    V_adj_j = V_yj - 2 theta C_j + theta**2 V_xj,   Var(delta_adj) = V_adj_1 + V_adj_0

and the CI and p are Welch's, with each arm's adjusted variance and k - 1 dof. The estimate is
unbiased whatever x is, because x is fixed before assignment: E[xbar_1 - xbar_0] = 0. Since theta
minimises the estimated variance, the adjusted variance is never above the unadjusted one; a
useless covariate leaves the CI as it was up to the Welch df.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from abkit.stats._checks import finite, level, relative_to_largest
from abkit.stats._result import ToDictMixin
from abkit.stats.cluster import ClusterSummary
from abkit.stats.delta import DeltaResult, mean_delta
from abkit.stats.sequential import DEFAULT_N_STAR, SequentialResult, confidence_sequence
from abkit.stats.stratified import stratified_summary
from abkit.stats.welch import WelchResult, clustered_welch


@dataclass(frozen=True)
class CupedSummary(ToDictMixin):
    """An arm's interaction-level sums (`clusters`) and the covariate sums CUPED needs.

    Attributes:
        clusters: k, sum n, sum y, sum n**2, sum y**2, sum n y and the shift of y.
        sum_nx: Sum of n_i x_i.
        sum_n2x: Sum of n_i**2 x_i.
        sum_n2x2: Sum of n_i**2 x_i**2.
        sum_nxy: Sum of n_i x_i y_i (y_i about `clusters.shift`).
        x_shift: What x_i is taken about in these sums (x_i = covariate - x_shift), as `clusters.shift`
            is for y: sums about a value near the covariates keep their precision however far the
            covariates sit from zero. `from_clusters` takes their mean; arms may differ.
    """

    clusters: ClusterSummary
    sum_nx: float
    sum_n2x: float
    sum_n2x2: float
    sum_nxy: float
    x_shift: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.clusters, ClusterSummary):
            raise TypeError(f"clusters must be a ClusterSummary, got {type(self.clusters).__name__}")
        for name in ("sum_nx", "sum_n2x", "sum_n2x2", "sum_nxy"):
            value = getattr(self, name)
            value = 0.0 if value is None and self.clusters.k == 0 else finite(value, name)
            if self.clusters.k == 0 and value != 0:
                raise ValueError("an empty summary (k = 0) must have all covariate sums = 0")
            object.__setattr__(self, name, value)
        if self.sum_n2x2 < 0:
            raise ValueError(f"sum_n2x2 must be >= 0, got {self.sum_n2x2!r}")
        object.__setattr__(self, "x_shift", finite(self.x_shift, "x_shift"))

    @classmethod
    def from_clusters(
        cls, counts: Iterable[int], sums: Iterable[float], covariates: Iterable[float], shift: float
    ) -> CupedSummary:
        """Build from per-interaction counts n_i, sums y_i = sum(x - shift) and covariates x_i.

        Raises:
            ValueError: When the lengths differ, a count is < 1 or a value is not finite.
        """
        n = np.asarray(list(counts) if not isinstance(counts, np.ndarray) else counts, dtype=np.float64).ravel()
        y = np.asarray(list(sums) if not isinstance(sums, np.ndarray) else sums, dtype=np.float64).ravel()
        x = np.asarray(
            list(covariates) if not isinstance(covariates, np.ndarray) else covariates, dtype=np.float64
        ).ravel()
        if x.shape != n.shape:
            raise ValueError(f"counts and covariates differ in length ({n.size} != {x.size})")
        if not np.all(np.isfinite(x)):
            raise ValueError("covariates must all be finite (found NaN or infinity)")
        clusters = ClusterSummary.from_clusters(n, y, shift)
        x_shift = float(x.mean()) if x.size else 0.0
        nx = n * (x - x_shift)
        return cls(
            clusters=clusters,
            sum_nx=float(nx.sum()),
            sum_n2x=float(np.dot(n, nx)),
            sum_n2x2=float(np.dot(nx, nx)),
            sum_nxy=float(np.dot(nx, y)),
            x_shift=x_shift,
        )

    def adjusted(self, theta: float) -> ClusterSummary:
        """The interaction-level sums of the adjusted outcome z_i = y_i - theta n_i x_i.

        The adjusted mean is r - theta xbar (x about `x_shift`) and its delta-method variance is
        V_y - 2 theta C + theta**2 V_x, since z_i - r_z n_i = e_i - theta d_i; so every function of a
        ClusterSummary (`mean_delta`, `clustered_welch`, stratification across phases, the confidence
        sequence) works on the adjusted arm unchanged. Arms compared must share `x_shift`
        (:meth:`about`): the adjusted means then differ by the adjusted delta exactly.
        """
        c = self.clusters
        if c.k == 0:
            return c
        return ClusterSummary(
            k=c.k,
            sum_n=c.sum_n,
            sum_y=c.sum_y - theta * self.sum_nx,
            sum_n2=c.sum_n2,
            sum_y2=max(c.sum_y2 - 2.0 * theta * self.sum_nxy + theta * theta * self.sum_n2x2, 0.0),
            sum_ny=c.sum_ny - theta * self.sum_n2x,
            shift=c.shift,
        )

    def about(self, x_shift: float) -> CupedSummary:
        """The same interactions with x taken about ``x_shift``: x_i' = x_i + gap, gap = self.x_shift - x_shift."""
        gap = self.x_shift - finite(x_shift, "x_shift")
        if gap == 0 or self.clusters.k == 0:
            return self
        c = self.clusters
        return CupedSummary(
            clusters=c,
            sum_nx=self.sum_nx + gap * c.sum_n,
            sum_n2x=self.sum_n2x + gap * c.sum_n2,
            sum_n2x2=max(self.sum_n2x2 + 2.0 * gap * self.sum_n2x + gap * gap * c.sum_n2, 0.0),
            sum_nxy=self.sum_nxy + gap * c.sum_ny,
            x_shift=x_shift,
        )

    def __add__(self, other: CupedSummary) -> CupedSummary:
        """Combine disjoint interactions, keeping the left shifts: the right's y_i' = y_i + n_i gap
        (gap = shift_right - shift_left) and its x about the left's `x_shift`."""
        if not isinstance(other, CupedSummary):
            return NotImplemented
        if other.clusters.k == 0:
            return self
        if self.clusters.k == 0:
            return other
        gap = other.clusters.shift - self.clusters.shift
        aligned = other.about(self.x_shift)
        return CupedSummary(
            clusters=self.clusters + other.clusters,
            sum_nx=self.sum_nx + aligned.sum_nx,
            sum_n2x=self.sum_n2x + aligned.sum_n2x,
            sum_n2x2=self.sum_n2x2 + aligned.sum_n2x2,
            sum_nxy=self.sum_nxy + aligned.sum_nxy + gap * aligned.sum_n2x,
            x_shift=self.x_shift,
        )


@dataclass(frozen=True)
class CupedResult(ToDictMixin):
    """CUPED-adjusted delta = mean(treatment) - mean(control), negative when treatment saves time.

    Attributes:
        delta_s: Adjusted difference of means in seconds.
        ci95_s: (low, high) Welch t interval of delta_s (at `confidence`).
        p: Two-sided Welch p of the adjusted delta.
        variance_reduction: 1 - Var(adjusted delta) / Var(unadjusted delta), in [0, 1].
        missing: Why the figures are None, else None.
        theta: The pooled regression coefficient on the covariate.
        se: Standard error of delta_s.
        df: Welch-Satterthwaite df of the adjusted arms' variances.
        units: Interactions in both arms (the N of a confidence sequence on this estimate).
        confidence: Confidence level of ci95_s.
    """

    delta_s: float | None
    ci95_s: tuple[float, float] | None
    p: float | None
    variance_reduction: float | None
    missing: str | None = None
    theta: float | None = None
    se: float | None = None
    df: float | None = None
    units: int | None = None
    confidence: float = 0.95

    def sequential(self, n_star: int = DEFAULT_N_STAR, confidence: float = 0.95) -> SequentialResult:
        """The always-valid confidence sequence on the adjusted delta and its variance."""
        if self.delta_s is None or self.se is None or self.units is None:
            return SequentialResult(None, None, None, n_star, self.missing or "no adjusted estimate")
        return confidence_sequence(self.delta_s, self.se * self.se, self.units, n_star, confidence)


def _covariate_moments(summary: CupedSummary) -> tuple[float, float] | None:
    """(V_x, C) of one arm: the variance of its covariate mean and its covariance with the arm's mean.

    None when the arm has fewer than 2 interactions (no variance to estimate).
    """
    clusters = summary.clusters
    if clusters.k < 2:
        return None
    total_n = clusters.sum_n
    r, xbar = clusters.sum_y / total_n, summary.sum_nx / total_n
    scale = clusters.k / (clusters.k - 1) / (total_n * total_n)
    # sum d^2 and sum e d with d_i = n_i (x_i - xbar), e_i = y_i - r n_i, expanded into the sums
    sum_d2 = max(summary.sum_n2x2 - 2.0 * xbar * summary.sum_n2x + xbar * xbar * clusters.sum_n2, 0.0)
    sum_ed = summary.sum_nxy - xbar * clusters.sum_ny - r * summary.sum_n2x + r * xbar * clusters.sum_n2
    return scale * sum_d2, scale * sum_ed


def covariate_correlation(arms: Sequence[CupedSummary]) -> float | None:
    """Correlation of the outcome with the covariate at the interaction level, pooled within arms.

    From each arm's linearised terms e_i = y_i - r n_i and d_i = n_i (x_i - xbar) (see the module
    docstring), k (k - 1) V_y, k (k - 1) V_x and k (k - 1) C are the sums of squares and products of
    e_i / nbar and d_i / nbar; pooling them over the arms gives

        rho = sum_j w_j C_j / sqrt(sum_j w_j V_yj * sum_j w_j V_xj),  w_j = k_j (k_j - 1)

    and CUPED multiplies the variance of an arm's mean by about 1 - rho**2 (Deng et al., 2013).
    Arms with fewer than 2 interactions add nothing.

    Returns:
        rho in [-1, 1], or None when the covariate or the outcome does not vary.
    """
    covariance = variance_x = variance_y = 0.0
    for summary in arms:
        moments, outcome = _covariate_moments(summary), summary.clusters.variance_of_mean
        if moments is None or outcome is None:
            continue
        weight = summary.clusters.k * (summary.clusters.k - 1)
        variance_x += weight * moments[0]
        covariance += weight * moments[1]
        variance_y += weight * outcome
    if variance_x <= 0 or variance_y <= 0:
        return None
    return max(-1.0, min(1.0, covariance / math.sqrt(variance_x * variance_y)))


def pooled_theta(strata: Sequence[tuple[CupedSummary, CupedSummary]], weights: Sequence[float] | None = None) -> float:
    """The theta that minimises the variance of the adjusted delta, pooled over arms and strata.

    For one stratum (treatment, control): theta = (C_1 + C_0) / (V_x1 + V_x0). For strata (experiment
    phases) combined with weights w_p (the stratified delta sum_p w_p delta_p, variance
    sum_p w_p^2 V_p): theta = sum_p w_p^2 (C_1p + C_0p) / sum_p w_p^2 (V_x1p + V_x0p). Arms with fewer
    than 2 interactions add nothing; 0 when the covariate does not vary (nothing to adjust by).

    Args:
        strata: (treatment, control) sums of each stratum.
        weights: Weight of each stratum (normalising does not change theta); default all 1.
    """
    if weights is not None and len(weights) != len(strata):
        raise ValueError(f"{len(strata)} strata but {len(weights)} weights")
    checked = [1.0] * len(strata) if weights is None else [finite(weight, "weight") for weight in weights]
    numerator = denominator = 0.0
    for pair, weight in zip(strata, relative_to_largest(checked), strict=True):  # w**2 stays a float
        for summary in pair:
            moments = _covariate_moments(summary)
            if moments is not None:
                denominator += weight * weight * moments[0]
                numerator += weight * weight * moments[1]
    return numerator / denominator if denominator > 0 else 0.0


def cuped_result(
    adjusted: DeltaResult, welch: WelchResult, unadjusted_variance: float | None, theta: float, units: int
) -> CupedResult:
    """Assemble a CupedResult from the delta and Welch test of adjusted summaries.

    Args:
        adjusted: `mean_delta` of the arms' `CupedSummary.adjusted(theta)` (or of their stratified
            combination across phases).
        welch: `clustered_welch` of the same adjusted summaries.
        unadjusted_variance: Variance of the unadjusted delta (for `variance_reduction`); None if unknown.
        theta: The theta used.
        units: Interactions in both arms.
    """
    missing = adjusted.missing or welch.missing
    reduction = None
    if welch.se is not None and unadjusted_variance is not None and unadjusted_variance > 0:
        reduction = min(max(1.0 - welch.se * welch.se / unadjusted_variance, 0.0), 1.0)
    return CupedResult(
        delta_s=adjusted.delta_s,
        ci95_s=adjusted.ci95_s,
        p=welch.p,
        variance_reduction=reduction,
        missing=missing,
        theta=theta,
        se=welch.se,
        df=welch.df,
        units=units,
        confidence=adjusted.confidence,
    )


def cuped_delta(
    treatment: CupedSummary,
    control: CupedSummary,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("treatment", "control"),
) -> CupedResult:
    """CUPED-adjusted difference of mean selection times, at the interaction level.

    The arms' sums are adjusted with the pooled theta (`CupedSummary.adjusted`), and the adjusted
    interaction-level summaries go through `mean_delta` and `clustered_welch` like any other.

    Args:
        treatment: Sums of the treatment arm.
        control: Sums of the control arm (holdout or baseline version).
        confidence: Confidence level in (0, 1).
        labels: Names of the two arms used in `missing` reasons.

    Raises:
        ValueError: When `confidence` is not strictly between 0 and 1.
    """
    level(confidence, "confidence")
    control = control.about(treatment.x_shift)  # adjusted means compare about one x_shift
    theta = pooled_theta([(treatment, control)])
    adjusted_1, adjusted_0 = treatment.adjusted(theta), control.adjusted(theta)
    delta = mean_delta(adjusted_1, adjusted_0, confidence, labels)
    welch = clustered_welch(adjusted_1, adjusted_0, labels)
    first, second = treatment.clusters.variance_of_mean, control.clusters.variance_of_mean
    unadjusted = None if first is None or second is None else first + second
    return cuped_result(delta, welch, unadjusted, theta, treatment.clusters.k + control.clusters.k)


def stratified_cuped_delta(
    strata: Sequence[tuple[CupedSummary, CupedSummary]],
    weights: Sequence[float],
    labels: tuple[str, str] = ("treatment", "control"),
    stratum_names: Sequence[str] | None = None,
) -> CupedResult:
    """CUPED across strata (experiment phases): one theta pooled over arms and strata, strata combined.

    Each arm's adjusted sums are combined across the strata with `stratified_summary` (weights w_p,
    normalised), exactly as the unadjusted interaction-level delta is, and go through `mean_delta`
    and `clustered_welch`; the variance reduction is against the stratified unadjusted delta. With
    one stratum this is `cuped_delta`.

    Args:
        strata: (treatment, control) sums of each stratum, every arm with at least one interaction.
        weights: Weight of each stratum (e.g. its interactions in both arms).
        labels: Names of the two arms used in `missing` reasons.
        stratum_names: Names of the strata in `missing` reasons (default "stratum 1", ...).

    Raises:
        ValueError: For no strata, mismatched lengths, an empty arm or a weight that is not positive.
    """
    if not strata:
        raise ValueError("stratified_cuped_delta needs at least one stratum")
    names = list(stratum_names) if stratum_names is not None else [f"stratum {p + 1}" for p in range(len(strata))]
    # every arm's x about one x_shift, so that the adjusted arms compare and combine exactly
    x_shift = strata[0][0].x_shift
    strata = [(treatment.about(x_shift), control.about(x_shift)) for treatment, control in strata]
    theta = pooled_theta(strata, weights)
    arms = []
    for side, label in enumerate(labels):
        arm_names = [f"{label} ({name})" for name in names]
        adjusted = stratified_summary([pair[side].adjusted(theta) for pair in strata], weights, arm_names)
        unadjusted = stratified_summary([pair[side].clusters for pair in strata], weights, arm_names)
        assert adjusted is not None and unadjusted is not None  # strata is not empty
        arms.append((adjusted, unadjusted))
    (treatment, plain_treatment), (control, plain_control) = arms
    delta = mean_delta(treatment, control, labels=labels)
    welch = clustered_welch(treatment, control, labels=labels)
    plain = clustered_welch(plain_treatment, plain_control, labels=labels)
    units = sum(pair[0].clusters.k + pair[1].clusters.k for pair in strata)
    return cuped_result(delta, welch, None if plain.se is None else plain.se * plain.se, theta, units)
