//! The one generation loop (prefill, then decode) that every engine goes through, so timings
//! from different engines are comparable.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, ChatTemplate};
use crate::engine::LoadedModel;
use crate::error::{Error, Result};
use crate::sampling::{Sampler, SamplingParams};
use crate::stop::StopMatcher;
use crate::tokenizer::{StreamDecoder, Tokenizer};

/// Prompts are fed to the engine in chunks of at most this many tokens, bounding the
/// attention scratch memory of a long prefill.
pub const PREFILL_CHUNK: usize = 512;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Rendered through the model's chat template, with the assistant turn opened.
    Chat(Vec<ChatMessage>),
    /// Tokenised as given, with BOS added if the model asks for it.
    Raw(String),
    /// Token ids, fed as they are.
    Tokens(Vec<u32>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    /// Report each generated token's log-probability and this many top alternatives (0–20),
    /// from the model's distribution before sampling. `None`: no log-probabilities.
    #[serde(default)]
    pub logprobs: Option<usize>,
    /// Reuse the KV cache's common prefix with the previous sequence (prompt caching). Off, the
    /// prompt is prefilled from an empty cache, as the benchmark suite measures it.
    #[serde(default = "yes")]
    pub cache_prompt: bool,
    /// Constrained decoding: the output must match this format (`response_format`).
    #[serde(default)]
    pub format: Option<crate::structured::OutputFormat>,
    /// Functions a chat may call (rendered by its template; calls parsed back from the reply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<crate::tools::Tool>,
    #[serde(default)]
    pub tool_choice: crate::tools::ToolChoice,
    /// Added to a token's logit before sampling (OpenAI's `logit_bias`; −100 bans a token).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logit_bias: Vec<(u32, f32)>,
}

fn yes() -> bool {
    true
}

impl GenerateRequest {
    /// A request with nothing beyond its prompt, length and sampling: no stop strings,
    /// log-probabilities, format, tools or biases; prompt caching on.
    pub fn new(prompt: Prompt, max_tokens: usize, sampling: SamplingParams) -> Self {
        GenerateRequest {
            prompt,
            max_tokens,
            sampling,
            stop: vec![],
            logprobs: None,
            cache_prompt: true,
            format: None,
            tools: vec![],
            tool_choice: Default::default(),
            logit_bias: vec![],
        }
    }
}

/// Most alternatives a token's log-probability entry may list (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// A token and its log-probability under the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f32,
}

/// A generated token's log-probability, with the most likely alternatives at that position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logprobs {
    pub token: TokenLogprob,
    pub top: Vec<TokenLogprob>,
}

impl Logprobs {
    /// From raw logits: log-softmax, the sampled token's entry, and the `top_n` best.
    pub fn from_logits(logits: &[f32], id: u32, top_n: usize) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_z = max + logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln();
        let entry = |id: usize| TokenLogprob {
            id: id as u32,
            logprob: logits[id] - log_z,
        };
        let mut order: Vec<usize> = (0..logits.len()).collect();
        let n = top_n.min(logits.len());
        if n > 0 {
            order.select_nth_unstable_by(n - 1, |&a, &b| logits[b].total_cmp(&logits[a]));
        }
        order.truncate(n);
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        Logprobs {
            token: entry(id as usize),
            top: order.into_iter().map(entry).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// EOS or a stop string.
    Stop,
    /// `max_tokens` or the context length was reached.
    Length,
    /// The consumer went away.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Prompt tokens whose keys and values were reused from the cache, not prefilled.
    #[serde(default)]
    pub cached_tokens: usize,
}

/// Timings of one generation. `decode_tps = generated / (total − ttft)`, the study's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Request accepted → first generated token sampled.
    pub ttft_ms: f64,
    pub prompt_tps: f64,
    pub decode_tps: f64,
    pub total_ms: f64,
    /// Time from request to each generated token, in order.
    pub token_times_ms: Vec<f64>,
}

