//! The models the host serves: every catalog chat model × engine, and the embedding models.
//! Each loads just in time on first use, behind a bounded request queue; an idle one is
//! unloaded after the TTL, and a memory budget evicts the least recently used before a load.
//! Models are asked for by [`ModelRef`]; a ref without an engine means the default engine.
//! Paths are never refs: no file access through the API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parallax_core::catalog::{self, CatalogEntry, ModelKind};
use parallax_core::{EngineHandle, GenerateRequest, GenerationStream, LoadedModel, Tokenizer};
use parallax_embed::Embedder;
use parallax_monitor::{MonitorEvent, ReloadPolicy};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use crate::error::{HostError, HostResult};
use crate::model_ref::ModelRef;
use crate::probe::EventLog;
use crate::remote::Remotes;

/// Loads a catalog model with the named engine (the CLI and the app pass their engine table).
pub type Loader = Arc<dyn Fn(&str, &str) -> parallax_core::Result<LoadedModel> + Send + Sync>;

/// What a loaded model runs.
pub enum Runner {
    Chat(Box<EngineHandle>),
    Embed(Arc<Embedder>),
}

/// A loaded model and its queue: `queue_depth` requests may wait or run at once.
pub struct Loaded {
    pub id: String,
    pub runner: Runner,
    /// The memory it was admitted with (catalog estimate).
    pub bytes: u64,
    /// Process RSS right after it loaded, for the reload policy.
    rss_at_load: u64,
    queue: Arc<Semaphore>,
    depth: usize,
    last_used: std::sync::Mutex<Instant>,
}

/// A request's place in a model's queue. Dropping it frees the place and marks the model used.
pub struct Lease {
    slot: Arc<Loaded>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.slot.touch();
    }
}

impl Loaded {
    /// A place in the queue, or `QueueFull`.
    pub fn enqueue(self: &Arc<Self>) -> HostResult<Lease> {
        let permit = self
            .queue
            .clone()
            .try_acquire_owned()
            .map_err(|_| HostError::QueueFull(self.id.clone()))?;
        self.touch();
        Ok(Lease {
            slot: self.clone(),
            _permit: permit,
        })
    }

    /// Requests running or waiting now.
    pub fn queued(&self) -> usize {
        self.depth - self.queue.available_permits()
    }

    pub fn idle_for(&self) -> Duration {
        self.last_used.lock().map(|t| t.elapsed()).unwrap_or_default()
    }

    fn touch(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
    }

    /// Why the reload policy wants this model reloaded now, if it does.
    fn reload_due(&self, policy: &ReloadPolicy) -> Option<String> {
        let Runner::Chat(h) = &self.runner else { return None };
        let rss = || parallax_monitor::process_memory().rss_bytes;
        policy.check(h.live().generations_done, self.rss_at_load, rss)
    }

    pub fn chat(&self) -> HostResult<&EngineHandle> {
        match &self.runner {
            Runner::Chat(h) => Ok(h),
            Runner::Embed(_) => Err(HostError::NotAChatModel(self.id.clone())),
        }
    }

    pub fn embedder(&self) -> HostResult<&Arc<Embedder>> {
        match &self.runner {
            Runner::Embed(e) => Ok(e),
            Runner::Chat(_) => Err(HostError::NotAnEmbeddingModel(self.id.clone())),
        }
    }
}

/// A chat model acquired for a request: loaded, with the request's place in its queue held
/// until this is dropped. Its generations run in the engine's slots beside other requests'.
/// A remote model has no local engine: its generations go to the server that runs it.
pub struct Chat {
    place: Place,
}

enum Place {
    Local(Lease),
    Remote {
        id: String,
        remote: String,
        model: String,
        remotes: Arc<dyn Remotes>,
    },
}

impl Chat {
    /// The model's id as loaded (`<model>@<engine>`, or `<model>@<remote>`).
    pub fn id(&self) -> &str {
        match &self.place {
            Place::Local(lease) => &lease.slot.id,
            Place::Remote { id, .. } => id,
        }
    }

