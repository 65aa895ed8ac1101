//! The benchmark suite: `parallax bench` runs each engine in its own fresh worker process
//! (`parallax bench-worker`), gathers what the workers report line by line, and writes
//! `results.json`, `results.csv` and `report.md`. See the report's "Definitions" section for
//! what each figure means.

pub mod concurrency;
pub mod endpoint;
pub mod fingerprint;
pub mod memory;
pub mod parent;
pub mod per_token;
pub mod plots;
pub mod prompts;
pub mod record;
pub mod report;
pub mod results;
pub mod session;
pub mod speed;
pub mod stats;
pub mod worker;

pub use fingerprint::Fingerprint;
pub use record::{Settings, Suite, WorkerEvent};
pub use results::{EngineRaw, EngineSummary, ModelFingerprint, Results, SCHEMA};
