//! Which experts a mixture-of-experts model sent each token to, as both engines record it, and
//! the figures the benchmark reports from it: tokens per expert per layer, the share of experts
//! never used, and routing entropy.

use serde::{Deserialize, Serialize};

/// Every routing decision since recording started: for each layer, the chosen experts of each
/// token in order (`experts_used` ids per token, highest weight first where the engine orders
/// them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingLog {
    pub experts: usize,
    pub experts_used: usize,
    pub layers: Vec<Vec<u32>>,
}

impl RoutingLog {
    pub fn new(layers: usize, experts: usize, experts_used: usize) -> Self {
        RoutingLog {
            experts,
            experts_used,
            layers: vec![Vec::new(); layers],
        }
    }

    /// What was recorded so far, leaving an empty log of the same shape.
    pub fn take(&mut self) -> RoutingLog {
        let empty = RoutingLog::new(self.layers.len(), self.experts, self.experts_used);
        std::mem::replace(self, empty)
    }

    /// Appends one layer's choices for a run of tokens (`experts_used` ids each).
    pub fn record(&mut self, layer: usize, chosen: &[u32]) {
        if let Some(l) = self.layers.get_mut(layer) {
            l.extend_from_slice(chosen);
        }
    }

    /// Tokens routed through the first layer.
    pub fn tokens(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len() / self.experts_used.max(1))
    }

    /// The experts `token` went to in `layer`, sorted (the set, whatever order chose them).
    pub fn chosen(&self, layer: usize, token: usize) -> Vec<u32> {
        let k = self.experts_used;
        let mut ids = self
            .layers
            .get(layer)
            .and_then(|l| l.get(token * k..(token + 1) * k))
            .map(<[u32]>::to_vec)
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Tokens per expert, per layer.
    pub fn counts(&self) -> RoutingCounts {
        let counts = self
            .layers
            .iter()
            .map(|l| {
                let mut c = vec![0u64; self.experts];
                for &e in l {
                    if let Some(n) = c.get_mut(e as usize) {
                        *n += 1;
                    }
                }
                c
            })
            .collect();
        RoutingCounts {
            experts: self.experts,
            experts_used: self.experts_used,
            tokens: self.tokens() as u64,
            counts,
        }
    }
}

/// Tokens per expert per layer, summed over any number of runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingCounts {
    pub experts: usize,
    pub experts_used: usize,
    pub tokens: u64,
    /// `counts[layer][expert]`.
    pub counts: Vec<Vec<u64>>,
}

impl RoutingCounts {
    /// Adds another run's counts (of the same model).
    pub fn add(&mut self, other: &RoutingCounts) {
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        self.tokens += other.tokens;
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
    }

    /// The share of (layer, expert) pairs no token reached.
    pub fn unused_share(&self) -> f64 {
        let all: usize = self.counts.iter().map(Vec::len).sum();
        let unused = self.counts.iter().flatten().filter(|&&n| n == 0).count();
        if all == 0 {
            0.0
        } else {
            unused as f64 / all as f64
        }
    }

    /// Mean over layers of the entropy of the expert-load distribution, in bits, with its
    /// maximum `log2(experts)` (every expert equally loaded).
    pub fn entropy_bits(&self) -> (f64, f64) {
        let per_layer: Vec<f64> = self
            .counts
            .iter()
            .filter_map(|c| {
                let total: u64 = c.iter().sum();
                (total > 0).then(|| {
                    c.iter()
                        .filter(|&&n| n > 0)
                        .map(|&n| {
                            let p = n as f64 / total as f64;
                            -p * p.log2()
                        })
                        .sum()
                })
            })
            .collect();
        let mean = match per_layer.len() {
            0 => 0.0,
            n => per_layer.iter().sum::<f64>() / n as f64,
        };
        (mean, (self.experts.max(1) as f64).log2())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_unused_share_and_entropy_follow_the_choices() {
        let mut log = RoutingLog::new(2, 4, 2);
        log.record(0, &[0, 1, 1, 0]);
        log.record(1, &[0, 1, 2, 3]);
        assert_eq!(log.tokens(), 2);
        assert_eq!(log.chosen(0, 1), vec![0, 1]);
        let mut c = log.counts();
        assert_eq!(c.counts, vec![vec![2, 2, 0, 0], vec![1, 1, 1, 1]]);
        assert!((c.unused_share() - 2.0 / 8.0).abs() < 1e-12);
        let (mean, max) = c.entropy_bits();
        // Layer 0: two experts equally → 1 bit; layer 1: four equally → 2 bits.
        assert!((mean - 1.5).abs() < 1e-12, "{mean}");
        assert_eq!(max, 2.0);
        // Another run of the same model adds up.
        c.add(&log.counts());
        assert_eq!((c.tokens, c.counts[0][0]), (4, 4));
    }

    #[test]
    fn an_empty_log_has_no_load() {
        let log = RoutingLog::new(3, 8, 2);
        assert_eq!(log.tokens(), 0);
        assert_eq!(log.counts().unused_share(), 1.0);
        assert_eq!(log.counts().entropy_bits(), (0.0, 3.0));
    }
}