impl Timings {
    /// `prefilled`: the prompt tokens the engine ran (cached ones excluded).
    pub fn from_token_times(prefilled: usize, token_times_ms: Vec<f64>, total_ms: f64) -> Self {
        let ttft_ms = token_times_ms.first().copied().unwrap_or(total_ms);
        Timings {
            ttft_ms,
            prompt_tps: crate::figures::prompt_tps(prefilled, ttft_ms),
            decode_tps: crate::figures::decode_tps(token_times_ms.len(), ttft_ms, total_ms),
            total_ms,
            token_times_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationResult {
    pub text: String,
    pub token_ids: Vec<u32>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    pub timings: Timings,
    /// Positions in the KV cache at the end: prompt plus every token fed back.
    pub kv_len: usize,
    /// One entry per generated token when the request asked for log-probabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<Logprobs>,
    /// The calls the reply made (its `text` is then what it said besides them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<crate::tools::ToolCall>,
    /// Text of `text` no `Token` event carried: held back as a possible tool call that turned
    /// out not to be one (a streaming consumer sends it last).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub held_text: String,
    /// The stop string that ended the reply (`finish_reason` is then `stop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequence: Option<String>,
}

/// What the loop reports as it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        prompt_tokens: usize,
        /// Of those, reused from the KV cache.
        #[serde(default)]
        cached_tokens: usize,
        /// The prompt opened a `<think>` block: the reply starts as reasoning.
        #[serde(default)]
        thinking: bool,
        /// The model writes Harmony (GPT-OSS): its `analysis` channel is reasoning.
        #[serde(default)]
        harmony: bool,
    },
    /// `text` may be empty while a possible stop string or an incomplete character is held back.
    Token {
        id: u32,
        text: String,
        elapsed_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        logprobs: Option<Logprobs>,
    },
    Finished(GenerationResult),
}

/// Whether the consumer wants more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Cancel,
}

/// Turns a prompt into token ids.
pub fn tokenize_prompt(model: &LoadedModel, prompt: &Prompt) -> Result<Vec<u32>> {
    encode_prompt(&model.tokenizer, model.template.as_deref(), prompt)
}

fn encode_prompt(tokenizer: &Tokenizer, template: Option<&ChatTemplate>, prompt: &Prompt) -> Result<Vec<u32>> {
    match prompt {
        Prompt::Chat(messages) => encode_chat(tokenizer, template, messages),
        Prompt::Raw(text) => tokenizer.encode(text, true),
        Prompt::Tokens(ids) => Ok(ids.clone()),
    }
}

/// Chat messages → token ids, through the model's template with the assistant turn opened.
pub fn encode_chat(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    messages: &[ChatMessage],
) -> Result<Vec<u32>> {
    let template =
        template.ok_or_else(|| Error::ChatTemplate("this model has no chat template; use a raw prompt".into()))?;
    let text = template.render(messages, true)?;
    // The template writes any BOS itself.
    tokenizer.encode(&text, false)
}

/// Runs one generation on the selected slot. `emit` sees every event; returning
/// `Flow::Cancel` stops the work before the next token. The final event is also returned.
pub fn generate(
    model: &mut LoadedModel,
    req: &GenerateRequest,
    emit: &mut dyn FnMut(&Event) -> Flow,
) -> Result<GenerationResult> {
    let mut seq = match Sequence::start(model, req.clone(), &[model.slot()], emit)? {
        Begun::Running(seq) => seq,
        Begun::Finished(result) => return Ok(*result),
    };
    loop {
        let logits = feed(model, seq.next_input())?;
        if let Some(result) = seq.advance(model, logits, emit)? {
            return Ok(result);
        }
    }
}

/// How a generation began: running, or already over (cancelled before its first step).
pub enum Begun {
    Running(Box<Sequence>),
    Finished(Box<GenerationResult>),
}

