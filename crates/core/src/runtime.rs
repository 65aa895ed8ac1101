//! Each loaded model lives on its own worker thread behind a request queue. Every request gets
//! its own event channel; dropping the receiving [`GenerationStream`] cancels the work before
//! the next token.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::engine::{LoadedModel, MemoryReport, ModelInfo};
use crate::error::{Error, Result};
use std::collections::VecDeque;

use crate::engine::SlotTokens;
use crate::generate::{
    feed, feed_batch, Begun, Event, FinishReason, Flow, GenerateRequest, GenerationResult, Sequence,
};
use crate::live::{Live, LiveGeneration, LiveStatus};
use crate::routing::RoutingLog;
use crate::tokenizer::Tokenizer;

enum Command {
    Generate(Box<GenerateRequest>, Events),
    Memory(oneshot::Sender<MemoryReport>),
    Routing(bool, oneshot::Sender<Option<RoutingLog>>),
}

/// A handle to one engine worker. Cheap to share by reference; `Send + Sync`.
/// Dropping the handle closes the queue; the worker finishes its current request and exits,
/// unloading the model.
pub struct EngineHandle {
    tx: Option<std_mpsc::Sender<Command>>,
    info: ModelInfo,
    backend: &'static str,
    load_ms: f64,
    tokenizer: Arc<Tokenizer>,
    template: Option<Arc<crate::ChatTemplate>>,
    live: Live,
    thread: Option<JoinHandle<()>>,
}

