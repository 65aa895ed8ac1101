//! RoPE scaling as the files state it, and the one form both engines consume: a divisor per
//! rotated frequency (`θᵢ = pos · base^(-2i/d) / divisorᵢ`), which is what llama.cpp's
//! `rope_freqs` tensor holds and what MLX's `fast::rope(freqs = base^(2i/d) · divisorᵢ)` takes.

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
    /// YaRN: parsed so the engines can refuse it by name.
    Yarn {
        factor: f32,
        original_context: usize,
    },
    /// Phi-3 LongRoPE ("su"/"longrope"): parsed so the engines can refuse it by name.
    LongRope {
        original_context: usize,
    },
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

    /// The divisor of each of the `dims / 2` frequencies, or `None` when there is no scaling.
    /// `Err` names a scaling the engines do not implement yet.
    pub fn freq_divisors(&self, dims: usize, base: f32) -> Result<Option<Vec<f32>>, String> {
        let half = dims / 2;
        match self {
            RopeScaling::None => Ok(None),
            RopeScaling::Linear { factor } => Ok(Some(vec![*factor; half])),
            RopeScaling::FreqFactors(f) if f.len() == half => Ok(Some(f.clone())),
            RopeScaling::FreqFactors(f) => Err(format!(
                "rope_freqs has {} values but the model rotates {half} frequencies",
                f.len()
            )),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_context,
            } => Ok(Some(llama3_divisors(
                half,
                base,
                *factor,
                *low_freq_factor,
                *high_freq_factor,
                *original_context,
            ))),
            other => Err(format!("RoPE scaling `{}` is not supported yet", other.name())),
        }
    }
}

/// The Llama 3 parameter sets Meta released (3.1: factor 8; 3.2: factor 32).
const LLAMA3_RELEASES: &[(f32, f32, f32, usize)] = &[(8.0, 1.0, 4.0, 8192), (32.0, 1.0, 4.0, 8192)];

impl RopeScaling {
    /// The scaling in a form `config.json` can state: GGUF `rope_freqs` divisors are matched
    /// against the released Llama 3 parameter sets. `None` when there is none or no match.
    pub fn as_hf_params(&self, dims: usize, base: f32) -> Option<RopeScaling> {
        match self {
            RopeScaling::None => None,
            RopeScaling::FreqFactors(stored) => LLAMA3_RELEASES.iter().find_map(|&(factor, low, high, original)| {
                let computed = llama3_divisors(dims / 2, base, factor, low, high, original);
                let same = computed.len() == stored.len()
                    && computed
                        .iter()
                        .zip(stored)
                        .all(|(a, b)| (a - b).abs() <= 1e-4 * a.abs());
                same.then_some(RopeScaling::Llama3 {
                    factor,
                    low_freq_factor: low,
                    high_freq_factor: high,
                    original_context: original,
                })
            }),
            other => Some(other.clone()),
        }
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
    fn unsupported_scalings_are_refused_by_name() {
        let err = RopeScaling::Yarn {
            factor: 4.0,
            original_context: 4096,
        }
        .freq_divisors(64, 1e4)
        .unwrap_err();
        assert!(err.contains("yarn"), "{err}");
    }
}
