//! Structured output by constrained decoding: a grammar (a JSON schema, any JSON object, or a
//! Lark grammar) compiled by llguidance against the model's vocabulary masks the logits every
//! step, so the output is valid by construction, not by retrying. llguidance is the engine
//! llama.cpp, vLLM and SGLang use for this (see ARCHITECTURE.md for why it over the others).

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::earley::SlicedBiasComputer;
use llguidance::toktrie::{InferenceCapabilities, TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// What the output must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputFormat {
    /// Any JSON object (OpenAI's `json_object`).
    JsonObject,
    /// A JSON value valid against `schema` (OpenAI's `json_schema`).
    JsonSchema { schema: Value },
    /// Text in a Lark grammar (llguidance's dialect; `%json{…}` embeds a schema).
    Lark { grammar: String },
}

/// The model's vocabulary as llguidance sees it, and the parser factory built over it: built
/// once per loaded model (it walks the whole vocabulary), shared by every constrained request.
pub struct Grammars {
    factory: ParserFactory,
}

/// The vocabulary: each token's bytes (special tokens marked 0xFF), our tokenizer for text.
struct Vocabulary {
    trie: TokTrie,
    tokenizer: Arc<Tokenizer>,
}

impl TokenizerEnv for Vocabulary {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        self.trie
            .tokenize_with_greedy_fallback(s, |text| self.tokenizer.encode(text, false).unwrap_or_default())
    }

    /// Our tokenizer may prepend a word-start space (SentencePiece): let the model choose its
    /// own tokenization of forced text rather than ours.
    fn tokenize_is_canonical(&self) -> bool {
        false
    }
}

fn grammar_err(param: &'static str) -> impl Fn(String) -> Error {
    move |reason| Error::invalid(param, reason)
}

impl Grammars {
    /// `n_logits`: the length of the engine's logits (may exceed the tokenizer's vocabulary).
    pub fn new(tokenizer: Arc<Tokenizer>, n_logits: usize) -> Result<Self> {
        let internal = |e: String| Error::Tokenizer(format!("constrained decoding: {e}"));
        let json: Value = serde_json::from_str(&tokenizer.to_hf_json()?).map_err(|e| internal(e.to_string()))?;
        let mut words = llguidance::token_bytes_from_tokenizer_json(&json).map_err(|e| internal(e.to_string()))?;
        // End-of-turn tokens the vocabulary does not mark special must not be matched as text.
        for &id in &tokenizer.eos_ids {
            if let Some(w) = words.get_mut(id as usize) {
                if w.first() != Some(&TokTrie::SPECIAL_TOKEN_MARKER) {
                    w.insert(0, TokTrie::SPECIAL_TOKEN_MARKER);
                }
            }
        }
        while words.len() < n_logits {
            let mut name = format!(".<[{}]>", words.len()).into_bytes();
            name[0] = TokTrie::SPECIAL_TOKEN_MARKER;
            words.push(name);
        }
        let eos = tokenizer
            .eos_ids
            .first()
            .copied()
            .ok_or_else(|| internal("the tokenizer has no end-of-sequence token".into()))?;
        let info = TokRxInfo::new(words.len() as u32, eos);
        let mut trie = TokTrie::from(&info, &words);
        if tokenizer.eos_ids.len() > 1 {
            trie = trie.with_eos_tokens(&tokenizer.eos_ids);
        }
        let env: TokEnv = Arc::new(Vocabulary { trie, tokenizer });
        let mut factory = ParserFactory::new(
            &env,
            InferenceCapabilities::default(),
            &SlicedBiasComputer::general_slices(),
        )
        .map_err(|e| internal(e.to_string()))?;
        factory.quiet();
        factory.limits_mut().verbose_errors = false;
        Ok(Grammars { factory })
    }

    /// Compiles `format` for one generation; a schema or grammar we cannot compile is an
    /// `InvalidParameter` of `param` naming what is unsupported.
    pub fn compile(&self, format: &OutputFormat, param: &'static str) -> Result<Grammar> {
        let grammar = match format {
            OutputFormat::JsonObject => {
                TopLevelGrammar::from_json_schema(one_line(serde_json::json!({"type": "object"})))
            }
            OutputFormat::JsonSchema { schema } => {
                if !schema.is_object() && !schema.is_boolean() {
                    return Err(Error::invalid(param, "the JSON schema must be an object"));
                }
                TopLevelGrammar::from_json_schema(one_line(schema.clone()))
            }
            OutputFormat::Lark { grammar } => TopLevelGrammar::from_lark(grammar.clone()),
        };
        let parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| grammar_err(param)(explain(&e.to_string())))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(Error::invalid(param, explain(&e)));
        }
        Ok(Grammar { matcher })
    }
}

/// JSON on one line, `{"a": 1, "b": [2, 3]}`, unless the schema sets llguidance's own layout
/// (`x-guidance`): free whitespace lets a small model spend its whole budget on newlines.
fn one_line(mut schema: Value) -> Value {
    if let Some(o) = schema.as_object_mut() {
        o.entry("x-guidance").or_insert_with(
            || serde_json::json!({"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "}),
        );
    }
    schema
}

/// llguidance's "Unimplemented keys: [\"not\"]" as a sentence naming the keyword.
fn explain(e: &str) -> String {
    let first = e.lines().next().unwrap_or(e);
    match first.strip_prefix("Unimplemented keys: ") {
        Some(keys) => {
            let keys = keys.trim_matches(|c| c == '[' || c == ']').replace('"', "`");
            format!("the JSON schema uses {keys}, which constrained decoding does not support")
        }
        None => format!("cannot compile it: {first}"),
    }
}

/// One generation's grammar state.
pub struct Grammar {
    matcher: Matcher,
}

impl Grammar {
    /// Sets every logit the grammar does not allow next to −∞.
    pub fn mask(&mut self, logits: &mut [f32]) -> Result<()> {
        let allowed = self.matcher.compute_mask().map_err(|e| self.failed(e.to_string()))?;
        for (id, l) in logits.iter_mut().enumerate() {
            if !allowed.is_allowed(id as TokenId) {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    /// Advances past the sampled token (which `mask` allowed).
    pub fn accept(&mut self, id: u32) -> Result<()> {
        self.matcher.consume_token(id).map_err(|e| self.failed(e.to_string()))
    }

    /// The grammar is complete and nothing can follow: the generation ends here.
    pub fn done(&self) -> bool {
        self.matcher.is_stopped()
    }

    fn failed(&self, e: String) -> Error {
        Error::Engine(format!(
            "constrained decoding failed: {}",
            e.lines().next().unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn unsupported_keywords_are_named() {
        assert_eq!(
            explain("Unimplemented keys: [\"if\", \"then\"]\n  while processing #/x"),
            "the JSON schema uses `if`, `then`, which constrained decoding does not support"
        );
        assert!(explain("Unknown format: zip").contains("Unknown format: zip"));
    }
}
