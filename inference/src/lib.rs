//! libtorch segmentation for MaskOracle: model loading, decoding under limits, pre- and
//! post-processing, the canonical result and its digests, and overlay pictures.
//!
//! Everything here is synchronous and CPU-bound: an async caller runs [`Segmenter::segment`]
//! on a blocking thread (`tokio::task::spawn_blocking`), never on the runtime's own threads.
//!
//! ```text
//! bytes --decode (limits, EXIF, RGB8)--> image --working size (<= 1024 px)--> model
//!       --postprocess (thresholds, masks, integer boxes)--> CanonicalResult
//!       --encode--> bytes --sha256--> resultSha256, CID  --summary--> abi bytes --> digest
//! ```

pub mod allocator;
pub mod canonical;
pub mod decode;
pub mod model;
pub mod numerics;
pub mod ops;
pub mod overlay;
pub mod postprocess;
pub mod sketch;
pub mod status;
pub mod summary;

use image::imageops::FilterType;
use image::RgbImage;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

pub use canonical::{CanonicalResult, Detection, Mask};
pub use decode::{DecodeError, DecodeLimits};
/// The `image` crate this crate decodes with (for callers that save overlays).
pub use image;
pub use model::{Manifest, Model, ModelError, ModelKind, RawOutput};
pub use status::Status;
pub use summary::{Attestation, Summary};

/// Calls of a TorchScript module before its graph is optimized: libtorch's profiling executor
/// profiles the first two and optimizes on the third.
pub const WARM_UP_RUNS: usize = 3;

/// Errors raised by the inference layer outside a segmentation (which turns errors into statuses).
#[derive(Debug, Error)]
pub enum InferenceError {
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A model could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The execution profile a worker logs and pins: replicated results agree bit for bit only
/// between workers with the same profile (see `docs/determinism.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionProfile {
    /// libtorch version compiled against, e.g. `2.13.0`.
    pub libtorch_version: String,
    /// sha256 of the model file, when a model is given.
    pub model_sha256: Option<String>,
    /// Intra-op thread count libtorch uses.
    pub intra_op_threads: i32,
    /// ATen's CPU code path (`DEFAULT`, `AVX2`, `AVX512`).
    pub cpu_capability: String,
    /// The numerical code path pinned for libtorch, oneDNN and MKL (`cpu-avx2` for workers;
    /// see [`numerics`]).
    pub numerics: numerics::Numerics,
    /// Whether a CUDA device is visible (a GPU profile is a different profile).
    pub cuda: bool,
    /// Canonical format version produced.
    pub canonical_version: u8,
}

impl ExecutionProfile {
    /// Reads the current process's profile from libtorch.
    pub fn current() -> Self {
        Self {
            libtorch_version: ops::torch_version(),
            model_sha256: None,
            intra_op_threads: tch::get_num_threads(),
            cpu_capability: ops::cpu_capability(),
            numerics: numerics::in_effect(),
            cuda: tch::Cuda::is_available(),
            canonical_version: canonical::FORMAT_VERSION,
        }
    }

    /// The profile with the model's sha256.
    pub fn with_model(model: &Model) -> Self {
        Self {
            model_sha256: Some(hex::encode(model.sha256())),
            ..Self::current()
        }
    }
}

/// How [`Segmenter::segment_perturbed`] perturbs the raw outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    /// Relative to each value: `v * (1 + rel * u)` (a value's sign never changes).
    PerValue,
    /// Relative to the output's scale: `v + rel * max|t| * u`, as rounding in sums of products
    /// is (a value near 0 made of large terms is as uncertain as the terms): it can move a logit
    /// across 0 or a probability across 0.5.
    OfScale,
}

/// Noise on raw model outputs (see [`Segmenter::segment_perturbed`]).
#[derive(Debug, Clone, Copy)]
struct Perturbation {
    noise: Noise,
    rel: f64,
    seed: i64,
}

impl Perturbation {
    fn noisy(&self, t: &tch::Tensor) -> Result<tch::Tensor, ModelError> {
        if t.numel() == 0 {
            return Ok(t.shallow_clone());
        }
        let u = t.f_rand_like()?.f_mul_scalar(2.0)?.f_sub_scalar(1.0)?;
        Ok(match self.noise {
            Noise::PerValue => t.f_mul(&u.f_mul_scalar(self.rel)?.f_add_scalar(1.0)?)?,
            Noise::OfScale => {
                let scale = t.f_abs()?.f_max()?.double_value(&[]);
                t.f_add(&u.f_mul_scalar(self.rel * scale)?)?
            }
        })
    }