impl EngineHandle {
    pub fn spawn(model: LoadedModel) -> Self {
        let (tx, rx) = std_mpsc::channel();
        let info = model.engine.info().clone();
        let backend = model.engine.backend();
        let load_ms = model.load_ms;
        let tokenizer = model.tokenizer.clone();
        let template = model.template.clone();
        let live = Live::default();
        let memory = model.engine.memory();
        let slots = model.slots();
        live.update(|s| {
            s.memory = memory;
            s.slots = slots;
        });
        let worker_live = live.clone();
        let thread = std::thread::Builder::new()
            .name(format!("engine-{backend}"))
            .spawn(move || worker(model, rx, worker_live))
            .ok();
        EngineHandle {
            tx: Some(tx),
            info,
            backend,
            load_ms,
            tokenizer,
            template,
            live,
            thread,
        }
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }
    pub fn backend(&self) -> &'static str {
        self.backend
    }
    /// Generations the worker runs at once (the engine's slots).
    pub fn slots(&self) -> usize {
        self.live.read().slots
    }
    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }
    /// The model's tokenizer (e.g. to spell out token ids for log-probabilities).
    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.tokenizer
    }

    /// The tokens `req`'s prompt would take (its chat rendered with its tools), without running
    /// anything: Anthropic's `count_tokens`.
    pub fn prompt_tokens(&self, req: &GenerateRequest) -> Result<usize> {
        crate::generate::prompt_tokens(&self.tokenizer, self.template.as_deref(), req).map(|(ids, _)| ids.len())
    }

    /// What the worker is doing now; never waits for it.
    pub fn live(&self) -> LiveStatus {
        self.live.read()
    }

    /// Queues a generation. Events arrive on the returned stream.
    pub fn generate(&self, req: GenerateRequest) -> Result<GenerationStream> {
        // Unbounded: one slow consumer must not hold up the generations batched with its own
        // (a generation's events are bounded by its `max_tokens`).
        let (tx, rx) = mpsc::unbounded_channel();
        self.live.update(|s| s.waiting += 1);
        let sent = self.send(Command::Generate(Box::new(req), tx));
        if sent.is_err() {
            self.live.update(|s| s.waiting = s.waiting.saturating_sub(1));
        }
        sent.map(|()| GenerationStream { rx })
    }

    /// The engine's memory, measured between requests.
    pub fn memory_blocking(&self) -> Result<MemoryReport> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Memory(tx))?;
        rx.blocking_recv().map_err(|_| Error::WorkerGone)
    }

    /// Starts (`true`) or stops recording which experts each token goes to, and returns what
    /// was recorded until now: `None` when the model has no experts.
    pub fn routing_blocking(&self, record: bool) -> Result<Option<RoutingLog>> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Routing(record, tx))?;
        rx.blocking_recv().map_err(|_| Error::WorkerGone)
    }

    fn send(&self, cmd: Command) -> Result<()> {
        self.tx
            .as_ref()
            .ok_or(Error::WorkerGone)?
            .send(cmd)
            .map_err(|_| Error::WorkerGone)
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Most generations a model runs at once unless told otherwise (llama-server's default too).
/// A slot's KV cache takes memory only as it fills, so idle slots cost nothing.
pub const DEFAULT_SLOTS: usize = 4;

/// Positions each slot is planned for when choosing how many slots fit.
pub const SLOT_PLAN_POSITIONS: usize = 8192;

/// How many slots a model gets when the user chose none: as many as fit `available` bytes
/// (the memory free after loading it) with every slot's cache filled to its context (at most
/// [`SLOT_PLAN_POSITIONS`]), leaving half of it free; at least 1, at most [`DEFAULT_SLOTS`].
pub fn slots_for_memory(info: &ModelInfo, available: u64) -> usize {
    let per_slot = info.kv_bytes_per_token * info.context_length.min(SLOT_PLAN_POSITIONS) as u64;
    match per_slot {
        0 => DEFAULT_SLOTS,
        _ => ((available / 2 / per_slot) as usize).clamp(1, DEFAULT_SLOTS),
    }
}

/// A generation holding a slot.
struct Running {
    seq: Box<Sequence>,
    events: Events,
    id: u64,
}

type Events = mpsc::UnboundedSender<Result<Event>>;

/// The scheduler: requests wait in `queue` until a slot is free; each loop turn runs one
/// prompt chunk of every generation still reading its prompt (prompts go in between decode
/// steps), then one batched decode step over every other generation, so decode rows from
/// different requests share each weight read. Each generation keeps its own sampler and
/// seed, and a row's logits do not depend on the rows beside it, so a request's output is
/// the one it would have had alone.
fn worker(mut model: LoadedModel, rx: std_mpsc::Receiver<Command>, live: Live) {
    let mut queue: VecDeque<(Box<GenerateRequest>, Events)> = VecDeque::new();
    let mut running: Vec<Running> = Vec::new();
    let mut taken = 0u64;
    loop {
        if running.is_empty() && queue.is_empty() {
            // Idle: wait for work; the handle gone, the worker ends.
            match rx.recv() {
                Ok(cmd) => answer(&mut model, cmd, &mut queue),
                Err(_) => return,
            }
        }
        while let Ok(cmd) = rx.try_recv() {
            answer(&mut model, cmd, &mut queue);
        }
        while running.len() < model.slots() {
            let Some((req, events)) = queue.pop_front() else { break };
            live.update(|s| s.waiting = s.waiting.saturating_sub(1));
            if events.is_closed() {
                continue;
            }
            taken += 1;
            let busy: Vec<usize> = running.iter().map(|r| r.seq.slot()).collect();
            let free: Vec<usize> = (0..model.slots()).filter(|s| !busy.contains(s)).collect();
            if let Some(r) = begin(&mut model, *req, events, taken, &free, &live) {
                running.push(r);
            }
        }
        step(&mut model, &mut running, &live);
    }
}

/// Answers a command between steps; a generation joins the queue.
fn answer(model: &mut LoadedModel, cmd: Command, queue: &mut VecDeque<(Box<GenerateRequest>, Events)>) {
    match cmd {
        Command::Memory(reply) => {
            let _ = reply.send(model.engine.memory());
        }
        Command::Routing(record, reply) => {
            let taken = model.engine.take_routing();
            let has_experts = model.engine.record_routing(record);
            let _ = reply.send(has_experts.then(|| taken.unwrap_or_default()));
        }
        Command::Generate(req, events) => queue.push_back((req, events)),
    }
}

/// Starts a generation in one of the `free` slots; `None` when it is already over.
fn begin(
    model: &mut LoadedModel,
    req: GenerateRequest,
    events: Events,
    id: u64,
    free: &[usize],
    live: &Live,
) -> Option<Running> {
    live.update(|s| {
        s.generations.push(LiveGeneration {
            id,
            slot: free.first().copied().unwrap_or(0),
            started: std::time::Instant::now(),
            prompt_tokens: 0,
            tokens: 0,
            ttft_ms: None,
            last_token_ms: None,
        })
    });
    let mut finished = None;
    let begun = Sequence::start(model, req, free, &mut emitter(live, id, &events, &mut finished));
    match begun {
        Ok(Begun::Running(seq)) => {
            let slot = seq.slot();
            live.update(|s| {
                if let Some(g) = s.generations.iter_mut().find(|g| g.id == id) {
                    g.slot = slot;
                }
            });
            Some(Running { seq, events, id })
        }
        Ok(Begun::Finished(_)) => {
            end(model, live, id, &events, finished.map(Ok));
            None
        }
        Err(e) => {
            end(model, live, id, &events, Some(Err(e)));
            None
        }
    }
}

/// One turn of the scheduler over the running generations.
fn step(model: &mut LoadedModel, running: &mut Vec<Running>, live: &Live) {
    // Consumers that left stop their generation now, not at its next token.
    let mut i = 0;
    while i < running.len() {
        if running[i].events.is_closed() {
            let mut r = running.swap_remove(i);
            let mut finished = None;
            let done = r.seq.finish(
                model,
                FinishReason::Cancelled,
                &mut emitter(live, r.id, &r.events, &mut finished),
            );
            end(model, live, r.id, &r.events, done.err().map(Err));
        } else {
            i += 1;
        }
    }
    let mut outcomes: Vec<(usize, Result<Option<GenerationResult>>, Option<Event>)> = Vec::new();
    for (i, r) in running.iter_mut().enumerate().filter(|(_, r)| r.seq.prefilling()) {
        let fed = model
            .select_slot(r.seq.slot())
            .and_then(|()| feed(model, r.seq.next_input()));
        let mut finished = None;
        let outcome = fed.and_then(|logits| {
            r.seq
                .advance(model, logits, &mut emitter(live, r.id, &r.events, &mut finished))
        });
        outcomes.push((i, outcome, finished));
    }
    let decoding: Vec<usize> = (0..running.len())
        .filter(|&i| {
            !running[i].seq.prefilling() && !outcomes.iter().any(|(j, o, _)| *j == i && !matches!(o, Ok(None)))
        })
        .collect();
    if !decoding.is_empty() {
        let rows: Vec<SlotTokens> = decoding
            .iter()
            .map(|&i| SlotTokens {
                slot: running[i].seq.slot(),
                tokens: running[i].seq.next_input(),
            })
            .collect();
        match feed_batch(model, &rows) {
            Ok(all) => {
                for (&i, logits) in decoding.iter().zip(all) {
                    let r = &mut running[i];
                    let mut finished = None;
                    let outcome = r
                        .seq
                        .advance(model, logits, &mut emitter(live, r.id, &r.events, &mut finished));
                    outcomes.push((i, outcome, finished));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for &i in &decoding {
                    outcomes.push((i, Err(Error::Engine(message.clone())), None));
                }
            }
        }
    }
    // Finished generations leave, highest index first so the others keep their places.
    outcomes.sort_by_key(|(i, _, _)| std::cmp::Reverse(*i));
    for (i, outcome, finished) in outcomes {
        let last = match outcome {
            Ok(None) => continue,
            Ok(Some(_)) => finished.map(Ok),
            Err(e) => Some(Err(e)),
        };
        let r = running.remove(i);
        end(model, live, r.id, &r.events, last);
    }
}

/// A generation's events go to its consumer as they come; its final event is kept back in
/// `finished`, to be sent once the live status counts its end (see [`end`]), so a consumer
/// that saw it finish never reads a status from before. A consumer gone cancels.
fn emitter<'a>(
    live: &'a Live,
    id: u64,
    events: &'a Events,
    finished: &'a mut Option<Event>,
) -> impl FnMut(&Event) -> Flow + 'a {
    move |ev: &Event| {
        track(live, id, ev);
        if let Event::Finished(_) = ev {
            *finished = Some(ev.clone());
            return Flow::Continue;
        }
        match events.send(Ok(ev.clone())) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Cancel,
        }
    }
}

