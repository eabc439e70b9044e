//! The pinned numerical code path of the execution profile.
//!
//! libtorch picks its kernels from the CPU it runs on: ATen's vectorized loops
//! (`ATEN_CPU_CAPABILITY`), oneDNN's convolutions (`ONEDNN_MAX_CPU_ISA`) and MKL's GEMMs (its own
//! dispatch, and blocking sizes that follow the caches). An AVX-512 machine and an AVX2-only
//! machine therefore sum in other orders and round differently. Replicated workers must produce
//! identical canonical bytes, so every worker runs the same code path: [`Numerics::CpuAvx2`], the
//! widest one every supported x86-64 CPU has (AVX2 + FMA, Intel Haswell and AMD Zen onwards).
//!
//! oneDNN is also turned off: its convolution kernels are chosen by thread count as well as by
//! CPU (measured on the selfie model: a 1x1 convolution gives other bits at 1 and 2 threads, 63 of
//! 63 photos differ in their logits), and oneDNN promises no reproducibility mode. Without it ATen
//! runs convolutions as im2col + GEMM, and GEMMs go to MKL in its conditional numerical
//! reproducibility mode `COMPATIBLE,STRICT`: one code path on every x86-64 CPU, Intel or AMD, and
//! the same bits at any thread count (measured: 0 of 63 photos differ between 1 and 2 threads).
//! MKL honours no other branch on AMD processors: asked for `AVX2` it reports `AUTO`, i.e. a
//! path chosen per CPU (seen with `MKL_VERBOSE=1`). The price is speed on large GEMMs (Mask R-CNN
//! R50-FPN 2.75x slower than oneDNN in one `make bench` run; the shipped models no slower;
//! docs/determinism.md).
//!
//! [`pin`] writes the variables before libtorch reads them; call it first thing in `main`, before
//! any thread starts and before the first tensor is made (libtorch, oneDNN and MKL read them once,
//! at their first use). `MASKORACLE_NUMERICS=native` leaves the environment alone: the
//! determinism test uses it to try every code path, and benchmarks to measure the cost of the pin.
//!
//! | variable | value | what it fixes |
//! |---|---|---|
//! | `ATEN_CPU_CAPABILITY` | `avx2` | ATen's element-wise and reduction kernels |
//! | `ONEDNN_MAX_CPU_ISA` | `AVX2` | oneDNN, should anything still reach it |
//! | `MKL_CBWR` | `COMPATIBLE,STRICT` | MKL's reproducible mode: one code path on every CPU, any thread count |
//! | `MKL_ENABLE_INSTRUCTIONS` | `AVX2` | MKL's widest instruction set (outside the reproducible branch) |
//! | (ATen context) | oneDNN off | convolutions as im2col + MKL GEMM (thread-count invariant) |

use serde::Serialize;
use thiserror::Error;

/// The environment variable that chooses the numerics (`cpu-avx2`, the default, or `native`).
pub const ENV: &str = "MASKORACLE_NUMERICS";

/// The variables [`Numerics::CpuAvx2`] sets, in the order they are written.
pub const CPU_AVX2_ENV: [(&str, &str); 4] = [
    ("ATEN_CPU_CAPABILITY", "avx2"),
    ("ONEDNN_MAX_CPU_ISA", "AVX2"),
    ("MKL_CBWR", "COMPATIBLE,STRICT"),
    ("MKL_ENABLE_INSTRUCTIONS", "AVX2"),
];

/// Which numerical code path a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Numerics {
    /// The pinned profile: ATen's AVX2 kernels, no oneDNN, MKL in its strict compatible mode.
    #[serde(rename = "cpu-avx2")]
    CpuAvx2,
    /// Whatever the CPU and the environment give (not a consensus profile).
    #[serde(rename = "native")]
    Native,
}

impl Numerics {
    /// The profile's name as logged and reported (`cpu-avx2`, `native`).
    pub fn name(self) -> &'static str {
        match self {
            Numerics::CpuAvx2 => "cpu-avx2",
            Numerics::Native => "native",
        }
    }
}

/// Why the pinned profile cannot run here.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NumericsError {
    /// `MASKORACLE_NUMERICS` has a value this build does not know.
    #[error("{ENV}={0} is not a known numerics profile (cpu-avx2 or native)")]
    Unknown(String),
    /// The CPU lacks an instruction set the pinned profile needs.
    #[error(
        "this CPU has no {0}: it cannot run the cpu-avx2 numerics profile that workers agree on"
    )]
    MissingIsa(&'static str),
}

/// Reads [`ENV`] (default `cpu-avx2`).
pub fn requested() -> Result<Numerics, NumericsError> {
    match std::env::var(ENV).ok().as_deref() {
        None | Some("") | Some("cpu-avx2") => Ok(Numerics::CpuAvx2),
        Some("native") => Ok(Numerics::Native),
        Some(other) => Err(NumericsError::Unknown(other.to_string())),
    }
}

/// Whether the CPU can run [`Numerics::CpuAvx2`].
pub fn cpu_supports_avx2() -> Result<(), NumericsError> {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return Err(NumericsError::MissingIsa("AVX2"));
        }
        if !std::arch::is_x86_feature_detected!("fma") {
            return Err(NumericsError::MissingIsa("FMA"));
        }
        Ok(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Err(NumericsError::MissingIsa("x86-64 AVX2"))
    }
}

/// Pins the numerics requested by [`ENV`] and returns them. For `cpu-avx2` every variable of
/// [`CPU_AVX2_ENV`] is overwritten (an operator's own `ATEN_CPU_CAPABILITY` would otherwise put
/// the worker on another code path than its peers).
///
/// Call before any thread starts: it writes the process environment.
pub fn pin() -> Result<Numerics, NumericsError> {
    let numerics = requested()?;
    if numerics == Numerics::CpuAvx2 {
        cpu_supports_avx2()?;
        for (key, value) in CPU_AVX2_ENV {
            std::env::set_var(key, value);
        }
        crate::ops::set_onednn_enabled(false);
    }
    Ok(numerics)
}

/// The numerics this process runs: `cpu-avx2` when every variable of [`CPU_AVX2_ENV`] has its
/// value, ATen dispatches to AVX2 and oneDNN is off; `native` otherwise.
pub fn in_effect() -> Numerics {
    let pinned = CPU_AVX2_ENV
        .iter()
        .all(|(k, v)| std::env::var(k).is_ok_and(|got| got == *v))
        && crate::ops::cpu_capability() == "AVX2"
        && !crate::ops::onednn_enabled();
    if pinned {
        Numerics::CpuAvx2
    } else {
        Numerics::Native
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_their_serde_form() {
        for n in [Numerics::CpuAvx2, Numerics::Native] {
            assert_eq!(
                serde_json::to_value(n).expect("serializes"),
                serde_json::Value::String(n.name().into())
            );
        }
    }
}
