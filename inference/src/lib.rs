//! libtorch segmentation for MaskOracle.
//!
//! This crate will hold model loading, pre/post-processing, the canonical result and its
//! digest, and overlay pictures. For now it exposes the execution profile a worker pins.

use thiserror::Error;

/// Errors raised by the inference layer.
#[derive(Debug, Error)]
pub enum InferenceError {
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// The parts of the execution profile that decide whether replicated results agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionProfile {
    /// Intra-op thread count libtorch uses.
    pub intra_op_threads: i32,
    /// Whether a CUDA device is visible (a GPU profile is a different profile).
    pub cuda: bool,
}

impl ExecutionProfile {
    /// Reads the current process's profile from libtorch.
    pub fn current() -> Self {
        Self {
            intra_op_threads: tch::get_num_threads(),
            cuda: tch::Cuda::is_available(),
        }
    }
}

/// Sum of squares of `0..n` computed by libtorch, used by the smoke test and `maskoracle doctor`.
pub fn torch_sum_of_squares(n: i64) -> Result<i64, InferenceError> {
    let t = tch::Tensor::f_arange(n, (tch::Kind::Int64, tch::Device::Cpu))?;
    let s = t.f_mul(&t)?.f_sum(tch::Kind::Int64)?;
    Ok(s.f_int64_value(&[])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_computes_sum_of_squares() {
        // 0^2 + 1^2 + ... + 9^2 = 285
        assert_eq!(torch_sum_of_squares(10).expect("libtorch runs"), 285);
    }

    #[test]
    fn libtorch_matmul_matches_hand_computation() {
        let a = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        let b = tch::Tensor::from_slice(&[5.0f32, 6.0, 7.0, 8.0]).view([2, 2]);
        let c: Vec<f32> = a.matmul(&b).flatten(0, 1).try_into().expect("f32 vector");
        assert_eq!(c, vec![19.0, 22.0, 43.0, 50.0]);
    }
}
