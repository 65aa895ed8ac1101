//! RoPE scaling as the files state it, and the one form both engines consume ([`RopeFreqs`]): a
//! divisor per rotated frequency (`θᵢ = pos · base^(-2i/d) / divisorᵢ`), which is what
//! llama.cpp's `rope_freqs` tensor holds and what MLX's `fast::rope(freqs = base^(2i/d) ·
//! divisorᵢ)` takes, and a magnitude that multiplies cos and sin (YaRN's `0.1·ln s + 1`,
//! LongRoPE's attention factor; mlx-lm scales the rotated part of q and k instead, the same).

use std::f64::consts::PI;

#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (HF `linear`, GGUF `rope.scaling.type = linear`).
    Linear {
        factor: f32,
    },
    /// Llama 3.1+ (HF `rope_scaling.rope_type = llama3`).
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_context: usize,
    },
    /// Per-frequency divisors stored in the GGUF (`rope_freqs.weight`): llama.cpp's converter
    /// writes Llama 3 scaling this way.
    FreqFactors(Vec<f32>),
    /// YaRN (Qwen 2.5/3 long context): frequencies between the `beta_fast` and `beta_slow`
    /// correction dimensions blend interpolation (÷ factor) into extrapolation (÷ 1).
    Yarn {
        factor: f32,
        original_context: usize,
        beta_fast: f32,
        beta_slow: f32,
        /// A further multiplier of cos/sin (GGUF `rope.scaling.attn_factor`; 1 for Qwen).
        attn_factor: f32,
    },
    /// Phi-3 LongRoPE ("su"/"longrope"): a divisor per frequency, `long` when the context
    /// served exceeds `original_context` (llama.cpp's rule), and its attention factor.
    LongRope {
        original_context: usize,
        short: Vec<f32>,
        long: Vec<f32>,
        short_magnitude: f32,
        long_magnitude: f32,
    },
}

/// How one layer rotates: the divisor of each frequency (`None`: plain RoPE) and the factor
/// cos and sin are multiplied by.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeFreqs {
    pub divisors: Option<Vec<f32>>,
    pub magnitude: f32,
}

impl RopeFreqs {
    pub const PLAIN: RopeFreqs = RopeFreqs {
        divisors: None,
        magnitude: 1.0,
    };

    fn divided(divisors: Vec<f32>) -> Self {
        RopeFreqs {
            divisors: Some(divisors),
            magnitude: 1.0,
        }
    }
}

/// YaRN's magnitude correction (`0.1·ln s + 1`, 1 when not stretched).
pub fn yarn_magnitude(factor: f32) -> f32 {
    match factor > 1.0 {
        true => 0.1 * factor.ln() + 1.0,
        false => 1.0,
    }
}

/// Phi-3's LongRoPE attention factor: `√(1 + ln s / ln original)` with `s = context / original`.
pub fn longrope_magnitude(context: usize, original: usize) -> f32 {
    let s = context as f64 / original.max(1) as f64;
    match s > 1.0 {
        true => (1.0 + s.ln() / (original as f64).ln()).sqrt() as f32,
        false => 1.0,
    }
}

