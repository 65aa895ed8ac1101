//! Shared by the CLI's integration tests: run `parallax` with a hang guard, and assert the
//! clean one-line failure every bad input must end with.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output};
use std::time::Duration;

pub fn parallax(args: &[&str]) -> Output {
    parallax_within(args, Duration::from_secs(120))
}

/// `parallax ARGS`, killed (and the test failed) if it runs longer than `limit`. Output is
/// read while it runs, so a chatty child never blocks on a full pipe.
pub fn parallax_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn parallax");
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = vec![];
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    // A hang is a failure: give each case a generous bound, then kill it.
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("parallax {args:?} hung (over {limit:?})");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    }
}

/// Asserts a clean failure (exit 1, one `error:` line, no panic, no abort) and returns the error line.
pub fn fails_cleanly(args: &[&str]) -> String {
    let out = parallax(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: exit {:?}, stderr {stderr}",
        out.status.code()
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_string()
}

pub fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".gguf").tempfile().expect("temp");
    f.write_all(bytes).expect("write");
    f
}

/// A GGUF file built byte by byte.
pub struct Gguf(pub Vec<u8>);

impl Gguf {
    pub fn new(tensor_count: u64, kv_count: u64) -> Self {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(tensor_count.to_le_bytes());
        b.extend(kv_count.to_le_bytes());
        Gguf(b)
    }
    pub fn string(mut self, s: &str) -> Self {
        self.0.extend((s.len() as u64).to_le_bytes());
        self.0.extend(s.as_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    pub fn kv_str(self, key: &str, value: &str) -> Self {
        self.string(key).u32(8).string(value)
    }
}

/// A running `parallax serve`, killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    /// The first line it printed (`listening on http://HOST:PORT`).
    pub banner: String,
}

impl Server {
    /// Starts `parallax serve ARGS` and waits until it says where it listens.
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_parallax"))
            .arg("serve")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn parallax serve");
        let mut banner = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut banner)
            .expect("read");
        Server {
            child,
            banner: banner.trim().to_owned(),
        }
    }

    /// The port from the banner, for a loopback server.
    pub fn port(&self) -> u16 {
        self.banner
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {:?}", self.banner))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
