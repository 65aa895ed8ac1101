//! Each loaded model lives on its own worker thread behind a request queue. Every request gets
//! its own event channel; dropping the receiving [`GenerationStream`] cancels the work before
//! the next token.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::engine::{LoadedModel, MemoryReport, ModelInfo};
use crate::error::{Error, Result};
use crate::generate::{generate, Event, Flow, GenerateRequest, GenerationResult};
use crate::live::{Live, LiveGeneration, LiveStatus};
use crate::routing::RoutingLog;
use crate::tokenizer::Tokenizer;

/// Events buffered per request before the worker waits for the consumer.
const EVENT_BUFFER: usize = 64;

enum Command {
    Generate(Box<GenerateRequest>, mpsc::Sender<Result<Event>>),
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
        live.update(|s| s.memory = memory);
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
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
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

fn worker(mut model: LoadedModel, rx: std_mpsc::Receiver<Command>, live: Live) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Command::Memory(reply) => {
                let _ = reply.send(model.engine.memory());
            }
            Command::Routing(record, reply) => {
                let taken = model.engine.take_routing();
                let has_experts = model.engine.record_routing(record);
                let _ = reply.send(has_experts.then(|| taken.unwrap_or_default()));
            }
            Command::Generate(req, events) => {
                live.update(|s| {
                    s.waiting = s.waiting.saturating_sub(1);
                    s.generation = Some(LiveGeneration {
                        started: std::time::Instant::now(),
                        prompt_tokens: 0,
                        tokens: 0,
                        ttft_ms: None,
                        last_token_ms: None,
                    });
                });
                // The final event waits until the live status counts this generation, so a
                // consumer that saw it finish never reads a status from before its end.
                let mut finished = None;
                let mut emit = |ev: &Event| {
                    track(&live, ev);
                    if let Event::Finished(_) = ev {
                        finished = Some(ev.clone());
                        return Flow::Continue;
                    }
                    match events.blocking_send(Ok(ev.clone())) {
                        Ok(()) => Flow::Continue,
                        Err(_) => Flow::Cancel,
                    }
                };
                let outcome = generate(&mut model, &req, &mut emit);
                let memory = model.engine.memory();
                live.update(|s| {
                    s.generation = None;
                    s.generations_done += 1;
                    s.memory = memory;
                });
                match outcome {
                    Ok(_) => {
                        if let Some(ev) = finished {
                            let _ = events.blocking_send(Ok(ev));
                        }
                    }
                    Err(e) => {
                        let _ = events.blocking_send(Err(e));
                    }
                }
            }
        }
    }
}

/// Keeps the live view of the running generation current.
fn track(live: &Live, ev: &Event) {
    live.update(|s| {
        let Some(g) = s.generation.as_mut() else { return };
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
    rx: mpsc::Receiver<Result<Event>>,
}

impl GenerationStream {
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
