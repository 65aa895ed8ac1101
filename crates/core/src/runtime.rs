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
use crate::tokenizer::Tokenizer;

/// Events buffered per request before the worker waits for the consumer.
const EVENT_BUFFER: usize = 64;

enum Command {
    Generate(GenerateRequest, mpsc::Sender<Result<Event>>),
    Memory(oneshot::Sender<MemoryReport>),
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
    thread: Option<JoinHandle<()>>,
}

impl EngineHandle {
    pub fn spawn(model: LoadedModel) -> Self {
        let (tx, rx) = std_mpsc::channel();
        let info = model.engine.info().clone();
        let backend = model.engine.backend();
        let load_ms = model.load_ms;
        let tokenizer = model.tokenizer.clone();
        let thread = std::thread::Builder::new()
            .name(format!("engine-{backend}"))
            .spawn(move || worker(model, rx))
            .ok();
        EngineHandle {
            tx: Some(tx),
            info,
            backend,
            load_ms,
            tokenizer,
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

    /// Queues a generation. Events arrive on the returned stream.
    pub fn generate(&self, req: GenerateRequest) -> Result<GenerationStream> {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        self.send(Command::Generate(req, tx))?;
        Ok(GenerationStream { rx })
    }

    /// The engine's memory, measured between requests.
    pub fn memory_blocking(&self) -> Result<MemoryReport> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Memory(tx))?;
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

fn worker(mut model: LoadedModel, rx: std_mpsc::Receiver<Command>) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Command::Memory(reply) => {
                let _ = reply.send(model.engine.memory());
            }
            Command::Generate(req, events) => {
                let mut emit = |ev: &Event| match events.blocking_send(Ok(ev.clone())) {
                    Ok(()) => Flow::Continue,
                    Err(_) => Flow::Cancel,
                };
                if let Err(e) = generate(&mut model, &req, &mut emit) {
                    let _ = events.blocking_send(Err(e));
                }
            }
        }
    }
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
