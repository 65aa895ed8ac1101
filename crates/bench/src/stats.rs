//! Summary statistics with visible outlier removal, and the least-squares line the leak suite
//! fits (slope with its 95% confidence interval, R², and a plateau test).

use serde::{Deserialize, Serialize};

/// Two-sided 95% critical values of Student's t for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// Student's t for a 95% interval with `df` degrees of freedom (normal beyond 30).
pub fn t95(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T95[df - 1],
        _ => 1.96,
    }
}

/// Mean, median, SD, range and 95% CI of a metric, after removing values beyond 2 SD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Values kept.
    pub n: usize,
    /// Values removed as beyond 2 SD of the mean of all values.
    pub outliers_removed: usize,
    pub mean: f64,
    pub median: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

impl Summary {
    /// `None` for no finite values.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let all: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if all.is_empty() {
            return None;
        }
        let (m, s) = (mean(&all), sd(&all));
        let mut kept: Vec<f64> = all
            .iter()
            .copied()
            .filter(|x| s == 0.0 || (x - m).abs() <= 2.0 * s)
            .collect();
        kept.sort_by(f64::total_cmp);
        let n = kept.len();
        let (km, ks) = (mean(&kept), sd(&kept));
        let median = if n % 2 == 1 {
            kept[n / 2]
        } else {
            (kept[n / 2 - 1] + kept[n / 2]) / 2.0
        };
        let half = if n > 1 {
            t95(n - 1) * ks / (n as f64).sqrt()
        } else {
            0.0
        };
        Some(Summary {
            n,
            outliers_removed: all.len() - n,
            mean: km,
            median,
            sd: ks,
            min: kept[0],
            max: kept[n - 1],
            ci95_low: km - half,
            ci95_high: km + half,
        })
    }
}

/// y = intercept + slope·x, by least squares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    pub slope: f64,
    pub intercept: f64,
    pub slope_ci95_low: f64,
    pub slope_ci95_high: f64,
    pub r2: f64,
    pub n: usize,
}

impl LinearFit {
    /// `None` for fewer than 3 points or no spread in x.
    pub fn of(x: &[f64], y: &[f64]) -> Option<LinearFit> {
        let n = x.len().min(y.len());
        if n < 3 {
            return None;
        }
        let (x, y) = (&x[..n], &y[..n]);
        let (mx, my) = (mean(x), mean(y));
        let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        if sxx == 0.0 {
            return None;
        }
        let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let slope = sxy / sxx;
        let intercept = my - slope * mx;
        let sse: f64 = x.iter().zip(y).map(|(a, b)| (b - intercept - slope * a).powi(2)).sum();
        let sst: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
        let se = (sse / (n - 2) as f64 / sxx).sqrt();
        let half = t95(n - 2) * se;
        Some(LinearFit {
            slope,
            intercept,
            slope_ci95_low: slope - half,
            slope_ci95_high: slope + half,
            r2: if sst > 0.0 { 1.0 - sse / sst } else { 1.0 },
            n,
        })
    }
}

/// The leak verdict: the slope over every iteration, and whether growth stops after the
/// first `warmup` iterations (the tail's slope is not above `tolerance` per iteration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakAnalysis {
    pub fit: LinearFit,
    pub warmup: usize,
    pub tail_fit: Option<LinearFit>,
    pub plateau: bool,
    pub tolerance_per_iteration: f64,
}

/// `y` in any unit; `tolerance` in that unit per iteration.
pub fn leak_analysis(y: &[f64], tolerance: f64) -> Option<LeakAnalysis> {
    let x: Vec<f64> = (0..y.len()).map(|i| i as f64).collect();
    let fit = LinearFit::of(&x, y)?;
    let warmup = (y.len() / 5).max(3).min(y.len().saturating_sub(3));
    let tail_fit = LinearFit::of(&x[warmup..], &y[warmup..]);
    // Growth has stopped when the tail's slope is within the tolerance, or not distinguishable
    // from zero.
    let plateau = tail_fit
        .as_ref()
        .is_some_and(|t| t.slope <= tolerance || t.slope_ci95_low <= 0.0);
    Some(LeakAnalysis {
        fit,
        warmup,
        tail_fit,
        plateau,
        tolerance_per_iteration: tolerance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_removes_outliers_beyond_two_sd_and_says_how_many() {
        let mut v = vec![10.0; 19];
        v[0] = 9.0;
        v[1] = 11.0;
        v.push(100.0);
        let s = Summary::of(&v).expect("summary");
        assert_eq!(s.outliers_removed, 1);
        assert_eq!(s.n, 19);
        assert!((s.mean - 10.0).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.median), (9.0, 11.0, 10.0));
        assert!(s.ci95_low < 10.0 && s.ci95_high > 10.0);
        assert!(Summary::of(&[]).is_none());
        let one = Summary::of(&[3.0]).expect("one");
        assert_eq!((one.mean, one.sd, one.ci95_low), (3.0, 0.0, 3.0));
    }

    #[test]
    fn known_ci_for_a_small_sample() {
        // mean 3, sd sqrt(2.5), t(4) = 2.776: half-width 2.776 * 1.5811 / sqrt(5) = 1.9630.
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).expect("s");
        assert!((s.ci95_high - s.mean - 1.963).abs() < 1e-3, "{s:?}");
    }
}