    /// The local engine; `None` for a remote model.
    pub fn handle(&self) -> Option<&EngineHandle> {
        match &self.place {
            Place::Local(lease) => match &lease.slot.runner {
                Runner::Chat(h) => Some(h),
                Runner::Embed(_) => None,
            },
            Place::Remote { .. } => None,
        }
    }

    /// "gguf", "mlx" or "remote".
    pub fn backend(&self) -> &'static str {
        self.handle().map_or("remote", |h| h.backend())
    }

    /// The model's tokenizer; `None` for a remote model (the server tokenizes).
    pub fn tokenizer(&self) -> Option<&Arc<Tokenizer>> {
        self.handle().map(|h| h.tokenizer())
    }

    /// Queues a generation on this model (several may run under one place, e.g. `n` choices).
    pub fn generate(&self, req: GenerateRequest) -> HostResult<GenerationStream> {
        match &self.place {
            Place::Local(_) => match self.handle() {
                Some(h) => Ok(h.generate(req)?),
                None => Err(HostError::NotAChatModel(self.id().to_owned())),
            },
            Place::Remote {
                remote, model, remotes, ..
            } => remotes.generate(remote, model, req),
        }
    }
}

/// A model as the manager reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadedSummary {
    pub id: String,
    pub queued: usize,
    pub bytes: u64,
    pub idle_secs: f64,
}

pub struct ModelManager {
    loader: Loader,
    engines: Vec<&'static str>,
    queue_depth: usize,
    /// Generations each chat model runs at once (its engine's slots); `None`: as many as its
    /// KV caches fit in memory, at most `parallax_core::DEFAULT_SLOTS`.
    parallel: Option<usize>,
    ttl: Option<Duration>,
    budget: Option<u64>,
    loaded: Mutex<HashMap<String, Arc<Loaded>>>,
    /// A copy of `loaded`'s slots that the monitor reads without waiting for a load.
    visible: std::sync::Mutex<Vec<Arc<Loaded>>>,
    unloads: std::sync::atomic::AtomicU64,
    reload_policies: std::sync::Mutex<HashMap<String, ReloadPolicy>>,
    /// Models added beside the catalog (the app's imported files), their `file` absolute.
    imported: std::sync::Mutex<Vec<CatalogEntry>>,
    /// Load, unload and reload events for the monitor.
    pub events: EventLog,
    /// Registered remote servers, whose models are `<model>@<remote>`.
    remotes: Option<Arc<dyn Remotes>>,
}

/// A resolved name: the catalog entry, and the engine for chat models.
struct Target {
    entry: CatalogEntry,
    engine: Option<&'static str>,
}

impl Target {
    fn id(&self) -> String {
        match self.engine {
            Some(e) => format!("{}@{e}", self.entry.id),
            None => self.entry.id.clone(),
        }
    }
}

impl ModelManager {
    /// `engines[0]` is the default engine.
    pub fn new(loader: Loader, engines: Vec<&'static str>, queue_depth: usize) -> Self {
        ModelManager {
            loader,
            engines,
            queue_depth: queue_depth.max(1),
            parallel: None,
            ttl: None,
            budget: None,
            loaded: Mutex::new(HashMap::new()),
            visible: std::sync::Mutex::new(vec![]),
            unloads: 0.into(),
            reload_policies: std::sync::Mutex::new(HashMap::new()),
            imported: std::sync::Mutex::new(vec![]),
            events: EventLog::default(),
            remotes: None,
        }
    }

    /// Serve `<model>@<remote>` from the registered remote servers (a local engine's name wins).
    pub fn with_remotes(mut self, remotes: Arc<dyn Remotes>) -> Self {
        self.remotes = Some(remotes);
        self
    }