/// One generation in progress, between two engine steps: the loop's state, so a scheduler can
/// run several on one engine (each on its own slot) and [`generate`] can run one alone, through
/// the same code. The engine step is the caller's: it feeds [`Sequence::next_input`] to the
/// sequence's slot and hands the logits to [`Sequence::advance`].
pub struct Sequence {
    req: GenerateRequest,
    start: Instant,
    slot: usize,
    sampler: Sampler,
    tool_format: Option<crate::tools::ToolFormat>,
    grammar: Option<crate::structured::Grammar>,
    prompt_len: usize,
    cached: usize,
    /// Prompt tokens not yet fed, then the last sampled token.
    input: Vec<u32>,
    /// Where the next prefill chunk starts in `input`; `input.len()` once decoding.
    fed: usize,
    prefilling: bool,
    /// Generated tokens fed back to the engine (the cache holds the prompt and these).
    fed_back: usize,
    max_new: usize,
    history: Vec<u32>,
    generated: Vec<u32>,
    token_times: Vec<f64>,
    decoder: StreamDecoder,
    stops: StopMatcher,
    all_logprobs: Vec<Logprobs>,
    /// With tools, text from where a call may begin is held back until the reply is parsed.
    released: String,
    emitted: usize,
}

impl Sequence {
    /// Checks the request, renders and tokenizes its prompt, compiles any constraint, and
    /// reuses what the selected slot's cache shares with the prompt; emits `Started`.
    /// `free`: the slots it may take; it takes the one whose cache shares the longest prefix
    /// with its prompt, and leaves it selected.
    pub fn start(
        model: &mut LoadedModel,
        req: GenerateRequest,
        free: &[usize],
        emit: &mut dyn FnMut(&Event) -> Flow,
    ) -> Result<Begun> {
        let start = Instant::now();
        if req.max_tokens == 0 {
            return Err(Error::invalid("max_tokens", "must be at least 1"));
        }
        let sampler = Sampler::new(req.sampling.clone())?;
        let (prompt, tool_format) = prompt_tokens(&model.tokenizer, model.template.as_deref(), &req)?;
        let context_length = model.engine.info().context_length;
        if prompt.is_empty() {
            return Err(Error::invalid("prompt", "is empty"));
        }
        if prompt.len() >= context_length {
            return Err(Error::ContextLengthExceeded {
                prompt_tokens: prompt.len(),
                context_length,
            });
        }
        let vocab = model.engine.info().vocab_size as u32;
        if let Some(&(bad, _)) = req.logit_bias.iter().find(|(id, _)| *id >= vocab) {
            return Err(Error::invalid(
                "logit_bias",
                format!("token id {bad} is outside the vocabulary ({vocab} tokens)"),
            ));
        }
        if let Some(bad) = prompt.iter().find(|&&id| id >= vocab) {
            return Err(Error::invalid(
                "prompt",
                format!("token id {bad} is outside the vocabulary"),
            ));
        }
        if req.logprobs.is_some_and(|n| n > MAX_TOP_LOGPROBS) {
            return Err(Error::invalid(
                "top_logprobs",
                format!("must be at most {MAX_TOP_LOGPROBS}"),
            ));
        }
        let grammar = constraint(model, &req, tool_format)?;
        model.select_slot(best_slot(model, &prompt, free)?)?;
        let cached = reuse_cache(model, &prompt, req.cache_prompt)?;
        let tail = model.tokenizer.decode(&prompt[prompt.len().saturating_sub(8)..])?;
        if emit(&Event::Started {
            prompt_tokens: prompt.len(),
            cached_tokens: cached,
            thinking: crate::reasoning::prompt_opens_thinking(&tail),
            harmony: model
                .template
                .as_ref()
                .is_some_and(|t| t.tool_format() == crate::tools::ToolFormat::Harmony),
        }) == Flow::Cancel
        {
            let result = empty_result(&prompt, start, FinishReason::Cancelled);
            emit(&Event::Finished(result.clone()));
            return Ok(Begun::Finished(Box::new(result)));
        }
        Ok(Begun::Running(Box::new(Sequence {
            start,
            slot: model.slot(),
            sampler,
            tool_format,
            grammar,
            prompt_len: prompt.len(),
            cached,
            input: prompt[cached..].to_vec(),
            fed: 0,
            prefilling: true,
            fed_back: 0,
            max_new: req.max_tokens.min(context_length - prompt.len()),
            history: prompt,
            generated: Vec::new(),
            token_times: Vec::new(),
            decoder: StreamDecoder::default(),
            stops: StopMatcher::new(&req.stop),
            all_logprobs: Vec::new(),
            released: String::new(),
            emitted: 0,
            req,
        })))
    }