/// A generation is over: the live status counts it and the engine's memory is measured again,
/// then its last event (the result or the error) goes out.
fn end(model: &LoadedModel, live: &Live, id: u64, events: &Events, last: Option<Result<Event>>) {
    let memory = model.engine.memory();
    live.update(|s| {
        s.generations.retain(|g| g.id != id);
        s.generations_done += 1;
        s.memory = memory;
    });
    if let Some(last) = last {
        let _ = events.send(last);
    }
}

/// Keeps the live view of a running generation current.
fn track(live: &Live, id: u64, ev: &Event) {
    live.update(|s| {
        let Some(g) = s.generations.iter_mut().find(|g| g.id == id) else {
            return;
        };
        match ev {
            Event::Started { prompt_tokens, .. } => g.prompt_tokens = *prompt_tokens,
            Event::Token { elapsed_ms, .. } => {
                g.tokens += 1;
                g.ttft_ms.get_or_insert(*elapsed_ms);
                g.last_token_ms = Some(*elapsed_ms);
            }
            Event::Finished(_) => {}
        }
    });
}

/// The events of one generation. Dropping it cancels the generation.
pub struct GenerationStream {
    rx: mpsc::UnboundedReceiver<Result<Event>>,
}

/// The sending end of a [`GenerationStream`] made by [`GenerationStream::channel`]: a send fails
/// once the consumer has dropped the stream (the generation is then cancelled).
pub type EventSender = Events;

