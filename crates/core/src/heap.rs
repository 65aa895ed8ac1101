//! Hands the heap's free pages back to the OS after a model load. Reading a model's vocabulary
//! builds large temporary maps (Gemma 3's 262k tokens and 515k recovered merges); freed, they
//! leave ~50 MB of free pages inside glibc's main arena that stay resident for the life of the
//! process. Peak RSS is the figure compared against llama.cpp's, so the load ends by returning
//! them.

/// Returns the heap's free pages to the OS where the allocator allows it (glibc's
/// `malloc_trim`); elsewhere a no-op.
pub fn return_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: `malloc_trim` takes no pointers and only releases memory no allocation
        // holds; glibc's allocator is thread-safe.
        #[allow(unsafe_code)]
        unsafe {
            malloc_trim(0);
        }
    }
}
