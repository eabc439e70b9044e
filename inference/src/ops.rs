//! torchvision's `nms` and `roi_align` CPU operators, compiled into this crate by `build.rs`
//! from upstream's C++ sources (BSD-3-Clause), and the execution-profile queries written in C++.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::marker::PhantomData;

extern "C" {
    fn maskoracle_inference_mode_enter() -> *mut c_void;
    fn maskoracle_inference_mode_exit(guard: *mut c_void);
    fn maskoracle_torchvision_ops_anchor() -> c_int;
    fn maskoracle_cpu_capability(buf: *mut c_char, len: usize) -> usize;
    fn maskoracle_torch_version() -> c_int;
    fn maskoracle_set_onednn_enabled(enabled: c_int);
    fn maskoracle_onednn_enabled() -> c_int;
}

/// Lets ATen use oneDNN for convolutions (the default) or not (the pinned numerics profile).
pub fn set_onednn_enabled(enabled: bool) {
    // SAFETY: sets a flag of ATen's global context; takes a plain integer, never throws.
    unsafe { maskoracle_set_onednn_enabled(c_int::from(enabled)) }
}

/// Whether ATen may use oneDNN.
pub fn onednn_enabled() -> bool {
    // SAFETY: reads a flag of ATen's global context; never throws.
    unsafe { maskoracle_onednn_enabled() == 1 }
}

/// Makes sure the operator registrations are linked into the process and returns how many
/// schemas were declared (4: `nms`, `roi_align`, `_roi_align_backward`, `box_iou_rotated`). The registrations
/// themselves run as static initializers when the library is loaded.
pub fn ensure_registered() -> i32 {
    // SAFETY: a C function without arguments or side effects, defined in csrc/torchvision_ops.cpp.
    unsafe { maskoracle_torchvision_ops_anchor() }
}

/// ATen's CPU capability for this process (`DEFAULT`, `AVX2`, `AVX512`, ...), chosen at start-up
/// from the CPU and `ATEN_CPU_CAPABILITY`.
pub fn cpu_capability() -> String {
    let mut buf = [0 as c_char; 64];
    // SAFETY: the callee writes at most `buf.len()` bytes including a terminating NUL.
    unsafe { maskoracle_cpu_capability(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: the buffer is NUL-terminated by the callee (or all zero).
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    s.to_string_lossy().into_owned()
}

/// The libtorch version this crate was compiled against, e.g. `2.13.0`.
pub fn torch_version() -> String {
    // SAFETY: returns a constant.
    let v = unsafe { maskoracle_torch_version() };
    format!("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100)
}

/// Runs `f` in libtorch's inference mode (`c10::InferenceMode`) on the calling thread: like
/// `tch::no_grad`, plus no version counters or view tracking on the tensors created inside.
/// Tensors created inside must not be modified in place outside (libtorch refuses it).
pub fn inference_mode<T>(f: impl FnOnce() -> T) -> T {
    let _guard = InferenceModeGuard::enter();
    f()
}

/// Leaves inference mode when dropped, on the thread that entered it (hence not `Send`).
struct InferenceModeGuard {
    raw: *mut c_void,
    _not_send: PhantomData<*mut c_void>,
}

impl InferenceModeGuard {
    fn enter() -> Self {
        // SAFETY: creates a thread-local RAII guard on the heap; released by `Drop` below on
        // the same thread (the type is neither Send nor Sync) in reverse order of creation.
        let raw = unsafe { maskoracle_inference_mode_enter() };
        Self {
            raw,
            _not_send: PhantomData,
        }
    }
}

impl Drop for InferenceModeGuard {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            // SAFETY: `raw` came from `maskoracle_inference_mode_enter` on this thread and is
            // released once.
            unsafe { maskoracle_inference_mode_exit(self.raw) };
        }
    }
}
