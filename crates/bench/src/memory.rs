//! The process's own memory: resident set now (sysinfo) and its high-water mark (VmHWM on
//! Linux, which catches peaks between samples; elsewhere the largest RSS we have sampled).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessMemory {
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
}

/// Reads this process's memory now.
pub fn process_memory() -> ProcessMemory {
    let rss = sysinfo::get_current_pid()
        .ok()
        .and_then(|pid| {
            let mut sys = sysinfo::System::new().ok()?;
            sys.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
            sys.process(pid).map(|p| p.memory())
        })
        .unwrap_or(0);
    ProcessMemory {
        rss_bytes: rss,
        peak_rss_bytes: high_water_mark().unwrap_or(rss).max(rss),
    }
}

fn high_water_mark() -> Option<u64> {
    parallax_monitor::high_water_mark(std::process::id())
}
