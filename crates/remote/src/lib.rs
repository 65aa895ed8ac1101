//! Remote engines. Parallax does not build its own cluster: a model too large for one machine
//! runs on an engine that already spreads it (llama.cpp's RPC workers behind `llama-server`,
//! vLLM, exo) or on a bigger machine (LM Studio, Ollama, another Parallax), and Parallax uses
//! it through its OpenAI-compatible API, measured on our side of the wire.
//!
//! - [`registry`]: the remotes the user registered (`parallax.toml`), by name; keys in the OS
//!   keyring or named environment variables, never in a file.
//! - [`client`]: `/v1/models`, a latency probe and streamed chat completions, each failure typed
//!   ([`RemoteError`]) with a stable code.
//! - [`backend`]: the registry as the model host's `Remotes`, so `<model>@<remote>` works in
//!   the chat, side by side and the endpoint; [`request`] maps a generation request onto the
//!   OpenAI body, refusing what a remote cannot honour.

pub mod backend;
pub mod client;
mod error;
pub mod published;
pub mod registry;
pub mod request;
mod secret;

pub use backend::RegisteredRemotes;
pub use client::{ChatStream, Delta, Finished, Probe, RemoteClient};
pub use error::{RemoteError, Result};
pub use published::Published;
pub use registry::{Registry, RemoteSpec};
pub use secret::{ApiKey, KeySource};
