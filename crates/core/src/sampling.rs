//! Token sampling: greedy, temperature, top-k, top-p, min-p, repetition/presence/frequency
//! penalties, with a seeded generator so the same seed and settings give the same tokens.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Sampling settings. `temperature == 0` means greedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    pub temperature: f32,
    /// 0 disables.
    pub top_k: usize,
    /// 1.0 disables.
    pub top_p: f32,
    /// 0.0 disables.
    pub min_p: f32,
    /// 1.0 disables; applied llama.cpp-style to the last `penalty_window` tokens.
    pub repetition_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub penalty_window: usize,
    pub seed: u64,
}

/// A seed for a request that did not fix one (the server's and the app's default).
pub fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_window: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        let finite = |v: f32| v.is_finite();
        if !finite(self.temperature) || self.temperature < 0.0 {
            return Err(Error::invalid(
                "temperature",
                format!("must be >= 0, got {}", self.temperature),
            ));
        }
        if !finite(self.top_p) || !(0.0..=1.0).contains(&self.top_p) || self.top_p == 0.0 {
            return Err(Error::invalid(
                "top_p",
                format!("must be in (0, 1], got {}", self.top_p),
            ));
        }
        if !finite(self.min_p) || !(0.0..=1.0).contains(&self.min_p) {
            return Err(Error::invalid(
                "min_p",
                format!("must be in [0, 1], got {}", self.min_p),
            ));
        }
        if !finite(self.repetition_penalty) || self.repetition_penalty <= 0.0 {
            return Err(Error::invalid("repetition_penalty", "must be > 0"));
        }
        for (name, v) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if !finite(v) || !(-2.0..=2.0).contains(&v) {
                return Err(Error::invalid(name, format!("must be in [-2, 2], got {v}")));
            }
        }
        Ok(())
    }
}

/// xoshiro256** seeded through splitmix64: small, fast, and stable across crate versions, so a
/// seed reproduces its output forever.
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The finite logits, best first (ties by token id), cut to the `top_k` best when `top_k > 0`.
/// With a top-k the best are selected in O(n) and only they are sorted: the order is total, so
/// the result is exactly the full sort's first `top_k` (Gemma's vocabulary is 262k tokens).
fn candidates(logits: &[f32], top_k: usize) -> Vec<(u32, f32)> {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let mut cands: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l))
        .collect();
    if top_k > 0 && top_k < cands.len() {
        cands.select_nth_unstable_by(top_k - 1, order);
        cands.truncate(top_k);
    }
    cands.sort_unstable_by(order);
    cands
}

/// What a draw chooses from: the candidates best first, their probabilities, and how many of
/// them are kept.
struct DrawSet {
    cands: Vec<(u32, f32)>,
    probs: Vec<f32>,
    keep: usize,
}

