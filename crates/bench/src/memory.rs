//! The process's own memory: resident set now (sysinfo) and its high-water mark (VmHWM on
//! Linux, which catches peaks between samples). One reader, the monitor crate's.

pub use parallax_monitor::{process_memory, ProcessMemory};
