//! Statistics of a handful of accuracies: mean, sample standard deviation, minimum and maximum;
//! 95% intervals (Wilson for one run's accuracy on n images, Student's t for the mean of repeats);
//! and the tests that say whether two configurations differ: McNemar's exact test on two
//! classifiers' per-example correctness (Dietterich 1998), Welch's unequal-variance t-test, and
//! Holm's step-down correction for several comparisons. The distributions come from `statrs`;
//! the formulas below are the glue. Every figure is checked against SciPy in the tests.

use serde::Serialize;
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal, StudentsT};

/// Arithmetic mean, `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation (divides by `n - 1`), `None` for fewer than two values: the spread of a
/// single run is unknown, not zero.
pub fn sample_sd(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((ss / (values.len() - 1) as f64).sqrt())
}

/// Smallest value, `None` for no values (NaN is ignored unless every value is NaN).
pub fn min(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::min)
}

/// Largest value, `None` for no values (NaN is ignored unless every value is NaN).
pub fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

/// Count, mean, sample standard deviation, minimum and maximum of some values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (`n - 1`); `None` (JSON `null`) when `n == 1`.
    pub sd: Option<f64>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`, `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Summary> {
        Some(Summary {
            n: values.len(),
            mean: mean(values)?,
            sd: sample_sd(values),
            min: min(values)?,
            max: max(values)?,
        })
    }
}

/// A two-sided confidence interval and how it was computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// `wilson` (one run: the binomial error of `n` images) or `t` (the mean of repeated runs).
    pub method: &'static str,
    /// Whether a bound was cut to the range the quantity can take ([`Interval::within`]): a t
    /// interval over few values can reach past an accuracy of 0 or 1. Omitted from JSON when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub clipped: bool,
}

impl Interval {
    /// The interval cut to `[lo, hi]` (for an accuracy `[0, 1]`), with `clipped` set when a bound
    /// moved. A t interval of 2-3 values of an accuracy near 1 is wide enough to pass 1; the
    /// values past it are impossible, so they are not shown, and the flag says the interval was
    /// wider than its range.
    pub fn within(self, lo: f64, hi: f64) -> Interval {
        let (low, high) = (self.low.max(lo), self.high.min(hi));
        Interval {
            clipped: self.clipped || low != self.low || high != self.high,
            low,
            high,
            ..self
        }
    }
}

/// Wilson score interval for an accuracy `p_hat` measured on `n` images, at confidence `level`
/// (e.g. 0.95): `(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)` with `z` the normal
/// quantile of `(1 + level) / 2`. `None` when `n` is 0. Source: Wilson (1927); the same as
/// `statsmodels.stats.proportion.proportion_confint(method="wilson")`.
pub fn wilson(p_hat: f64, n: usize, level: f64) -> Option<Interval> {
    if n == 0 || !p_hat.is_finite() {
        return None;
    }
    let z = Normal::standard().inverse_cdf(0.5 + level / 2.0);
    let n = n as f64;
    let z2 = z * z;
    let centre = p_hat + z2 / (2.0 * n);
    let half = z * (p_hat * (1.0 - p_hat) / n + z2 / (4.0 * n * n)).sqrt();
    let d = 1.0 + z2 / n;
    // Within [0, 1] by construction, and exactly 0 (1) at an accuracy of 0 (1): set so, to drop
    // the rounding of the division (1.0000000000000002, 3e-18); not marked clipped.
    let low = if p_hat <= 0.0 {
        0.0
    } else {
        ((centre - half) / d).max(0.0)
    };
    let high = if p_hat >= 1.0 {
        1.0
    } else {
        ((centre + half) / d).min(1.0)
    };
    Some(Interval {
        low,
        high,
        level,
        method: "wilson",
        clipped: false,
    })
}

/// Student-t interval of the mean of `values` at confidence `level`: `mean ± t(n-1) · sd / sqrt(n)`
/// with `t(n-1)` the quantile of `(1 + level) / 2` (SciPy: `t.ppf`). `None` for fewer than two
/// values.
pub fn t_interval(values: &[f64], level: f64) -> Option<Interval> {
    let n = values.len();
    let sd = sample_sd(values)?;
    let m = mean(values)?;
    let t = t_quantile(0.5 + level / 2.0, (n - 1) as f64)?;
    let half = t * sd / (n as f64).sqrt();
    Some(Interval {
        low: m - half,
        high: m + half,
        level,
        method: "t",
        clipped: false,
    })
}

/// The `p` quantile of Student's t with `df` degrees of freedom (`None` unless `df > 0`).
pub fn t_quantile(p: f64, df: f64) -> Option<f64> {
    if df.is_nan() || df <= 0.0 {
        return None;
    }
    Some(StudentsT::new(0.0, 1.0, df).ok()?.inverse_cdf(p))
}

