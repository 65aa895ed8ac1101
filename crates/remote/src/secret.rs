//! API keys: held in memory only as [`ApiKey`], whose `Debug` and `Display` show a masked form,
//! and stored in the OS keyring (on Linux the desktop Secret Service, GNOME Keyring or KWallet,
//! behind the kernel key store; the platform store on macOS and Windows)
//! or named by an environment variable. Never written to a file, never logged.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{RemoteError, Result};

const SERVICE: &str = "parallax-remote";

/// Where a remote's key is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The OS keyring, under the remote's name.
    Keyring,
    /// This environment variable, read at each use.
    Env(String),
}

#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// For the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first three and last two characters, e.g. `sk-…9f`; shorter keys show nothing.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        match chars.len() {
            n if n >= 12 => format!(
                "{}…{}",
                chars[..3].iter().collect::<String>(),
                chars[n - 2..].iter().collect::<String>()
            ),
            _ => "…".into(),
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl KeySource {
    /// The key, where it is kept.
    pub fn read(&self, remote: &str) -> Result<ApiKey> {
        match self {
            KeySource::Env(var) => std::env::var(var).map(ApiKey).map_err(|_| {
                RemoteError::Config(format!(
                    "remote `{remote}`: its key is read from ${var}, which is not set"
                ))
            }),
            KeySource::Keyring => entry(remote)?
                .get_password()
                .map(ApiKey)
                .map_err(|e| RemoteError::Keyring(format!("remote `{remote}`: {e}"))),
        }
    }
}

fn entry(remote: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, remote).map_err(|e| RemoteError::Keyring(e.to_string()))
}

/// Stores `key` in the OS keyring under `remote`.
pub(crate) fn store(remote: &str, key: &ApiKey) -> Result<()> {
    entry(remote)?.set_password(key.expose()).map_err(|e| {
        RemoteError::Keyring(format!(
            "no OS keyring to keep the key in ({e}); name an environment variable instead (--key-env)"
        ))
    })
}

/// Forgets `remote`'s key; no key is not an error.
pub(crate) fn forget(remote: &str) -> Result<()> {
    match entry(remote)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(RemoteError::Keyring(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_never_prints_in_full() {
        let k = ApiKey::new("sk-abcdefghijklmnop9f");
        assert_eq!(k.masked(), "sk-…9f");
        assert_eq!(format!("{k}"), "sk-…9f");
        assert!(!format!("{k:?}").contains("abcdef"));
        assert_eq!(ApiKey::new("short").masked(), "…");
    }
}