    /// The slot whose cache holds this sequence.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Whether the prompt is still going in (the next input is a chunk of it).
    pub fn prefilling(&self) -> bool {
        self.prefilling
    }

    /// The tokens the engine runs next: the next prompt chunk (at most [`PREFILL_CHUNK`]), or
    /// the token sampled last.
    pub fn next_input(&self) -> &[u32] {
        match self.prefilling {
            true => &self.input[self.fed..(self.fed + PREFILL_CHUNK).min(self.input.len())],
            false => &self.input,
        }
    }

    /// Takes the logits of the step that ran [`Self::next_input`]: moves through the prompt,
    /// or samples and emits the next token. Returns the result once the generation is over.
    pub fn advance(
        &mut self,
        model: &LoadedModel,
        mut logits: Vec<f32>,
        emit: &mut dyn FnMut(&Event) -> Flow,
    ) -> Result<Option<GenerationResult>> {
        if !self.prefilling {
            self.fed_back += 1;
        } else {
            self.fed = (self.fed + PREFILL_CHUNK).min(self.input.len());
            if self.fed < self.input.len() {
                return Ok(None);
            }
            self.prefilling = false;
        }
        let req = &self.req;
        // The model's own distribution, before penalties and temperature reshape it.
        let raw = req.logprobs.map(|top_n| (top_n, logits.clone()));
        for &(id, bias) in &req.logit_bias {
            if let Some(l) = logits.get_mut(id as usize) {
                *l += bias;
            }
        }
        if let Some(g) = &mut self.grammar {
            g.mask(&mut logits)?;
        }
        let id = self.sampler.sample(&mut logits, &self.history, &self.generated);
        let logprobs = raw.map(|(top_n, raw)| Logprobs::from_logits(&raw, id, top_n));
        let elapsed_ms = ms(self.start);
        if model.tokenizer.is_eos(id) {
            return self.finish(model, FinishReason::Stop, emit).map(Some);
        }
        if let Some(g) = &mut self.grammar {
            g.accept(id)?;
        }
        self.generated.push(id);
        self.history.push(id);
        self.token_times.push(elapsed_ms);
        let piece = self.decoder.push(&model.tokenizer, id)?;
        let (text, hit_stop) = self.stops.push(&piece);
        let text = match self.tool_format {
            None => text,
            Some(f) => {
                self.released.push_str(&text);
                let limit = f
                    .call_start(&self.released)
                    .unwrap_or(self.released.len())
                    .max(self.emitted);
                let shown = self.released[self.emitted..limit].to_owned();
                self.emitted = limit;
                shown
            }
        };
        self.all_logprobs.extend(logprobs.clone());
        if emit(&Event::Token {
            id,
            text,
            elapsed_ms,
            logprobs,
        }) == Flow::Cancel
        {
            return self.finish(model, FinishReason::Cancelled, emit).map(Some);
        }
        if hit_stop || self.grammar.as_ref().is_some_and(|g| g.done()) {
            return self.finish(model, FinishReason::Stop, emit).map(Some);
        }
        if self.generated.len() >= self.max_new {
            return self.finish(model, FinishReason::Length, emit).map(Some);
        }
        self.input = vec![id];
        Ok(None)
    }