impl RopeScaling {
    pub fn name(&self) -> &'static str {
        match self {
            RopeScaling::None => "none",
            RopeScaling::Linear { .. } => "linear",
            RopeScaling::Llama3 { .. } | RopeScaling::FreqFactors(_) => "llama3",
            RopeScaling::Yarn { .. } => "yarn",
            RopeScaling::LongRope { .. } => "longrope",
        }
    }

    /// The rotation of a scaled layer with `dims` rotated dimensions, when the engine serves
    /// `context` positions. `Err` says why the stored scaling cannot be used.
    pub fn frequencies(&self, dims: usize, base: f32, context: usize) -> Result<RopeFreqs, String> {
        let half = dims / 2;
        let sized = |what: &str, f: &[f32]| match f.len() == half {
            true => Ok(f.to_vec()),
            false => Err(format!(
                "{what} has {} values but the model rotates {half} frequencies",
                f.len()
            )),
        };
        match self {
            RopeScaling::None => Ok(RopeFreqs::PLAIN),
            RopeScaling::Linear { factor } => Ok(RopeFreqs::divided(vec![*factor; half])),
            RopeScaling::FreqFactors(f) => Ok(RopeFreqs::divided(sized("rope_freqs", f)?)),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_context,
            } => Ok(RopeFreqs::divided(llama3_divisors(
                half,
                base,
                *factor,
                *low_freq_factor,
                *high_freq_factor,
                *original_context,
            ))),
            RopeScaling::Yarn {
                factor,
                original_context,
                beta_fast,
                beta_slow,
                attn_factor,
            } => Ok(RopeFreqs {
                divisors: Some(yarn_divisors(
                    dims,
                    base,
                    *factor,
                    *original_context,
                    (*beta_fast, *beta_slow),
                )),
                magnitude: yarn_magnitude(*factor) * attn_factor,
            }),
            RopeScaling::LongRope {
                original_context,
                short,
                long,
                short_magnitude,
                long_magnitude,
            } => {
                let use_long = context > *original_context;
                let (factors, magnitude, what) = match use_long {
                    true => (long, *long_magnitude, "long_factor"),
                    false => (short, *short_magnitude, "short_factor"),
                };
                Ok(RopeFreqs {
                    divisors: Some(sized(what, factors)?),
                    magnitude,
                })
            }
        }
    }
}

/// YaRN's per-frequency divisors (llama.cpp's `rope_yarn` and `ggml_rope_yarn_corr_dims`,
/// mlx-lm's `YarnRoPE`): frequency `i` is extrapolated (divisor 1) below the correction
/// dimension of `beta_fast` rotations over the original context, interpolated (divisor
/// `factor`) above that of `beta_slow`, and blended linearly between.
fn yarn_divisors(dims: usize, base: f32, factor: f32, original: usize, (fast, slow): (f32, f32)) -> Vec<f32> {
    let n = dims as f64;
    let corr = |rotations: f64| n * (original as f64 / (rotations * 2.0 * PI)).ln() / (2.0 * (base as f64).ln());
    let low = corr(fast as f64).floor().max(0.0);
    let high = corr(slow as f64).ceil().min(n - 1.0);
    (0..dims / 2)
        .map(|i| {
            let y = (i as f64 - low) / (high - low).max(0.001);
            let extrapolated = 1.0 - y.clamp(0.0, 1.0);
            (1.0 / ((1.0 - extrapolated) / factor as f64 + extrapolated)) as f32
        })
        .collect()
}

/// The Llama 3 parameter sets Meta released (3.1: factor 8; 3.2: factor 32), as
/// `(low_freq_factor, high_freq_factor, original_context)`.
const LLAMA3_RELEASES: &[(f32, f32, usize)] = &[(1.0, 4.0, 8192)];

impl RopeScaling {
    /// The scaling in a form `config.json` can state. GGUF `rope_freqs` divisors become the
    /// Llama 3 parameters that reproduce them: Meta's released sets first, then low 1 with
    /// high 2, 4 or 8 over power-of-two original contexts. `None` when there is no scaling or
    /// no parameter set reproduces the divisors.
    pub fn as_hf_params(&self, dims: usize, base: f32) -> Option<RopeScaling> {
        let RopeScaling::FreqFactors(stored) = self else {
            return (*self != RopeScaling::None).then(|| self.clone());
        };
        let factor = stored.iter().copied().fold(1.0f32, f32::max);
        let searched = (4..=20).flat_map(|k| [4.0, 2.0, 8.0].map(|high| (1.0, high, 1usize << k)));
        LLAMA3_RELEASES
            .iter()
            .copied()
            .chain(searched)
            .find(|&(low, high, original)| {
                let computed = llama3_divisors(dims / 2, base, factor, low, high, original);
                computed.len() == stored.len()
                    && computed
                        .iter()
                        .zip(stored)
                        .all(|(a, b)| (a - b).abs() <= 1e-4 * a.abs())
            })
            .map(|(low, high, original)| RopeScaling::Llama3 {
                factor,
                low_freq_factor: low,
                high_freq_factor: high,
                original_context: original,
            })
    }
}

