//! Prompt caching across turns and requests: the token ids whose keys and values a model's KV
//! cache holds, so the next prompt prefills only what follows their common prefix.
//!
//! The engine's cache is the truth; this is its label. The two are kept in step by
//! [`crate::generate`], and a label that no longer matches the engine's length (someone drove
//! the engine directly) is never trusted.

/// The tokens in a loaded model's KV cache, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptCache {
    tokens: Vec<u32>,
}

impl PromptCache {
    /// How many leading tokens of `prompt` the cache can keep: their common prefix, but never
    /// the whole prompt (its last token must run to give the logits of the first new one), and
    /// 0 when the engine holds `kv_len` positions, not the ones recorded here.
    pub fn reusable(&self, prompt: &[u32], kv_len: usize) -> usize {
        if kv_len != self.tokens.len() {
            return 0;
        }
        let common = self.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        common.min(prompt.len().saturating_sub(1))
    }

    /// Keeps the first `n` tokens (the engine was truncated to them).
    pub fn keep(&mut self, n: usize) {
        self.tokens.truncate(n);
    }

    /// Records tokens the engine has just appended.
    pub fn extend(&mut self, tokens: &[u32]) {
        self.tokens.extend_from_slice(tokens);
    }

    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(tokens: &[u32]) -> PromptCache {
        let mut c = PromptCache::default();
        c.extend(tokens);
        c
    }

    #[test]
    fn the_common_prefix_is_kept_up_to_the_prompts_last_token() {
        let c = cache(&[1, 2, 3, 4, 5]);
        // The next turn extends the last one: everything cached is reused.
        assert_eq!(c.reusable(&[1, 2, 3, 4, 5, 6, 7], 5), 5);
        // Diverges mid-way (an edited message): only the shared part.
        assert_eq!(c.reusable(&[1, 2, 9, 4, 5, 6], 5), 2);
        // The same prompt again (regenerate): all but the last token, which must run.
        assert_eq!(c.reusable(&[1, 2, 3, 4, 5], 5), 4);
        // A shorter prompt inside the cache.
        assert_eq!(c.reusable(&[1, 2, 3], 5), 2);
        assert_eq!(c.reusable(&[7, 8], 5), 0);
        assert_eq!(c.reusable(&[1], 5), 0);
    }

    #[test]
    fn a_label_out_of_step_with_the_engine_is_not_trusted() {
        let c = cache(&[1, 2, 3]);
        assert_eq!(c.reusable(&[1, 2, 3, 4], 0), 0, "engine was reset behind our back");
        assert_eq!(c.reusable(&[1, 2, 3, 4], 7), 0, "engine was fed behind our back");
    }
}
