//! The model host: every chat and embedding model the catalog (and the app's imports) offer,
//! each loaded just in time behind a bounded queue, its generations continuously batched by
//! the core's runtime, unloaded after an idle TTL or to make room under the memory budget, and
//! reloaded by policy. It has no HTTP in it: the server (`parallax-server`) parses a request,
//! calls [`ModelManager::generate`] and streams; the app's chat and side by side call the same.
//! Remote engines ([`Remotes`]) are injected: their HTTP lives in `parallax-remote`.

mod error;
mod manager;
mod model_ref;
pub mod probe;
mod remote;

pub use error::{HostError, HostResult};
pub use manager::{Chat, Lease, Loaded, LoadedSummary, Loader, ModelManager, Runner};
pub use model_ref::ModelRef;
pub use probe::HostProbe;
pub use remote::Remotes;