    /// Ends the generation for `reason` (e.g. `Cancelled` when its consumer left between
    /// steps): the result, also emitted as the final event.
    pub fn finish(
        &mut self,
        model: &LoadedModel,
        reason: FinishReason,
        emit: &mut dyn FnMut(&Event) -> Flow,
    ) -> Result<GenerationResult> {
        if reason != FinishReason::Cancelled {
            let tail = self.decoder.flush(&model.tokenizer)?;
            self.stops.push(&tail);
        }
        let total_ms = ms(self.start);
        let kv_len = self.prompt_len + self.fed_back;
        let stop_sequence = self.stops.matched().map(str::to_owned);
        let mut text = std::mem::take(&mut self.stops).finish();
        let (mut tool_calls, mut held_text) = (vec![], String::new());
        if let Some(f) = self.tool_format {
            let (content, calls) = crate::tools::parse_calls(f, &text);
            if !calls.is_empty() {
                text = content;
                tool_calls = calls;
            }
            held_text = text.get(self.emitted..).unwrap_or_default().to_owned();
        }
        let result = GenerationResult {
            text,
            tool_calls,
            held_text,
            stop_sequence,
            usage: Usage {
                prompt_tokens: self.prompt_len,
                completion_tokens: self.generated.len(),
                cached_tokens: self.cached,
            },
            timings: Timings::from_token_times(
                self.prompt_len - self.cached,
                std::mem::take(&mut self.token_times),
                total_ms,
            ),
            token_ids: std::mem::take(&mut self.generated),
            finish_reason: reason,
            kv_len,
            logprobs: std::mem::take(&mut self.all_logprobs),
        };
        emit(&Event::Finished(result.clone()));
        Ok(result)
    }
}

/// Of the `free` slots, the one whose cache shares the longest prefix with `prompt` (the
/// first on a tie).
fn best_slot(model: &LoadedModel, prompt: &[u32], free: &[usize]) -> Result<usize> {
    let shared = |slot: usize| {
        let cached = model.prompt_caches.get(slot).map_or(&[][..], |c| c.tokens());
        cached.iter().zip(prompt).take_while(|(a, b)| a == b).count()
    };
    let mut best: Option<(usize, usize)> = None;
    for &slot in free {
        let n = shared(slot);
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((slot, n));
        }
    }
    best.map(|(slot, _)| slot)
        .ok_or_else(|| Error::Engine("no free slot for the generation".into()))
}

/// The constraint a request decodes under, compiled before anything runs, so a schema we
/// cannot compile is the request's error.
fn constraint(
    model: &LoadedModel,
    req: &GenerateRequest,
    tool_format: Option<crate::tools::ToolFormat>,
) -> Result<Option<crate::structured::Grammar>> {
    use crate::tools::ToolChoice;
    Ok(match (&req.format, tool_format, &req.tool_choice) {
        (Some(_), Some(_), ToolChoice::Required | ToolChoice::Function(_)) => {
            return Err(Error::invalid(
                "response_format",
                "cannot be combined with a tool_choice that forces a call",
            ))
        }
        (_, Some(f), choice @ (ToolChoice::Required | ToolChoice::Function(_))) => {
            let lark = crate::tools::forced_call_grammar(f, &req.tools, choice, |t| model.tokenizer.token_to_id(t))?;
            Some(
                model
                    .grammars()?
                    .compile(&crate::structured::OutputFormat::Lark { grammar: lark }, "tool_choice")?,
            )
        }
        (Some(format), _, _) => Some(model.grammars()?.compile(format, "response_format")?),
        (None, _, _) => None,
    })
}

/// A request's prompt as token ids (a chat rendered with its tools), and the call format its
/// replies are parsed in when it offers tools.
pub fn prompt_tokens(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    req: &GenerateRequest,
) -> Result<(Vec<u32>, Option<crate::tools::ToolFormat>)> {
    let format = tool_format(template, req)?;
    let ids = match (&req.prompt, format, template) {
        (Prompt::Chat(messages), Some(_), Some(template)) => {
            tokenizer.encode(&template.render_with_tools(messages, &req.tools, true)?, false)?
        }
        (prompt, _, _) => encode_prompt(tokenizer, template, prompt)?,
    };
    Ok((ids, format))
}

