//! The process's own memory: resident set now (sysinfo) and its high-water mark (VmHWM on
//! Linux, which catches peaks between samples). One reader, the monitor crate's. And the page
//! cache a cold load starts from.

pub use parallax_monitor::{process_memory, ProcessMemory};

/// Drops a model's files (a GGUF and the other parts of a split one, or every file of a model
/// directory) from the page cache, so the next load reads them from disk. Pages another process
/// maps stay; on platforms without `posix_fadvise` this is an error, not a silent warm load.
pub fn drop_from_page_cache(path: &std::path::Path) -> Result<usize, String> {
    let files: Vec<std::path::PathBuf> = match path.is_dir() {
        true => std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        false => match parallax_core::GgufHeader::read(path) {
            Ok(h) => h.parts.iter().map(|p| p.path.clone()).collect(),
            Err(_) => vec![path.to_path_buf()],
        },
    };
    for f in &files {
        evict(f)?;
    }
    Ok(files.len())
}

#[cfg(target_os = "linux")]
fn evict(path: &std::path::Path) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: a valid open descriptor; offset 0 and length 0 mean the whole file. The advice
    // touches no memory of ours.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    match rc {
        0 => Ok(()),
        e => Err(format!("{}: posix_fadvise failed ({e})", path.display())),
    }
}

#[cfg(not(target_os = "linux"))]
fn evict(path: &std::path::Path) -> Result<(), String> {
    Err(format!(
        "{}: dropping a file from the page cache is only supported on Linux",
        path.display()
    ))
}
