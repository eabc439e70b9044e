//! Allocator settings for processes that run models.
//!
//! libtorch takes every tensor from the C library's `malloc`. With glibc's defaults, blocks of
//! more than 32 MiB (a Mask R-CNN's feature maps at 800 px are 50+ MiB) are always fresh `mmap`s,
//! returned to the kernel on `free`: every inference then page-faults and zeroes its working
//! memory again. On the R50-FPN benchmark that is ~700,000 page faults and about a quarter of
//! the run time (`docs/inference.md`, "Benchmark"). [`tune`] keeps large blocks in the heap
//! instead. Results do not change: only where the memory comes from.

/// The environment variable that turns the tuning off (`MASKORACLE_MALLOC_TUNING=0`).
pub const ENV: &str = "MASKORACLE_MALLOC_TUNING";

/// Bytes of free memory at the top of the heap kept before any is returned to the kernel.
pub const TRIM_THRESHOLD: i32 = 256 << 20;

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// glibc told to serve every block from the heap (`M_MMAP_MAX = 0`), keep up to
    /// [`TRIM_THRESHOLD`] free at the top (`M_TRIM_THRESHOLD`) and use one arena (`M_ARENA_MAX`).
    Applied,
    /// Turned off by `MASKORACLE_MALLOC_TUNING=0`.
    Disabled,
    /// Not a glibc target, or glibc refused a setting.
    Unavailable,
}

/// Tunes the C allocator for inference. Call first thing in `main`, before threads start
/// (the arena limit only binds threads that have not allocated yet).
pub fn tune() -> Tuning {
    if std::env::var(ENV).is_ok_and(|v| v == "0") {
        return Tuning::Disabled;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> Tuning {
    // SAFETY: mallopt only changes glibc's allocator parameters; it is called before other
    // threads allocate and takes plain integers.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
    };
    if ok {
        Tuning::Applied
    } else {
        Tuning::Unavailable
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> Tuning {
    Tuning::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_settings() {
        assert_eq!(apply(), Tuning::Applied);
    }
}