/// Picks tokens from logits. One per generation; holds the RNG state.
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Result<Self> {
        params.validate()?;
        let rng = Rng::new(params.seed);
        Ok(Sampler { params, rng })
    }

    /// Chooses the next token. `history` is every token so far (prompt and generated).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32], generated: &[u32]) -> u32 {
        self.apply_penalties(logits, history, generated);
        if self.params.temperature == 0.0 {
            return argmax(logits);
        }
        let Some(DrawSet { cands, probs, keep }) = self.draw_set(logits) else {
            return argmax(logits);
        };
        let total: f32 = probs[..keep].iter().sum();
        let mut r = self.rng.next_f64() as f32 * total;
        for (i, p) in probs[..keep].iter().enumerate() {
            r -= p;
            if r <= 0.0 {
                return cands[i].0;
            }
        }
        cands[keep - 1].0
    }

    /// The tokens a draw chooses from, best first: the candidates, their probabilities and
    /// how many of them the top-p nucleus and the min-p floor keep. With a top-k the
    /// probabilities are over the top-k; without one, over every finite logit — and then the
    /// nucleus or the floor usually ends within a few dozen tokens, so a growing prefix is
    /// selected (O(n) each) instead of the whole vocabulary being sorted.
    fn draw_set(&self, logits: &[f32]) -> Option<DrawSet> {
        let (p, t) = (&self.params, self.params.temperature);
        let mut k = if p.top_k > 0 { p.top_k } else { 64 };
        loop {
            let cands = candidates(logits, k);
            let max = cands.first()?.1;
            let weight = |l: f32| ((l - max) / t).exp();
            let sum: f32 = match p.top_k {
                0 => logits.iter().filter(|l| l.is_finite()).map(|&l| weight(l)).sum(),
                _ => cands.iter().map(|c| weight(c.1)).sum(),
            };
            let probs: Vec<f32> = cands.iter().map(|c| weight(c.1) / sum).collect();
            let nucleus = match p.top_p < 1.0 {
                true => {
                    let mut acc = 0.0;
                    probs.iter().position(|&q| {
                        acc += q;
                        acc >= p.top_p
                    })
                }
                false => None,
            }
            .map(|i| i + 1);
            let floor = match p.min_p > 0.0 {
                true => Some(probs.iter().take_while(|&&q| q >= probs[0] * p.min_p).count().max(1)),
                false => None,
            }
            .filter(|&n| n < probs.len());
            // Either cut inside the prefix bounds the other: the prefix decides the draw.
            let decided = nucleus.or(floor).is_some() || p.top_k > 0 || cands.len() < k;
            if decided {
                let keep = [nucleus, floor].into_iter().flatten().min().unwrap_or(probs.len());
                return Some(DrawSet { cands, probs, keep });
            }
            k = k.saturating_mul(16);
        }
    }

    fn apply_penalties(&self, logits: &mut [f32], history: &[u32], generated: &[u32]) {
        let p = &self.params;
        if p.repetition_penalty != 1.0 && p.penalty_window > 0 {
            let start = history.len().saturating_sub(p.penalty_window);
            let mut seen = std::collections::HashSet::new();
            for &id in &history[start..] {
                if let (true, Some(l)) = (seen.insert(id), logits.get_mut(id as usize)) {
                    *l = if *l > 0.0 {
                        *l / p.repetition_penalty
                    } else {
                        *l * p.repetition_penalty
                    };
                }
            }
        }
        if p.presence_penalty != 0.0 || p.frequency_penalty != 0.0 {
            // OpenAI's definition: over the completion so far.
            let mut counts = std::collections::HashMap::new();
            for &id in generated {
                *counts.entry(id).or_insert(0u32) += 1;
            }
            for (id, n) in counts {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l -= p.presence_penalty + p.frequency_penalty * n as f32;
                }
            }
        }
    }
}

