//! The remotes the user registered, in `parallax.toml` (`[[remote]]` tables) in Parallax's
//! configuration folder. Keys live in the OS keyring or an environment variable the entry
//! names (see `secret.rs`); the file never holds one. Whatever else the file holds is kept as it
//! was when the registry writes it back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{RemoteError, Result};
use crate::secret::{self, ApiKey, KeySource};

/// How long a remote may take to start answering (connect, queue, prefill) by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSpec {
    pub name: String,
    /// The server's base URL, e.g. `http://10.0.0.5:8080` or `http://10.0.0.5:8080/v1`.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeySource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

impl RemoteSpec {
    pub fn timeout(&self) -> Duration {
        self.timeout_secs.map_or(DEFAULT_TIMEOUT, Duration::from_secs)
    }

    /// The OpenAI API root: the URL as given when it ends in `/v1`, else with `/v1` added.
    pub fn api_base(&self) -> String {
        let url = self.url.trim_end_matches('/');
        match url.ends_with("/v1") {
            true => url.to_owned(),
            false => format!("{url}/v1"),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default, rename = "remote")]
    remotes: Vec<RemoteSpec>,
}

pub struct Registry {
    path: PathBuf,
    remotes: Vec<RemoteSpec>,
}

/// `$PARALLAX_CONFIG_DIR`, else `$XDG_CONFIG_HOME/parallax`, else `~/.config/parallax`.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PARALLAX_CONFIG_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME") {
        return PathBuf::from(d).join("parallax");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".config/parallax")
}

impl Registry {
    /// The registry of `parallax.toml` in [`config_dir`]; no file is an empty registry.
    pub fn open() -> Result<Self> {
        Self::at(config_dir().join("parallax.toml"))
    }

    pub fn at(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let remotes = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str::<File>(&text)
                    .map_err(|e| RemoteError::Config(format!("{}: {e}", path.display())))?
                    .remotes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(RemoteError::Config(format!("{}: {e}", path.display()))),
        };
        Ok(Registry { path, remotes })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn list(&self) -> &[RemoteSpec] {
        &self.remotes
    }

    pub fn get(&self, name: &str) -> Result<&RemoteSpec> {
        self.remotes
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| RemoteError::Unknown(name.to_owned()))
    }

    /// Registers `spec`, its key (if any) stored where `spec.key` says: given with
    /// [`KeySource::Keyring`], it goes to the keyring. `reserved` are names a remote may not
    /// take (the engines'), since `model@name` must mean one thing.
    pub fn add(&mut self, spec: RemoteSpec, key: Option<&ApiKey>, reserved: &[&str]) -> Result<()> {
        validate(&spec, reserved)?;
        if self.remotes.iter().any(|r| r.name == spec.name) {
            return Err(RemoteError::Config(format!(
                "a remote named `{}` exists; remove it first",
                spec.name
            )));
        }
        match (&spec.key, key) {
            (Some(KeySource::Keyring), Some(k)) => secret::store(&spec.name, k)?,
            (Some(KeySource::Keyring), None) => {
                return Err(RemoteError::Config("a keyring entry needs a key to store".into()))
            }
            _ => {}
        }
        self.remotes.push(spec);
        self.save()
    }

    /// Unregisters `name` and forgets its keyring entry.
    pub fn remove(&mut self, name: &str) -> Result<RemoteSpec> {
        let at = self
            .remotes
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| RemoteError::Unknown(name.to_owned()))?;
        let spec = self.remotes.remove(at);
        self.save()?;
        if spec.key == Some(KeySource::Keyring) {
            secret::forget(name)?;
        }
        Ok(spec)
    }

    /// Writes the `[[remote]]` tables back, keeping every other table and key of the file.
    fn save(&self) -> Result<()> {
        let io = |e: std::io::Error| RemoteError::Config(format!("{}: {e}", self.path.display()));
        let mut doc: toml::Table = match std::fs::read_to_string(&self.path) {
            Ok(text) => text
                .parse()
                .map_err(|e| RemoteError::Config(format!("{}: {e}", self.path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
            Err(e) => return Err(io(e)),
        };
        let remotes = toml::Value::try_from(&self.remotes).map_err(|e| RemoteError::Config(e.to_string()))?;
        doc.insert("remote".into(), remotes);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = toml::to_string_pretty(&doc).map_err(|e| RemoteError::Config(e.to_string()))?;
        // Written aside, then renamed: a crash never leaves half a file.
        let tmp = self.path.with_extension("toml.partial");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

fn validate(spec: &RemoteSpec, reserved: &[&str]) -> Result<()> {
    let bad = |why: String| Err(RemoteError::Config(why));
    let n = &spec.name;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return bad(format!("remote name `{n}`: use letters, digits, `-`, `_` and `.`"));
    }
    if reserved.contains(&n.as_str()) {
        return bad(format!("`{n}` is an engine's name; pick another for the remote"));
    }
    if !(spec.url.starts_with("http://") || spec.url.starts_with("https://")) {
        return bad(format!(
            "remote URL `{}`: it must start with http:// or https://",
            spec.url
        ));
    }
    if spec.timeout_secs == Some(0) {
        return bad("a timeout of 0 s would fail every request".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, url: &str) -> RemoteSpec {
        RemoteSpec {
            name: name.into(),
            url: url.into(),
            key: Some(KeySource::Env("RIG_KEY".into())),
            timeout_secs: Some(60),
        }
    }

    #[test]
    fn remotes_round_trip_and_the_rest_of_the_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parallax.toml");
        std::fs::write(&path, "# mine\n[ui]\ntheme = \"dark\"\n").unwrap();
        let mut r = Registry::at(&path).unwrap();
        r.add(spec("rig", "http://10.0.0.5:8080"), None, &["gguf", "mlx"])
            .unwrap();
        let again = Registry::at(&path).unwrap();
        assert_eq!(again.list(), &[spec("rig", "http://10.0.0.5:8080")]);
        assert_eq!(again.get("rig").unwrap().api_base(), "http://10.0.0.5:8080/v1");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("theme = \"dark\""), "{text}");
        let mut r = again;
        assert_eq!(r.remove("rig").unwrap().name, "rig");
        assert!(Registry::at(&path).unwrap().list().is_empty());
        assert_eq!(r.remove("rig").unwrap_err().code(), "remote_unknown");
    }

    #[test]
    fn bad_entries_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Registry::at(dir.path().join("p.toml")).unwrap();
        for (s, why) in [
            (spec("mlx", "http://x"), "engine's name"),
            (spec("a b", "http://x"), "letters, digits"),
            (spec("rig", "ftp://x"), "http://"),
        ] {
            let e = r.add(s, None, &["gguf", "mlx"]).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        r.add(spec("rig", "http://x/v1/"), None, &[]).unwrap();
        assert_eq!(r.get("rig").unwrap().api_base(), "http://x/v1");
        assert!(r
            .add(spec("rig", "http://y"), None, &[])
            .unwrap_err()
            .to_string()
            .contains("exists"));
    }
}
