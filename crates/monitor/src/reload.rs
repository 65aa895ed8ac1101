//! The reload policy: reload a model after N generations, or once its process RSS has grown
//! more than X MB since it was loaded. Set per engine; every reload is recorded.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ReloadPolicy {
    #[ts(type = "number | null")]
    pub after_generations: Option<u64>,
    #[ts(type = "number | null")]
    pub rss_growth_mb: Option<u64>,
}

impl ReloadPolicy {
    /// Why the model should be reloaded now, if it should. `rss_now` is read only when the
    /// policy has an RSS limit (reading it costs a process-table refresh).
    pub fn check(
        &self,
        generations_since_load: u64,
        rss_at_load: u64,
        rss_now: impl FnOnce() -> u64,
    ) -> Option<String> {
        if let Some(n) = self.after_generations.filter(|&n| n > 0 && generations_since_load >= n) {
            return Some(format!(
                "{generations_since_load} generations since load (policy: every {n})"
            ));
        }
        let limit = self.rss_growth_mb?;
        let grown_mb = rss_now().saturating_sub(rss_at_load) / 1_000_000;
        (grown_mb > limit).then(|| format!("RSS grew {grown_mb} MB since load (policy: {limit} MB)"))
    }
}
