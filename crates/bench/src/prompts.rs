//! The versioned prompt set (bench/prompts.json): the study's nine categories.

use parallax_core::ChatMessage;
use serde::Deserialize;

const PROMPTS_JSON: &str = include_str!("../../../bench/prompts.json");

#[derive(Debug, Clone, Deserialize)]
pub struct Category {
    pub id: String,
    pub max_tokens: usize,
    /// The `{document}` placeholder is filled with `document`, repeated until the prompt has
    /// at least this many tokens.
    #[serde(default)]
    pub min_prompt_tokens: usize,
    #[serde(default)]
    pub document: String,
    pub prompts: Vec<Vec<ChatMessage>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PromptSet {
    pub version: u32,
    pub categories: Vec<Category>,
    /// Text repeated to fill the context suite's prompts.
    pub context_filler: String,
}

pub fn prompt_set() -> PromptSet {
    // The file is part of the build and checked by a test; a broken one cannot ship.
    serde_json::from_str(PROMPTS_JSON).unwrap_or_else(|e| panic!("bench/prompts.json: {e}"))
}

impl Category {
    /// The messages of prompt `i`, with any document placeholder filled by `fill(document, n)`
    /// (the document repeated `n` times) for the smallest `n` that reaches `min_prompt_tokens`.
    pub fn messages(&self, i: usize, count_tokens: &dyn Fn(&[ChatMessage]) -> usize) -> Vec<ChatMessage> {
        let template = &self.prompts[i];
        let fill = |n: usize| -> Vec<ChatMessage> {
            let doc = vec![self.document.as_str(); n].join("\n\n");
            template
                .iter()
                .map(|m| ChatMessage::new(&m.role, m.content.replace("{document}", &doc)))
                .collect()
        };
        if self.document.is_empty() || self.min_prompt_tokens == 0 {
            return fill(1);
        }
        let mut n = 1;
        loop {
            let msgs = fill(n);
            if count_tokens(&msgs) >= self.min_prompt_tokens || n >= 1000 {
                return msgs;
            }
            n += 1;
        }
    }
}