/// The call format of a chat that offers tools (and does not turn them off); a tool choice
/// naming a function the request does not offer is an error.
fn tool_format(template: Option<&ChatTemplate>, req: &GenerateRequest) -> Result<Option<crate::tools::ToolFormat>> {
    use crate::tools::ToolChoice;
    if let ToolChoice::Function(name) = &req.tool_choice {
        if !req.tools.iter().any(|t| &t.name == name) {
            return Err(Error::invalid(
                "tool_choice",
                format!("names `{name}`, which is not among the tools"),
            ));
        }
    }
    if matches!(req.tool_choice, ToolChoice::Required) && req.tools.is_empty() {
        return Err(Error::invalid("tool_choice", "`required` needs tools"));
    }
    if req.tools.is_empty() || req.tool_choice == ToolChoice::None || !matches!(req.prompt, Prompt::Chat(_)) {
        return Ok(None);
    }
    Ok(template.map(ChatTemplate::tool_format))
}

/// Truncates the engine's cache to the prefix `prompt` shares with it (everything when
/// `enabled` is off or nothing is shared) and returns how many prompt tokens it kept.
fn reuse_cache(model: &mut LoadedModel, prompt: &[u32], enabled: bool) -> Result<usize> {
    let keep = if enabled {
        model.prompt_caches[model.slot()].reusable(prompt, model.engine.kv_len())
    } else {
        0
    };
    if keep > 0 && model.engine.truncate(keep).is_ok() {
        model.prompt_cache().keep(keep);
        return Ok(keep);
    }
    model.prompt_cache().clear();
    model.engine.reset()?;
    Ok(0)
}

/// One batched step over several slots (see [`crate::Engine::forward_batch`]) that keeps each
/// slot's label in step, and the selected slot as it was. On failure every row's slot is
/// emptied, as [`feed`] empties one.
pub fn feed_batch(model: &mut LoadedModel, rows: &[crate::SlotTokens]) -> Result<Vec<Vec<f32>>> {
    let selected = model.slot();
    let out = model.engine.forward_batch(rows);
    let out = match out {
        Ok(logits) if logits.len() == rows.len() => {
            for r in rows {
                model.prompt_caches[r.slot].extend(r.tokens);
            }
            Ok(logits)
        }
        Ok(_) => Err(Error::Engine("a batched step returned another number of rows".into())),
        Err(e) => Err(e),
    };
    if out.is_err() {
        for r in rows {
            model.prompt_caches[r.slot].clear();
            if model.engine.select_slot(r.slot).is_ok() {
                let _ = model.engine.reset();
            }
        }
    }
    model.engine.select_slot(selected)?;
    out
}

/// One forward pass on the selected slot that keeps the cache's label in step: on failure the
/// engine's cache is in an unknown state, so it is emptied and nothing is reused next time.
pub fn feed(model: &mut LoadedModel, tokens: &[u32]) -> Result<Vec<f32>> {
    match model.engine.forward(tokens) {
        Ok(logits) => {
            model.prompt_cache().extend(tokens);
            Ok(logits)
        }
        Err(e) => {
            model.prompt_cache().clear();
            let _ = model.engine.reset();
            Err(e)
        }
    }
}

fn empty_result(prompt: &[u32], start: Instant, reason: FinishReason) -> GenerationResult {
    GenerationResult {
        text: String::new(),
        token_ids: vec![],
        finish_reason: reason,
        usage: Usage {
            prompt_tokens: prompt.len(),
            completion_tokens: 0,
            cached_tokens: 0,
        },
        timings: Timings::from_token_times(prompt.len(), vec![], ms(start)),
        kv_len: 0,
        logprobs: vec![],
        tool_calls: vec![],
        held_text: String::new(),
        stop_sequence: None,
    }
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_are_a_log_softmax_with_the_best_alternatives_in_order() {
        let logits = [1.0f32, 3.0, 2.0, -1.0];
        let lp = Logprobs::from_logits(&logits, 2, 3);
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        assert!((lp.token.logprob - (2.0f32.exp() / z).ln()).abs() < 1e-6);
        let ids: Vec<u32> = lp.top.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2, 0]);
        let total: f32 = logits
            .iter()
            .enumerate()
            .map(|(i, _)| Logprobs::from_logits(&logits, i as u32, 0).token.logprob.exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!(Logprobs::from_logits(&logits, 0, 0).top.is_empty());
        assert_eq!(Logprobs::from_logits(&logits, 0, 10).top.len(), 4);
    }
}
