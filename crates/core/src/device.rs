//! Where an engine computes, as the user asks for it: `PARALLAX_DEVICE=cpu|cuda[:N]|metal|auto`
//! (the CLI's `--device` sets it, so the processes it starts, such as benchmark workers, inherit
//! it). Every engine reads it when it loads a model, honours what it can and refuses the rest with
//! [`Error::DeviceUnavailable`], never falling back silently from an explicit request.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    /// The engine's best device in this build: a GPU when one answers, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// An NVIDIA GPU by ordinal.
    Cuda(usize),
    /// The Apple GPU.
    Metal,
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceRequest::Auto => f.write_str("auto"),
            DeviceRequest::Cpu => f.write_str("cpu"),
            DeviceRequest::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceRequest::Metal => f.write_str("metal"),
        }
    }
}

impl FromStr for DeviceRequest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "device",
                format!("`{s}` is not a device (cpu, cuda, cuda:N, metal or auto)"),
            )
        };
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => DeviceRequest::Auto,
            "cpu" => DeviceRequest::Cpu,
            "cuda" | "gpu" => DeviceRequest::Cuda(0),
            "metal" => DeviceRequest::Metal,
            other => match other.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(n)) => DeviceRequest::Cuda(n),
                _ => return Err(bad()),
            },
        })
    }
}

impl DeviceRequest {
    /// The error for a request this engine or build cannot honour.
    pub fn unavailable(self, reason: impl Into<String>) -> Error {
        Error::DeviceUnavailable {
            device: self.to_string(),
            reason: reason.into(),
        }
    }
}

/// The variable that carries the choice.
pub const ENV: &str = "PARALLAX_DEVICE";

/// The device engines should load onto: `PARALLAX_DEVICE`, else auto. A malformed value is an
/// error, not auto.
pub fn requested() -> Result<DeviceRequest> {
    match std::env::var(ENV) {
        Ok(v) => v.parse(),
        Err(_) => Ok(DeviceRequest::Auto),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_refuses_the_rest() {
        for (s, want) in [
            ("auto", DeviceRequest::Auto),
            ("CPU", DeviceRequest::Cpu),
            ("cuda", DeviceRequest::Cuda(0)),
            ("cuda:3", DeviceRequest::Cuda(3)),
            ("metal", DeviceRequest::Metal),
        ] {
            assert_eq!(s.parse::<DeviceRequest>().unwrap(), want, "{s}");
        }
        for bad in ["cuda:", "cuda:x", "tpu", "cuda:-1"] {
            let e = bad.parse::<DeviceRequest>().unwrap_err();
            assert_eq!(e.code(), "invalid_parameter", "{bad}");
        }
        assert_eq!(DeviceRequest::Cuda(2).to_string(), "cuda:2");
        assert_eq!(DeviceRequest::Metal.unavailable("no").code(), "device_unavailable");
    }
}
