//! The tokenizer, built with the `tokenizers` crate from a GGUF's own metadata (nothing downloaded).
//!
//! The pipeline mirrors what Hugging Face transformers builds from the same GGUF (our reference,
//! see `scripts/reference/make_fixtures.py`):
//! - `gpt2` (byte-level BPE, e.g. SmolLM2): the file's vocabulary and merges, `ByteLevel`
//!   pre-tokenizer and decoder.
//! - `llama` (SentencePiece-style BPE, e.g. Gemma 3): the file lists no merges, so they are
//!   recovered from the vocabulary; spaces become `▁`, unknown bytes fall back to `<0xNN>` tokens.
//!
//! Tokens typed CONTROL become special added tokens, USER_DEFINED ones plain added tokens, so both
//! stay whole in text.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::error::{Error, Result};
use crate::gguf_meta::{GgufHeader, MetaValue};

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`).
const TOKEN_TYPE_CONTROL: i128 = 3;
const TOKEN_TYPE_USER_DEFINED: i128 = 4;
const SPIECE_SPACE: char = '\u{2581}';

/// A model's tokenizer plus the special ids the generation loop needs.
///
/// Thread-safety: immutable after construction; `Send + Sync`, share it behind an `Arc`.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pub bos_id: Option<u32>,
    pub eos_ids: Vec<u32>,
    pub add_bos: bool,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
}

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

impl Tokenizer {
    pub fn from_gguf(header: &GgufHeader) -> Result<Self> {
        let model = header
            .get_str("tokenizer.ggml.model")
            .ok_or_else(|| header.invalid("no tokenizer.ggml.model in metadata"))?;
        let tokens = string_array(header, "tokenizer.ggml.tokens")?;
        let token_types: Vec<i128> = header
            .get("tokenizer.ggml.token_type")
            .and_then(MetaValue::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| if let MetaValue::Int(i) = v { *i } else { 0 })
                    .collect()
            })
            .unwrap_or_default();
        // llama.cpp adds BOS to a SentencePiece vocabulary, and for the pre-tokenizers that ask
        // for it (Llama 3), unless the file says otherwise.
        let (mut inner, tokens, bos_by_default) = match model {
            "gpt2" => {
                let (tk, pre_adds_bos) = byte_level(header, &tokens, &token_types)?;
                (tk, tokens, pre_adds_bos)
            }
            "llama" => {
                let (tk, tokens) = sentencepiece_bpe(header, tokens)?;
                (tk, tokens, true)
            }
            other => {
                return Err(Error::Tokenizer(format!(
                    "tokenizer model `{other}` is not supported (supported: gpt2, llama)"
                )))
            }
        };
        add_typed_tokens(&mut inner, &tokens, &token_types, model == "gpt2");

        let id = |key: &str| {
            header
                .get_u64(key)
                .map(|v| v as u32)
                .filter(|&v| (v as usize) < tokens.len())
        };
        let bos_id = id("tokenizer.ggml.bos_token_id");
        let eos_id = id("tokenizer.ggml.eos_token_id");
        let eos_ids = with_turn_ends(eos_id, |t| tokens.iter().position(|x| x == t).map(|p| p as u32));
        let add_bos = header
            .get_bool("tokenizer.ggml.add_bos_token")
            .unwrap_or(bos_by_default);
        let bos_token = bos_id.map(|i| tokens[i as usize].clone());
        if add_bos {
            if let Some(bos) = &bos_token {
                let post = TemplateProcessing::builder()
                    .try_single(format!("{bos}:0 $A:0"))
                    .and_then(|b| b.try_pair(format!("{bos}:0 $A:0 {bos}:1 $B:1")))
                    .map_err(tok_err)?
                    .special_tokens(vec![(bos.clone(), bos_id.unwrap_or_default())])
                    .build()
                    .map_err(tok_err)?;
                inner.with_post_processor(Some(post));
            }
        }
        Ok(Tokenizer {
            inner,
            bos_id,
            eos_token: eos_id.map(|i| tokens[i as usize].clone()),
            eos_ids,
            add_bos,
            bos_token,
        })
    }

    /// Loads a Hugging Face `tokenizer.json` (as in MLX model directories), with the BOS and EOS
    /// tokens that the directory's `tokenizer_config.json` names. Whether BOS is added is read
    /// from the file's own post-processor.
    pub fn from_hf_json(json: &str, bos_token: Option<&str>, eos_token: Option<&str>) -> Result<Self> {
        let inner: tokenizers::Tokenizer = json.parse().map_err(tok_err)?;
        let bos_id = bos_token.and_then(|t| inner.token_to_id(t));
        let eos_id = eos_token.and_then(|t| inner.token_to_id(t));
        let add_bos = match bos_id {
            Some(bos) => inner.encode("", true).map_err(tok_err)?.get_ids().first() == Some(&bos),
            None => false,
        };
        Ok(Tokenizer {
            eos_ids: with_turn_ends(eos_id, |t| inner.token_to_id(t)),
            inner,
            bos_id,
            add_bos,
            bos_token: bos_id.and(bos_token.map(str::to_owned)),
            eos_token: eos_id.and(eos_token.map(str::to_owned)),
        })
    }

    /// The same tokenizer, reading special-token text (`<|im_start|>`…) as plain text, like
    /// llama.cpp's `parse_special = false`. User-defined tokens are still matched whole.
    pub fn without_special_parsing(&self) -> Tokenizer {
        let mut inner = self.inner.clone();
        inner.set_encode_special_tokens(true);
        Tokenizer {
            inner,
            bos_id: self.bos_id,
            eos_ids: self.eos_ids.clone(),
            add_bos: self.add_bos,
            bos_token: self.bos_token.clone(),
            eos_token: self.eos_token.clone(),
        }
    }

    /// The piece each id stands for, as the vocabulary spells it.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The tokenizer as Hugging Face `tokenizer.json` text (what `parallax convert` writes).
    pub fn to_hf_json(&self) -> Result<String> {
        self.inner.to_string(true).map_err(tok_err)
    }

    /// Encodes text. `add_special_tokens` adds BOS where the model wants it; special tokens
    /// written in the text (e.g. by a chat template) are always recognised.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, add_special_tokens).map_err(tok_err)?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(tok_err)
    }

    /// The model's vocabulary plus added tokens it does not already hold. Counted in place:
    /// `tokenizers`' own `get_vocab_size(true)` builds the whole vocabulary map (20 MB for a
    /// 262k vocabulary) to count it.
    pub fn vocab_size(&self) -> usize {
        use tokenizers::Model;
        let model = self.inner.get_model();
        let added = self.inner.get_added_vocabulary().get_vocab();
        model.get_vocab_size() + added.keys().filter(|t| model.token_to_id(t).is_none()).count()
    }

    pub fn is_eos(&self, id: u32) -> bool {
        self.eos_ids.contains(&id)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

/// The EOS id plus the end-of-turn tokens of the vocabulary: chat models end a turn with their
/// end-of-turn token even where the file's EOS differs.
fn with_turn_ends(eos_id: Option<u32>, lookup: impl Fn(&str) -> Option<u32>) -> Vec<u32> {
    let mut eos_ids: Vec<u32> = eos_id.into_iter().collect();
    for stop in ["<end_of_turn>", "<|im_end|>", "<|eot_id|>"] {
        if let Some(id) = lookup(stop) {
            if !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }
    }
    eos_ids
}

fn string_array(header: &GgufHeader, key: &str) -> Result<Vec<String>> {
    header
        .get(key)
        .and_then(MetaValue::as_array)
        .ok_or_else(|| header.invalid(format!("no {key} in metadata")))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| header.invalid(format!("{key} holds a non-string")))
        })
        .collect()
}

/// GPT-2's byte → printable-character table (`bytes_to_unicode`).
fn byte_alphabet() -> Vec<char> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut extra = 0;
    for b in 0..=255u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    let mut table = vec![' '; 256];
    for (b, c) in printable.iter().zip(chars) {
        table[*b as usize] = char::from_u32(c).unwrap_or(' ');
    }
    table
}

/// Byte-level BPE with the file's pre-tokenizer; also whether that pre-tokenizer adds BOS.
fn byte_level(header: &GgufHeader, tokens: &[String], types: &[i128]) -> Result<(tokenizers::Tokenizer, bool)> {
    let pre_name = header.get_str("tokenizer.ggml.pre").unwrap_or("default");
    let pre = crate::pretokenize::for_name(pre_name).map_err(Error::Tokenizer)?;
    let alphabet = byte_alphabet();
    let in_alphabet = |t: &str| t.chars().all(|c| alphabet.contains(&c));
    let mut vocab = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        // A user-defined token is matched as raw text before BPE (llama.cpp does the same), so it
        // keeps its raw spelling: mapped, MPT's "  " would shadow the regular "ĠĠ".
        let user_defined = types.get(i) == Some(&TOKEN_TYPE_USER_DEFINED);
        let spelled = if in_alphabet(t) || user_defined {
            t.clone()
        } else {
            t.bytes().map(|b| alphabet[b as usize]).collect()
        };
        vocab.insert(spelled, i as u32);
    }
    let merges = string_array(header, "tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| match m.split_once(' ') {
            Some((a, b)) => Ok((a.to_owned(), b.to_owned())),
            None => Err(header.invalid(format!("merge `{m}` is not a pair"))),
        })
        .collect::<Result<Vec<_>>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<tokenizers::models::bpe::Vocab>(), merges)
        .ignore_merges(pre.ignore_merges)
        .build()
        .map_err(tok_err)?;
    let mut tk = tokenizers::Tokenizer::new(bpe);
    // llama.cpp splits with the pre-tokenizer's regexes, then maps bytes to GPT-2's alphabet.
    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(pre.regexes.len() + 1);
    for re in pre.regexes {
        let split = Split::new(
            SplitPattern::Regex((*re).to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| Error::Tokenizer(format!("pre-tokenizer `{}`: {e}", pre.kind)))?;
        steps.push(split.into());
    }
    steps.push(tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, true, false).into());
    tk.with_pre_tokenizer(Some(PreTokenizerSequence::new(steps)));
    tk.with_decoder(Some(ByteLevel::default()));
    Ok((tk, pre.add_bos))
}

/// SentencePiece-style vocabulary as BPE. Gemma files store runs of spaces as real spaces and list
/// no merges; merges are recovered from the vocabulary in file order (which, for Gemma, is the
/// merge priority — its scores do not follow it).
fn sentencepiece_bpe(header: &GgufHeader, tokens: Vec<String>) -> Result<(tokenizers::Tokenizer, Vec<String>)> {
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| {
            if !t.is_empty() && t.chars().all(|c| c == ' ') {
                SPIECE_SPACE.to_string().repeat(t.chars().count())
            } else {
                t
            }
        })
        .collect();
    let mut vocab: HashMap<String, u32> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        vocab.insert(t.clone(), i as u32);
    }
    let gemma = header.architecture().is_some_and(|a| a.starts_with("gemma"));
    let merges = match header.get("tokenizer.ggml.merges") {
        Some(_) => string_array(header, "tokenizer.ggml.merges")?
            .into_iter()
            .filter_map(|m| m.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect(),
        // Gemma's file order is its merge priority (its scores do not follow it); other
        // SentencePiece vocabularies merge by score, as llama.cpp's SPM tokenizer does.
        None if gemma => merges_from_vocab(&tokens, &vocab),
        None => merges_by_score(&tokens, &vocab, &float_array(header, "tokenizer.ggml.scores")),
    };
    // llama.cpp prepends a space to SentencePiece text unless the file says not to.
    let space_prefix = header.get_bool("tokenizer.ggml.add_space_prefix").unwrap_or(!gemma);
    let unk = header
        .get_u64("tokenizer.ggml.unknown_token_id")
        .and_then(|i| tokens.get(i as usize))
        .cloned()
        .unwrap_or_else(|| "<unk>".into());
    let bpe = BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<tokenizers::models::bpe::Vocab>(), merges)
        .unk_token(unk)
        .fuse_unk(true)
        .byte_fallback(true)
        .build()
        .map_err(tok_err)?;
    let mut tk = tokenizers::Tokenizer::new(bpe);
    let replace = Replace::new(" ", SPIECE_SPACE.to_string()).map_err(tok_err)?;
    if space_prefix {
        let prepend = tokenizers::normalizers::prepend::Prepend::new(SPIECE_SPACE.to_string());
        tk.with_normalizer(Some(tokenizers::normalizers::Sequence::new(vec![
            prepend.into(),
            replace.into(),
        ])));
    } else {
        tk.with_normalizer(Some(replace));
    }
    let split = Split::new(
        SplitPattern::String(" ".into()),
        SplitDelimiterBehavior::MergedWithPrevious,
        false,
    )
    .map_err(tok_err)?;
    tk.with_pre_tokenizer(Some(split));
    let decoders: Vec<DecoderWrapper> = vec![
        tokenizers::decoders::DecoderWrapper::Replace(Replace::new(SPIECE_SPACE.to_string(), " ").map_err(tok_err)?),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    tk.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok((tk, tokens))
}

/// Every split of a token into two vocabulary pieces is a merge; earlier tokens merge first, and
/// within one token longer left pieces first (transformers' `generate_merges` with file order as score).
fn merges_from_vocab(tokens: &[String], vocab: &HashMap<String, u32>) -> Vec<(String, String)> {
    let mut merges = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for token in tokens {
        // A token spelled twice keeps its last index in `vocab`; visit it once, at that index.
        if !seen.insert(token.as_str()) {
            continue;
        }
        let cuts: Vec<usize> = token.char_indices().map(|(i, _)| i).skip(1).collect();
        for &cut in cuts.iter().rev() {
            let (l, r) = token.split_at(cut);
            if vocab.contains_key(l) && vocab.contains_key(r) {
                merges.push((vocab[token.as_str()], l.to_owned(), r.to_owned()));
            }
        }
    }
    // Stable: ties keep the per-token order built above.
    merges.sort_by_key(|m| m.0);
    merges.into_iter().map(|(_, l, r)| (l, r)).collect()
}

/// Merges from a SentencePiece vocabulary and its scores, the way transformers'
/// `SentencePieceExtractor` builds them: every split of a token into two vocabulary pieces, by
/// the merged token's score (highest first), ties by the pieces' ids.
fn merges_by_score(tokens: &[String], vocab: &HashMap<String, u32>, scores: &[f32]) -> Vec<(String, String)> {
    let mut merges: Vec<(f32, u32, u32, String, String)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if vocab.get(token) != Some(&(i as u32)) {
            continue;
        }
        let score = scores.get(i).copied().unwrap_or(0.0);
        for (cut, _) in token.char_indices().skip(1) {
            let (l, r) = token.split_at(cut);
            if let (Some(&li), Some(&ri)) = (vocab.get(l), vocab.get(r)) {
                merges.push((score, li, ri, l.to_owned(), r.to_owned()));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    merges.into_iter().map(|m| (m.3, m.4)).collect()
}

fn float_array(header: &GgufHeader, key: &str) -> Vec<f32> {
    header
        .get(key)
        .and_then(MetaValue::as_array)
        .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect())
        .unwrap_or_default()
}

fn add_typed_tokens(tk: &mut tokenizers::Tokenizer, tokens: &[String], types: &[i128], byte_level: bool) {
    let alphabet = byte_alphabet();
    let control: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(t, ty)| **ty == TOKEN_TYPE_CONTROL && (!byte_level || t.chars().all(|c| alphabet.contains(&c))))
        .map(|(t, _)| AddedToken::from(t.clone(), true).normalized(false))
        .collect();
    tk.add_special_tokens(&control);
    let user: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(_, ty)| **ty == TOKEN_TYPE_USER_DEFINED)
        .map(|(t, _)| AddedToken::from(t.clone(), false).normalized(false))
        .collect();
    tk.add_tokens(&user);
}

/// Turns a growing list of token ids into text deltas that are always whole UTF-8 characters.
///
/// It re-decodes a short window and holds back output while the window ends in an incomplete
/// character (decoded as U+FFFD), so a multi-byte character split over tokens is emitted once whole.
#[derive(Default)]
pub struct StreamDecoder {
    ids: Vec<u32>,
    prefix: usize,
    read: usize,
}

impl StreamDecoder {
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String> {
        self.ids.push(id);
        let before = tok.decode(&self.ids[self.prefix..self.read])?;
        let now = tok.decode(&self.ids[self.prefix..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.is_char_boundary(before.len()) {
            let delta = now[before.len()..].to_owned();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(delta)
        } else {
            Ok(String::new())
        }
    }

    /// Whatever is still held back at the end (an incomplete character is emitted as U+FFFD).
    pub fn flush(&mut self, tok: &Tokenizer) -> Result<String> {
        let before = tok.decode(&self.ids[self.prefix..self.read])?;
        let now = tok.decode(&self.ids[self.prefix..])?;
        self.prefix = self.ids.len();
        self.read = self.ids.len();
        Ok(now.get(before.len()..).unwrap_or_default().to_owned())
    }
}