    /// The remote `model` names, if it names one: `(remote, model)`.
    pub fn remote_of<'m>(&self, model: &'m ModelRef) -> Option<(&'m str, &'m str)> {
        let engine = model.engine.as_deref()?;
        let remotes = self.remotes.as_ref()?;
        (!self.engines.contains(&engine) && remotes.is_remote(engine)).then_some((engine, model.model.as_str()))
    }

    /// Reload `engine`'s models after N generations or RSS growth (see [`ReloadPolicy`]).
    /// The check runs when a request arrives and the model is idle, so no request is cut off.
    pub fn with_reload_policy(self, engine: &str, policy: ReloadPolicy) -> Self {
        self.set_reload_policy(engine, policy);
        self
    }

    /// Changes `engine`'s reload policy; loaded models follow it from their next request.
    pub fn set_reload_policy(&self, engine: &str, policy: ReloadPolicy) {
        if let Ok(mut p) = self.reload_policies.lock() {
            p.insert(engine.to_owned(), policy);
        }
    }

    /// `engine`'s reload policy (none set: never reload).
    pub fn reload_policy(&self, engine: &str) -> ReloadPolicy {
        self.reload_policies
            .lock()
            .ok()
            .and_then(|p| p.get(engine).copied())
            .unwrap_or_default()
    }

    /// The loaded slots as last published (never waits).
    pub fn visible(&self) -> Vec<Arc<Loaded>> {
        self.visible.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn publish(&self, loaded: &HashMap<String, Arc<Loaded>>) {
        if let Ok(mut v) = self.visible.lock() {
            *v = loaded.values().cloned().collect();
        }
    }

    /// Run up to `n` generations of each chat model at once, batched (each in its own KV
    /// cache slot); requests beyond wait in its queue.
    pub fn with_parallel(mut self, n: Option<usize>) -> Self {
        self.parallel = n.map(|n| n.max(1));
        self
    }

    /// Unload a model once it has been idle this long.
    pub fn with_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl = ttl;
        self
    }

    /// Keep the loaded models' estimated memory under this many bytes, evicting the least
    /// recently used. Without a budget, the system's available memory is the limit.
    pub fn with_memory_budget(mut self, bytes: Option<u64>) -> Self {
        self.budget = bytes;
        self
    }

    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// Models unloaded so far (idle TTL or eviction).
    pub fn unloads(&self) -> u64 {
        self.unloads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serves these models too, beside the catalog (each entry's `file` an absolute path).
    pub fn set_imported(&self, entries: Vec<CatalogEntry>) {
        if let Ok(mut i) = self.imported.lock() {
            *i = entries;
        }
    }

    /// The catalog, then the imported models.
    fn entries(&self) -> Vec<CatalogEntry> {
        let mut all = catalog::catalog().unwrap_or_default();
        all.extend(self.imported.lock().map(|i| i.clone()).unwrap_or_default());
        all
    }

    /// Every servable id (`<model>@<engine>` for chat models), for the models fetched on disk.
    pub fn list(&self) -> Vec<String> {
        let entries = self.entries();
        entries
            .iter()
            .filter(|e| e.is_fetched())
            .flat_map(|e| match e.kind {
                ModelKind::Chat => self.engines.iter().map(|eng| format!("{}@{eng}", e.id)).collect(),
                ModelKind::Embedding => vec![e.id.clone()],
            })
            .collect()
    }

    /// The registered remotes' models (`<model>@<remote>`), asked for off the async threads.
    pub async fn remote_models(&self) -> Vec<String> {
        match self.remotes.clone() {
            Some(remotes) => tokio::task::spawn_blocking(move || remotes.models())
                .await
                .unwrap_or_default(),
            None => vec![],
        }
    }

    /// A ref → catalog entry (+ engine for chat models).
    fn resolve(&self, model: &ModelRef) -> HostResult<Target> {
        let not_found = || HostError::ModelNotFound(model.to_string());
        let entry = self
            .entries()
            .into_iter()
            .find(|e| e.id == model.model)
            .ok_or_else(not_found)?;
        let engine = match (entry.kind, model.engine.as_deref()) {
            (ModelKind::Embedding, None) => None,
            (ModelKind::Embedding, Some(_)) => return Err(not_found()),
            (ModelKind::Chat, e) => {
                let e = e.unwrap_or(self.engines[0]);
                Some(*self.engines.iter().find(|x| **x == e).ok_or_else(not_found)?)
            }
        };
        Ok(Target { entry, engine })
    }

    /// Acquires a chat model (loading it if needed, taking a place in its queue) and starts a
    /// generation on it: the one call the server, the app's chat and side by side make.
    pub async fn generate(&self, model: &ModelRef, req: GenerateRequest) -> HostResult<(Chat, GenerationStream)> {
        let chat = self.chat(model).await?;
        let stream = match chat.place {
            // A remote call blocks until the server accepts: off the async threads.
            Place::Remote { .. } => {
                let (chat, stream) = tokio::task::spawn_blocking(move || {
                    let stream = chat.generate(req);
                    (chat, stream)
                })
                .await
                .map_err(|e| HostError::Engine(parallax_core::Error::Engine(e.to_string())))?;
                return Ok((chat, stream?));
            }
            Place::Local(_) => chat.generate(req)?,
        };
        Ok((chat, stream))
    }

    /// A chat model, loaded, with a place in its queue held.
    pub async fn chat(&self, model: &ModelRef) -> HostResult<Chat> {
        if let (Some((remote, name)), Some(remotes)) = (self.remote_of(model), &self.remotes) {
            return Ok(Chat {
                place: Place::Remote {
                    id: model.to_string(),
                    remote: remote.to_owned(),
                    model: name.to_owned(),
                    remotes: remotes.clone(),
                },
            });
        }
        let loaded = self.get(model).await?;
        loaded.chat()?;
        Ok(Chat {
            place: Place::Local(loaded.enqueue()?),
        })
    }

    /// The loaded model for `model`, loading it first if needed (evicting idle models when
    /// the memory budget asks for it). Loads are serialised.
    pub async fn get(&self, model: &ModelRef) -> HostResult<Arc<Loaded>> {
        let name = model.to_string();
        let name = name.as_str();
        let target = self.resolve(model)?;
        let id = target.id();
        let mut loaded = self.loaded.lock().await;
        let mut reload_reason = None;
        if let Some(slot) = loaded.get(&id) {
            // Only an idle model is reloaded (this request has not queued yet).
            let policy = target.engine.map(|e| self.reload_policy(e)).unwrap_or_default();
            match slot.reload_due(&policy).filter(|_| slot.queued() == 0) {
                None => {
                    slot.touch();
                    return Ok(slot.clone());
                }
                Some(reason) => {
                    let old = loaded.remove(&id).into_iter().collect();
                    self.publish(&loaded);
                    self.drop_slots(old).await;
                    reload_reason = Some(reason);
                }
            }
        }
        if !target.entry.is_fetched() {
            return Err(HostError::ModelNotFound(name.to_owned()));
        }
        let need = target.entry.estimated_load_bytes();
        let evicted = self.make_room(&mut loaded, &id, need)?;
        // Free their memory before the new load claims it.
        self.unload(evicted).await;
        let runner = self.load(target).await?;
        let slot = Arc::new(Loaded {
            id: id.clone(),
            runner,
            bytes: need,
            rss_at_load: parallax_monitor::process_memory().rss_bytes,
            queue: Arc::new(Semaphore::new(self.queue_depth)),
            depth: self.queue_depth,
            last_used: std::sync::Mutex::new(Instant::now()),
        });
        loaded.insert(id.clone(), slot.clone());
        self.publish(&loaded);
        self.events.push(match reload_reason {
            Some(reason) => {
                eprintln!("parallax: reloaded {id}: {reason}");
                MonitorEvent::Reload { id, reason }
            }
            None => MonitorEvent::Load { id },
        });
        Ok(slot)
    }

    async fn load(&self, target: Target) -> HostResult<Runner> {
        let loader = self.loader.clone();
        let parallel = self.parallel;
        let joined = tokio::task::spawn_blocking(move || match target.engine {
            // An imported model is loaded by its path; a catalog model by its id.
            Some(engine) => loader(engine, &target.entry.spec()).and_then(|mut m| {
                let slots =
                    parallel.unwrap_or_else(|| parallax_core::slots_for_memory(m.engine.info(), available_memory()));
                m.set_slots(slots)?;
                Ok(Runner::Chat(Box::new(EngineHandle::spawn(m))))
            }),
            None => parallax_embed::load(&target.entry.path(), &target.entry.id).map(|e| Runner::Embed(Arc::new(e))),
        })
        .await;
        let runner = joined.map_err(|e| parallax_core::Error::Engine(format!("load task: {e}")))??;
        Ok(runner)
    }

    /// Takes idle models out, least recently used first, until `need` more bytes fit; or
    /// refuses with 507, changing nothing, when they cannot.
    fn make_room(
        &self,
        loaded: &mut HashMap<String, Arc<Loaded>>,
        id: &str,
        need: u64,
    ) -> HostResult<Vec<Arc<Loaded>>> {
        let in_use: u64 = loaded.values().map(|s| s.bytes).sum();
        let limit = self.budget.unwrap_or_else(|| available_memory() + in_use);
        let mut idle: Vec<&Arc<Loaded>> = loaded.values().filter(|s| s.queued() == 0).collect();
        idle.sort_by_key(|s| std::cmp::Reverse(s.idle_for()));
        let mut used = in_use;
        let mut victims = vec![];
        for slot in idle {
            if used + need <= limit {
                break;
            }
            used -= slot.bytes;
            victims.push(slot.id.clone());
        }
        if used + need > limit {
            let gb = |b: u64| b as f64 / 1e9;
            let what = match self.budget {
                Some(b) => format!("the memory budget is {:.2} GB", gb(b)),
                None => format!("{:.2} GB is available", gb(limit)),
            };
            let busy = if used > 0 {
                format!(" ({:.2} GB held by models serving requests)", gb(used))
            } else {
                String::new()
            };
            return Err(HostError::InsufficientMemory {
                id: id.to_owned(),
                need,
                limit: what,
                busy,
            });
        }
        let evicted: Vec<Arc<Loaded>> = victims.iter().filter_map(|v| loaded.remove(v)).collect();
        self.publish(loaded);
        for s in &evicted {
            eprintln!("parallax: unloaded {} to make room for {id}", s.id);
        }
        Ok(evicted)
    }

    /// Drops slots already taken out of the map, counting them. Joining an engine's worker
    /// thread blocks, so not on the async runtime.
    async fn unload(&self, slots: Vec<Arc<Loaded>>) {
        if slots.is_empty() {
            return;
        }
        self.unloads
            .fetch_add(slots.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for s in &slots {
            self.events.push(MonitorEvent::Unload { id: s.id.clone() });
        }
        self.drop_slots(slots).await;
    }

    /// Joining an engine's worker thread blocks, so it happens off the async runtime.
    async fn drop_slots(&self, slots: Vec<Arc<Loaded>>) {
        let _ = tokio::task::spawn_blocking(move || drop(slots)).await;
    }

    /// Unloads every model idle for longer than the TTL (none without a TTL). Returns their ids.
    pub async fn unload_idle(&self) -> Vec<String> {
        let Some(ttl) = self.ttl else { return vec![] };
        let mut loaded = self.loaded.lock().await;
        let expired: Vec<String> = loaded
            .values()
            .filter(|s| s.queued() == 0 && s.idle_for() >= ttl)
            .map(|s| s.id.clone())
            .collect();
        let slots: Vec<Arc<Loaded>> = expired.iter().filter_map(|id| loaded.remove(id)).collect();
        self.publish(&loaded);
        drop(loaded);
        self.unload(slots).await;
        expired
    }

    /// The loaded models now.
    pub async fn loaded(&self) -> Vec<LoadedSummary> {
        let mut v: Vec<LoadedSummary> = self
            .loaded
            .lock()
            .await
            .values()
            .map(|s| LoadedSummary {
                id: s.id.clone(),
                queued: s.queued(),
                bytes: s.bytes,
                idle_secs: s.idle_for().as_secs_f64(),
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

/// The system's available memory now, in bytes.
/// (0 if it cannot be read, which refuses every load with a clear 507 rather than guessing).
fn available_memory() -> u64 {
    match sysinfo::System::new() {
        Ok(mut sys) => {
            sys.refresh_memory();
            sys.available_memory()
        }
        Err(e) => {
            eprintln!("parallax: cannot read system memory: {e}");
            0
        }
    }
}