impl GenerationStream {
    /// A stream fed from elsewhere than this runtime's workers (a remote engine's deltas).
    pub fn channel() -> (EventSender, GenerationStream) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, GenerationStream { rx })
    }

    /// Next event, blocking the current (non-async) thread.
    pub fn next_blocking(&mut self) -> Option<Result<Event>> {
        self.rx.blocking_recv()
    }

    /// Next event, from async code.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        self.rx.recv().await
    }

    /// Runs to the end, returning the final result.
    pub fn collect_blocking(mut self) -> Result<GenerationResult> {
        while let Some(ev) = self.next_blocking() {
            if let Event::Finished(r) = ev? {
                return Ok(r);
            }
        }
        Err(Error::WorkerGone)
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    #[test]
    fn slots_follow_the_memory_a_full_cache_would_take() {
        let info = ModelInfo {
            id: "m".into(),
            path: "m".into(),
            architecture: "llama".into(),
            context_length: 32_768,
            vocab_size: 10,
            weight_format: "GGUF Q4_0".into(),
            weight_bytes: 1,
            warnings: vec![],
            // 1 MiB a position: a slot at 8,192 positions takes 8 GiB.
            kv_bytes_per_token: 1 << 20,
            device: "cpu".into(),
        };
        assert_eq!(slots_for_memory(&info, 100 << 30), DEFAULT_SLOTS);
        assert_eq!(slots_for_memory(&info, 40 << 30), 2);
        assert_eq!(slots_for_memory(&info, 1 << 30), 1, "always one");
        let unknown = ModelInfo {
            kv_bytes_per_token: 0,
            device: "cpu".into(),
            ..info
        };
        assert_eq!(slots_for_memory(&unknown, 0), DEFAULT_SLOTS);
    }
}