/// Meta's Llama 3.1 rule (HF `_compute_llama3_parameters`, llama.cpp's converter): long
/// wavelengths are stretched by `factor`, short ones kept, the band between blended.
fn llama3_divisors(half: usize, base: f32, factor: f32, low: f32, high: f32, original: usize) -> Vec<f32> {
    let (factor, low, high, original) = (factor as f64, low as f64, high as f64, original as f64);
    let low_wavelen = original / low;
    let high_wavelen = original / high;
    (0..half)
        .map(|i| {
            let freq = 1.0 / (base as f64).powf(2.0 * i as f64 / (2 * half) as f64);
            let wavelen = 2.0 * PI / freq;
            let d = if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (original / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            d as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_divisors_keep_high_frequencies_and_stretch_low_ones() {
        // Llama 3.1 8B: base 500000, head dim 128, factor 8, low 1, high 4, 8192.
        let d = llama3_divisors(64, 500_000.0, 8.0, 1.0, 4.0, 8192);
        assert_eq!(d[0], 1.0);
        assert_eq!(d[63], 8.0);
        assert!(d.windows(2).all(|w| w[0] <= w[1]), "divisors grow with wavelength");
        assert!(d.iter().any(|&x| x > 1.0 && x < 8.0), "a blended band exists");
    }

    #[test]
    fn rope_freqs_divisors_are_stated_as_the_llama3_parameters_that_make_them() {
        for (base, dims, factor, high, original) in [(500_000.0, 128, 8.0, 4.0, 8192), (500_000.0, 16, 8.0, 4.0, 64)] {
            let stored = RopeScaling::FreqFactors(llama3_divisors(dims / 2, base, factor, 1.0, high, original));
            let Some(RopeScaling::Llama3 {
                factor: f,
                original_context,
                ..
            }) = stored.as_hf_params(dims, base)
            else {
                panic!("no parameters found for {dims} dims over {original}");
            };
            assert_eq!((f, original_context), (factor, original));
        }
        let odd = RopeScaling::FreqFactors(vec![1.0, 3.0, 1.5, 8.0]);
        assert_eq!(odd.as_hf_params(8, 1e4), None, "divisors no parameter set makes");
    }

    #[test]
    fn yarn_extrapolates_fast_frequencies_and_interpolates_slow_ones() {
        // Qwen2.5 with YaRN: head dim 128, base 1e6, factor 4 over 32768 positions.
        let yarn = RopeScaling::Yarn {
            factor: 4.0,
            original_context: 32768,
            beta_fast: 32.0,
            beta_slow: 1.0,
            attn_factor: 1.0,
        };
        let f = yarn.frequencies(128, 1e6, 131072).expect("yarn");
        let d = f.divisors.expect("divisors");
        assert_eq!(d.len(), 64);
        assert_eq!(d[0], 1.0);
        assert_eq!(d[63], 4.0);
        assert!(d.windows(2).all(|w| w[0] <= w[1]), "divisors grow with wavelength");
        assert!((f.magnitude - (0.1 * 4f32.ln() + 1.0)).abs() < 1e-6);
    }

    #[test]
    fn longrope_picks_long_factors_past_the_original_context() {
        let scaling = RopeScaling::LongRope {
            original_context: 4096,
            short: vec![1.0; 2],
            long: vec![2.0, 3.0],
            short_magnitude: 1.0,
            long_magnitude: longrope_magnitude(131072, 4096),
        };
        let long = scaling.frequencies(4, 1e4, 131072).expect("long");
        assert_eq!(long.divisors, Some(vec![2.0, 3.0]));
        assert!((long.magnitude - 1.190_238_9).abs() < 1e-5, "{}", long.magnitude);
        assert_eq!(
            scaling.frequencies(4, 1e4, 4096).expect("short").divisors,
            Some(vec![1.0; 2])
        );
        let err = scaling.frequencies(8, 1e4, 131072).unwrap_err();
        assert!(err.contains("long_factor has 2 values"), "{err}");
    }
}