/// The result of a two-sided test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TestResult {
    /// `mcnemar-exact` or `welch`.
    pub method: &'static str,
    /// The test statistic: Welch's t, or for McNemar the smaller discordant count.
    pub statistic: f64,
    /// Welch–Satterthwaite degrees of freedom (Welch), or the number of discordant pairs (McNemar).
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Welch's unequal-variance t-test of the means of `a` and `b`, two-sided (SciPy:
/// `ttest_ind(a, b, equal_var=False)`): `t = (mean_a - mean_b) / sqrt(s_a²/n_a + s_b²/n_b)`,
/// degrees of freedom by Welch–Satterthwaite. `None` unless both have at least two values. When
/// both samples have no spread, p is 1 for equal means and 0 otherwise.
pub fn welch(a: &[f64], b: &[f64]) -> Option<TestResult> {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (va, vb) = (sample_sd(a)?.powi(2) / na, sample_sd(b)?.powi(2) / nb);
    let diff = mean(a)? - mean(b)?;
    let se2 = va + vb;
    if se2 == 0.0 {
        let p = if diff == 0.0 { 1.0 } else { 0.0 };
        return Some(TestResult {
            method: "welch",
            statistic: if diff == 0.0 {
                0.0
            } else {
                diff.signum() * f64::INFINITY
            },
            df: na + nb - 2.0,
            p,
        });
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = (2.0 * dist.cdf(-t.abs())).min(1.0);
    Some(TestResult {
        method: "welch",
        statistic: t,
        df,
        p,
    })
}

/// McNemar's exact test on two classifiers evaluated on the same images (Dietterich 1998): `b`
/// images only the first classifies right, `c` only the second. Under the null each discordant
/// image goes either way with probability 1/2, so the two-sided p-value is
/// `min(1, 2 · P(X <= min(b, c)))` for `X ~ Binomial(b + c, 1/2)` (SciPy:
/// `binomtest(min(b, c), b + c, 0.5).pvalue`); 1 when there are no discordant images.
pub fn mcnemar_exact(b: u64, c: u64) -> TestResult {
    let n = b + c;
    let k = b.min(c);
    let p = if n == 0 {
        1.0
    } else {
        let dist = Binomial::new(0.5, n).expect("p = 0.5 is a probability");
        (2.0 * dist.cdf(k)).min(1.0)
    };
    TestResult {
        method: "mcnemar-exact",
        statistic: k as f64,
        df: n as f64,
        p,
    }
}

/// Holm's step-down adjustment of `p` (in any order, returned in the same order): sorted
/// ascending, the i-th smallest (0-based) becomes `max over j <= i of min(1, (m - j) · p_(j))`.
/// Rejecting where the adjusted value is below alpha controls the family-wise error rate at alpha.
/// (statsmodels: `multipletests(p, method="holm")`.)
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]).then(i.cmp(&j)));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn four_accuracies_by_hand() {
        let v = [0.91, 0.92, 0.93, 0.90];
        // mean = (0.91 + 0.92 + 0.93 + 0.90) / 4 = 3.66 / 4 = 0.915
        assert!(close(mean(&v).unwrap(), 0.915));
        // deviations from 0.915: -0.005, +0.005, +0.015, -0.015
        // squares: 0.000025, 0.000025, 0.000225, 0.000225, sum 0.0005
        // sample variance = 0.0005 / (4 - 1) = 0.000166666...
        // sd = sqrt(0.000166666...) = 0.0129099444873580...
        let sd = sample_sd(&v).unwrap();
        assert!(close(sd, (0.0005f64 / 3.0).sqrt()), "{sd}");
        assert!(close(sd, 0.012_909_944_487_358_056), "{sd}");
        assert_eq!(min(&v), Some(0.90));
        assert_eq!(max(&v), Some(0.93));
        let s = Summary::of(&v).unwrap();
        assert_eq!(s.n, 4);
        assert!(close(s.mean, 0.915));
        assert_eq!(s.sd, Some(sd));
    }

    #[test]
    fn two_values_by_hand() {
        // [0.8, 0.9]: mean 0.85, deviations ±0.05, squares 0.0025 each, variance 0.005 / 1,
        // sd = sqrt(0.005) = 0.07071067811865475
        let sd = sample_sd(&[0.8, 0.9]).unwrap();
        assert!(close(sd, 0.070_710_678_118_654_75), "{sd}");
    }

    #[test]
    fn single_value_has_no_sd() {
        assert_eq!(sample_sd(&[0.9]), None);
        let s = Summary::of(&[0.9]).unwrap();
        assert_eq!((s.n, s.mean, s.sd, s.min, s.max), (1, 0.9, None, 0.9, 0.9));
        assert_eq!(
            serde_json::to_value(s).unwrap()["sd"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn no_values_no_summary() {
        assert_eq!(mean(&[]), None);
        assert_eq!(sample_sd(&[]), None);
        assert_eq!(min(&[]), None);
        assert_eq!(max(&[]), None);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn identical_values_have_zero_sd() {
        assert_eq!(sample_sd(&[0.5, 0.5, 0.5]), Some(0.0));
    }

    // Reference numbers from SciPy 1.x (python3 -m venv /tmp/scipy-venv &&
    // /tmp/scipy-venv/bin/pip install scipy), printed by this script:
    //
    //     from scipy import stats
    //     import math
    //     a = [0.9053, 0.8909, 0.8990, 0.8962, 0.9021]
    //     b = [0.8931, 0.8874, 0.8950, 0.8902]
    //     r = stats.ttest_ind(a, b, equal_var=False); print(r.statistic, r.pvalue, r.df)
    //     r = stats.ttest_ind([0.91, 0.92], [0.80, 0.95, 0.85], equal_var=False)
    //     print(r.statistic, r.pvalue, r.df)
    //     for k, n in [(12, 40), (0, 5), (30, 61), (3, 3)]:
    //         print(k, n, stats.binomtest(k, n, 0.5).pvalue)
    //     print(stats.binomtest(9163, 10000).proportion_ci(method="wilson"))
    //     print(stats.binomtest(4500, 5000).proportion_ci(method="wilson"))
    //     print(stats.t.ppf(0.975, 4), stats.t.ppf(0.975, 2))
    //     m = sum(a) / 5; h = stats.t.ppf(0.975, 4) * stats.tstd(a) / math.sqrt(5); print(m - h, m + h)
    //
    // Holm has no SciPy function; by hand: p = [0.01, 0.04, 0.03, 0.2], m = 4, sorted 0.01, 0.03,
    // 0.04, 0.2 times 4, 3, 2, 1 = 0.04, 0.09, 0.08, 0.2, made non-decreasing: 0.04, 0.09, 0.09, 0.2
    // (statsmodels' multipletests(method="holm") gives the same).

    fn near(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn welch_matches_scipy() {
        let a = [0.9053, 0.8909, 0.8990, 0.8962, 0.9021];
        let b = [0.8931, 0.8874, 0.8950, 0.8902];
        let r = welch(&a, &b).unwrap();
        assert!(near(r.statistic, 2.440099648826017, 1e-9), "{r:?}");
        assert!(near(r.df, 6.632409310458746, 1e-9), "{r:?}");
        assert!(near(r.p, 0.046637925505447216, 1e-9), "{r:?}");
        let r = welch(&[0.91, 0.92], &[0.80, 0.95, 0.85]).unwrap();
        assert!(near(r.statistic, 1.0891178609735863, 1e-9), "{r:?}");
        assert!(near(r.df, 2.051081071156067, 1e-9), "{r:?}");
        assert!(near(r.p, 0.38742377838534364, 1e-9), "{r:?}");
        assert!(welch(&[0.9], &a).is_none(), "one run has no variance");
        assert_eq!(welch(&[0.9, 0.9], &[0.9, 0.9]).unwrap().p, 1.0);
    }

    #[test]
    fn mcnemar_matches_scipy_binomtest() {
        // b = 12 images only the first got right, c = 28 only the second: binomtest(12, 40).
        assert!(near(mcnemar_exact(12, 28).p, 0.01658900337497471, 1e-12));
        assert!(near(mcnemar_exact(28, 12).p, 0.01658900337497471, 1e-12));
        assert!(near(mcnemar_exact(0, 5).p, 0.0625, 1e-12));
        assert_eq!(mcnemar_exact(30, 31).p, 1.0);
        assert!(near(mcnemar_exact(3, 0).p, 0.25, 1e-12));
        assert_eq!(mcnemar_exact(0, 0).p, 1.0);
    }

    #[test]
    fn wilson_matches_scipy() {
        let w = wilson(0.9163, 10_000, 0.95).unwrap();
        assert!(near(w.low, 0.9107109569329684, 1e-12), "{w:?}");
        assert!(near(w.high, 0.9215693260236062, 1e-12), "{w:?}");
        let w = wilson(0.9, 5000, 0.95).unwrap();
        assert!(near(w.low, 0.8913750184255399, 1e-12), "{w:?}");
        assert!(near(w.high, 0.9080108200184145, 1e-12), "{w:?}");
        assert!(wilson(0.9, 0, 0.95).is_none());
    }

    #[test]
    fn t_quantile_and_interval_match_scipy() {
        assert!(near(
            t_quantile(0.975, 4.0).unwrap(),
            2.7764451051977934,
            1e-9
        ));
        assert!(near(
            t_quantile(0.975, 2.0).unwrap(),
            4.302652729749462,
            1e-9
        ));
        let ci = t_interval(&[0.9053, 0.8909, 0.8990, 0.8962, 0.9021], 0.95).unwrap();
        assert!(near(ci.low, 0.8918342604923716, 1e-9), "{ci:?}");
        assert!(near(ci.high, 0.9055657395076285, 1e-9), "{ci:?}");
        assert!(t_interval(&[0.9], 0.95).is_none());
    }

    #[test]
    fn holm_by_hand() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.2]);
        let want = [0.04, 0.09, 0.09, 0.2];
        for (a, w) in adj.iter().zip(want) {
            assert!(near(*a, w, 1e-12), "{adj:?}");
        }
        assert_eq!(holm(&[0.5, 0.6]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
