//! Remote engines as the host sees them: chat models that run on another server, asked for as
//! `<model>@<remote>`. The host holds no HTTP: the remote crate implements [`Remotes`] and the
//! front ends (CLI, app) hand it to [`crate::ModelManager::with_remotes`].

use parallax_core::{GenerateRequest, GenerationStream};

use crate::error::HostResult;

/// The registered remote servers, by name.
pub trait Remotes: Send + Sync {
    /// Whether `name` is a registered remote (its models are `<model>@<name>`).
    fn is_remote(&self, name: &str) -> bool;

    /// Starts a generation of `model` on remote `name`, timed on our side of the wire. Blocks
    /// until the server accepted the request (or refused it: a typed error); the stream's
    /// events then carry the reply's text as it arrives. Dropping the stream cancels it.
    fn generate(&self, name: &str, model: &str, req: GenerateRequest) -> HostResult<GenerationStream>;

    /// Every reachable remote's models as `<model>@<remote>`, for model listings. Asks the
    /// servers (blocking, bounded by a few seconds): call it off the async threads.
    fn models(&self) -> Vec<String>;
}
