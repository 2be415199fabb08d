//! Mean, sample standard deviation, minimum and maximum of a handful of accuracies.

use serde::Serialize;

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
}