/// Index of the largest logit; the lowest index wins a tie.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_selection_equals_the_full_sort_cut_to_k() {
        let mut rng = Rng::new(7);
        // Coarse values so ties (broken by token id) are common.
        let mut logits: Vec<f32> = (0..5000)
            .map(|_| (rng.next_f64() * 40.0).floor() as f32 / 4.0)
            .collect();
        logits[17] = f32::NAN;
        logits[99] = f32::NEG_INFINITY;
        let full = candidates(&logits, 0);
        assert_eq!(full.len(), 4998);
        for k in [1, 2, 40, 999, 4998, 6000] {
            let want = &full[..k.min(full.len())];
            assert_eq!(candidates(&logits, k), want, "top_k {k}");
        }
    }

    /// Without a top-k, the prefix `draw_set` selects decides the same draw as the whole
    /// vocabulary sorted: the same candidates, probabilities and cut.
    #[test]
    fn without_top_k_the_growing_prefix_equals_the_full_sort() {
        let mut rng = Rng::new(3);
        for (top_p, min_p, spread) in [
            (0.95, 0.05, 8.0),
            (0.9, 0.0, 2.0),
            (1.0, 0.01, 3.0),
            (0.999, 0.0, 0.5),
            (1.0, 0.0, 4.0),
        ] {
            let logits: Vec<f32> = (0..20_000).map(|_| (rng.next_f64() * spread) as f32).collect();
            let params = SamplingParams {
                top_k: 0,
                top_p,
                min_p,
                temperature: 0.8,
                ..Default::default()
            };
            let DrawSet { cands, probs, keep } = Sampler::new(params.clone()).unwrap().draw_set(&logits).unwrap();
            let full = candidates(&logits, 0);
            let max = full[0].1;
            let sum: f32 = logits.iter().map(|&l| ((l - max) / 0.8).exp()).sum();
            let all: Vec<f32> = full.iter().map(|c| ((c.1 - max) / 0.8).exp() / sum).collect();
            let mut want = all.len();
            if top_p < 1.0 {
                let mut acc = 0.0;
                want = all
                    .iter()
                    .position(|&q| {
                        acc += q;
                        acc >= top_p
                    })
                    .map_or(want, |i| i + 1);
            }
            if min_p > 0.0 {
                want = want.min(all.iter().take_while(|&&q| q >= all[0] * min_p).count().max(1));
            }
            assert_eq!(keep, want, "top_p {top_p} min_p {min_p}");
            assert_eq!(&cands[..keep], &full[..want]);
            assert_eq!(&probs[..keep], &all[..want]);
        }
    }

    fn logits() -> Vec<f32> {
        (0..100).map(|i| ((i * 37) % 100) as f32 / 10.0).collect()
    }

    #[test]
    fn greedy_picks_the_largest_logit() {
        let mut s = Sampler::new(SamplingParams::greedy()).unwrap();
        let mut l = logits();
        let expected = argmax(&l);
        assert_eq!(l[expected as usize], 9.9);
        assert_eq!(s.sample(&mut l, &[], &[]), expected);
    }

    #[test]
    fn the_same_seed_gives_the_same_tokens_and_another_seed_differs() {
        let run = |seed| {
            let mut s = Sampler::new(SamplingParams {
                seed,
                top_k: 0,
                min_p: 0.0,
                temperature: 1.5,
                ..Default::default()
            })
            .unwrap();
            (0..64).map(|_| s.sample(&mut logits(), &[], &[])).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut s = Sampler::new(SamplingParams {
            top_k: 1,
            temperature: 2.0,
            ..Default::default()
        })
        .unwrap();
        for _ in 0..20 {
            assert_eq!(s.sample(&mut logits(), &[], &[]), argmax(&logits()));
        }
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let mut l = vec![0.0f32; 10];
        l[3] = 10.0;
        l[5] = 9.0;
        let mut s = Sampler::new(SamplingParams {
            top_p: 0.5,
            top_k: 0,
            min_p: 0.0,
            temperature: 1.0,
            ..Default::default()
        })
        .unwrap();
        for _ in 0..50 {
            assert_eq!(s.sample(&mut l.clone(), &[], &[]), 3);
        }
    }

    #[test]
    fn min_p_drops_unlikely_tokens() {
        let mut l = vec![0.0f32; 10];
        l[1] = 5.0;
        l[2] = 4.9;
        let mut s = Sampler::new(SamplingParams {
            min_p: 0.5,
            top_k: 0,
            top_p: 1.0,
            temperature: 1.0,
            ..Default::default()
        })
        .unwrap();
        let picks: std::collections::HashSet<u32> = (0..200).map(|_| s.sample(&mut l.clone(), &[], &[])).collect();
        assert!(picks.is_subset(&[1, 2].into()), "{picks:?}");
        assert_eq!(picks.len(), 2);
    }

    #[test]
    fn repetition_penalty_can_change_the_greedy_choice() {
        let mut l = vec![1.0f32, 2.0, 1.9];
        let mut s = Sampler::new(SamplingParams {
            repetition_penalty: 1.5,
            ..SamplingParams::greedy()
        })
        .unwrap();
        assert_eq!(s.sample(&mut l, &[1], &[]), 2);
    }

    #[test]
    fn negative_temperature_and_bad_top_p_are_rejected() {
        assert_eq!(
            Sampler::new(SamplingParams {
                temperature: -0.5,
                ..Default::default()
            })
            .err()
            .unwrap()
            .code(),
            "invalid_parameter"
        );
        assert!(Sampler::new(SamplingParams {
            top_p: 0.0,
            ..Default::default()
        })
        .is_err());
        assert!(Sampler::new(SamplingParams {
            temperature: f32::NAN,
            ..Default::default()
        })
        .is_err());
    }
}