    fn apply(&self, raw: RawOutput) -> Result<RawOutput, ModelError> {
        tch::manual_seed(self.seed);
        Ok(match raw {
            RawOutput::Instance(o) => RawOutput::Instance(model::InstanceOutput {
                scores: self.noisy(&o.scores)?,
                masks: self.noisy(&o.masks)?,
                ..o
            }),
            RawOutput::Semantic(l) => RawOutput::Semantic(self.noisy(&l)?),
        })
    }
}

/// Sets libtorch's intra-op thread count (part of the profile). Call before segmenting.
pub fn set_intra_op_threads(n: i32) {
    tch::set_num_threads(n.max(1));
}

/// Sum of squares of `0..n` computed by libtorch, used by the smoke test and `maskoracle doctor`.
pub fn torch_sum_of_squares(n: i64) -> Result<i64, InferenceError> {
    let t = tch::Tensor::f_arange(n, (tch::Kind::Int64, tch::Device::Cpu))?;
    let s = t.f_mul(&t)?.f_sum(tch::Kind::Int64)?;
    Ok(s.f_int64_value(&[])?)
}

/// The working image: the oriented image scaled down (Triangle filter) so that its longest
/// side is at most [`canonical::WORKING_MAX_SIDE`]; unchanged when already small enough.
pub fn working_image(rgb: &RgbImage) -> RgbImage {
    let (w, h) = rgb.dimensions();
    let (nw, nh) = working_size(w, h);
    if (nw, nh) == (w, h) {
        rgb.clone()
    } else {
        image::imageops::resize(rgb, nw, nh, FilterType::Triangle)
    }
}

/// Size of the working image for an oriented image of `w x h` (integer arithmetic).
pub fn working_size(w: u32, h: u32) -> (u32, u32) {
    let side = w.max(h);
    let max = canonical::WORKING_MAX_SIDE;
    if side <= max {
        return (w, h);
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(max) + u64::from(side) / 2) / u64::from(side)).max(1) as u32
    };
    (scale(w), scale(h))
}

/// The outcome of one segmentation.
#[derive(Debug, Clone)]
pub struct Segmentation {
    /// The canonical result (also for errors, which become statuses).
    pub result: CanonicalResult,
    /// The working image the masks live on (`None` when decoding failed).
    pub working: Option<RgbImage>,
    /// Human-readable cause of an error status.
    pub error: Option<String>,
    /// The kind of the model that produced it (it shapes the result's sketch).
    pub kind: ModelKind,
}

impl Segmentation {
    /// Summary, digests, sketch and CID of the result.
    pub fn attestation(&self) -> Attestation {
        Attestation::of(&self.result, self.kind)
    }
}

/// A model plus decoding limits: turns input bytes into canonical results.
#[derive(Debug)]
pub struct Segmenter {
    model: Model,
    limits: DecodeLimits,
}

impl Segmenter {
    /// Wraps a loaded model with the version-1 limits.
    pub fn new(model: Model) -> Self {
        Self::with_limits(model, DecodeLimits::V1)
    }

    /// Wraps a loaded model with custom limits (a different execution profile).
    pub fn with_limits(model: Model, limits: DecodeLimits) -> Self {
        Segmenter { model, limits }
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Runs the model [`WARM_UP_RUNS`] times on a synthetic 320x240 image and returns how long
    /// that took. libtorch profiles the first two calls of a TorchScript module and optimizes
    /// the graph on the third (on the shipped model: ~0.4 s for each profiling call against
    /// ~20 ms after); a worker warms a model when it loads it, so the first task does not pay
    /// for that. Results of later calls are unchanged (`tests/model_loading.rs`).
    pub fn warm_up(&self) -> Result<std::time::Duration, ModelError> {
        let (w, h) = (320u32, 240u32);
        // Deterministic noise: multiplicative hashing of the byte index.
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let started = std::time::Instant::now();
        for _ in 0..WARM_UP_RUNS {
            self.model.infer_rgb(&rgb, w, h)?;
        }
        Ok(started.elapsed())
    }

    /// The result for an input that could not be fetched.
    pub fn fetch_failed(&self) -> CanonicalResult {
        CanonicalResult::error(Status::FetchFailed, self.model.sha256(), [0; 32], (0, 0))
    }

    /// Segments one input. Blocking and CPU-bound. Never panics on hostile input: every failure
    /// becomes a result with an error status.
    pub fn segment(&self, bytes: &[u8]) -> Segmentation {
        self.segment_with(bytes, None)
    }

    /// [`Segmenter::segment`] with the model's raw outputs perturbed before post-processing, `u`
    /// uniform in [-1, 1) from `seed` per value: [`Noise::PerValue`] makes each value `v` of an
    /// output `v * (1 + rel * u)`, [`Noise::OfScale`] makes it `v + rel * max|t| * u` for the
    /// output tensor `t`. It emulates another numerical code path (another CPU, GPU or library
    /// build) for the agreement benchmark; never a consensus profile.
    pub fn segment_perturbed(
        &self,
        bytes: &[u8],
        noise: Noise,
        rel: f64,
        seed: i64,
    ) -> Segmentation {
        self.segment_with(bytes, Some(Perturbation { noise, rel, seed }))
    }

    fn segment_with(&self, bytes: &[u8], perturb: Option<Perturbation>) -> Segmentation {
        let model_sha = self.model.sha256();
        let kind = self.model.manifest().kind;
        let input_sha: [u8; 32] = Sha256::digest(bytes).into();
        let decoded = match decode::decode(bytes, &self.limits) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(target: "maskoracle::inference", error = %e, "input rejected");
                return Segmentation {
                    result: CanonicalResult::error(e.status(), model_sha, input_sha, (0, 0)),
                    working: None,
                    error: Some(e.to_string()),
                    kind,
                };
            }
        };
        let (w, h) = decoded.rgb.dimensions();
        // Limits keep both sides within u16.
        let image = (w as u16, h as u16);
        let working = working_image(&decoded.rgb);
        drop(decoded);
        let grid = (working.width() as u16, working.height() as u16);
        match self.run(&working, image, grid, perturb) {
            Ok(dets) => Segmentation {
                result: CanonicalResult::ok(model_sha, input_sha, image, grid, dets),
                working: Some(working),
                error: None,
                kind,
            },
            Err(e) => {
                tracing::warn!(target: "maskoracle::inference", error = %e, "inference failed");
                Segmentation {
                    result: CanonicalResult::error(Status::ModelError, model_sha, input_sha, image),
                    working: Some(working),
                    error: Some(e.to_string()),
                    kind,
                }
            }
        }
    }

    fn run(
        &self,
        working: &RgbImage,
        image: (u16, u16),
        grid: (u16, u16),
        perturb: Option<Perturbation>,
    ) -> Result<Vec<Detection>, ModelError> {
        ops::inference_mode(|| {
            let mut raw =
                self.model
                    .infer_rgb(working.as_raw(), working.width(), working.height())?;
            if let Some(p) = perturb {
                raw = p.apply(raw)?;
            }
            let t = &self.model.manifest().thresholds;
            match &raw {
                RawOutput::Instance(o) => postprocess::instance_detections(o, t, image, grid),
                RawOutput::Semantic(l) => postprocess::semantic_detections(l, t, image, grid),
            }
        })
    }

    /// The overlay picture of a segmentation (the working image when there is nothing to draw).
    pub fn overlay(&self, s: &Segmentation) -> Option<RgbImage> {
        let working = s.working.as_ref()?;
        Some(overlay::render(working, &s.result, |l| {
            self.model.label_name(l)
        }))
    }
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
    fn working_size_caps_the_longest_side() {
        assert_eq!(working_size(640, 480), (640, 480));
        assert_eq!(working_size(1024, 10), (1024, 10));
        assert_eq!(working_size(4000, 3000), (1024, 768));
        assert_eq!(working_size(3000, 4000), (768, 1024));
        assert_eq!(working_size(8192, 1), (1024, 1));
    }

    #[test]
    fn profile_reports_libtorch_and_capability() {
        let p = ExecutionProfile::current();
        assert_eq!(p.libtorch_version, "2.13.0");
        assert!(
            ["DEFAULT", "AVX2", "AVX512"].contains(&p.cpu_capability.as_str()),
            "{}",
            p.cpu_capability
        );
        assert_eq!(ops::ensure_registered(), 4);
    }
}
