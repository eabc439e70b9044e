//! Model directories: `model.pt` (TorchScript) + `manifest.json`, checked by sha256.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tch::{CModule, IValue, Kind, Tensor};
use thiserror::Error;

/// What kind of outputs a model produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// torchvision-style scripted Mask R-CNN: `forward([img CHW]) -> (losses, [{boxes, labels,
    /// scores, masks}])`.
    Instance,
    /// Per-pixel class logits: `forward(NCHW) -> [N, C, H, W]` (or a dict with key `out`).
    Semantic,
}

/// Input sizes the model was trained for (instance models resize internally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Longest side after the model's own resize.
    pub max_size: u32,
    /// Shortest side after the model's own resize.
    pub min_size: u32,
}

/// Score and mask thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Detections whose quantized score is below this are dropped.
    pub score: f64,
    /// Mask probabilities strictly above this are set.
    pub mask: f64,
}

/// `manifest.json` of a model directory (format 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format, 1.
    pub format: u32,
    /// Model name.
    pub name: String,
    /// Output kind.
    pub kind: ModelKind,
    /// Class names; index 0 is background.
    pub labels: Vec<String>,
    /// Input sizes.
    pub input: InputSpec,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Lower-case hex sha256 of `model.pt`.
    pub sha256: String,
    /// Licence of the weights.
    pub licence: String,
    /// Where the weights come from.
    pub provenance: String,
}

/// Errors while loading or running a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `manifest.json` is not valid.
    #[error("invalid manifest {path}: {reason}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `model.pt` does not hash to the manifest's sha256.
    #[error("model.pt sha256 is {actual}, manifest says {expected}")]
    Sha256Mismatch {
        /// From the manifest.
        expected: String,
        /// Of the file.
        actual: String,
    },
    /// libtorch failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// The model returned something of an unexpected shape or type.
    #[error("unexpected model output: {0}")]
    Output(String),
}

/// A loaded, verified model.
#[derive(Debug)]
pub struct Model {
    manifest: Manifest,
    sha256: [u8; 32],
    module: CModule,
    dir: PathBuf,
}

/// Raw outputs of an instance model for one image, as the model returns them.
#[derive(Debug)]
pub struct InstanceOutput {
    /// `[N, 4]` float boxes `x0, y0, x1, y1` in input pixels.
    pub boxes: Tensor,
    /// `[N]` int64 class indices.
    pub labels: Tensor,
    /// `[N]` float scores.
    pub scores: Tensor,
    /// `[N, 1, H, W]` float mask probabilities.
    pub masks: Tensor,
}

/// Raw outputs of a model for one image.
#[derive(Debug)]
pub enum RawOutput {
    /// Instance detections.
    Instance(InstanceOutput),
    /// `[C, H, W]` logits.
    Semantic(Tensor),
}

impl Model {
    /// Loads a model from a directory holding `model.pt` and `manifest.json`, or from the path
    /// of a `.pt` file with `manifest.json` beside it. Refuses a file whose sha256 does not match.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        crate::ops::ensure_registered();
        let path = path.as_ref();
        let (dir, pt) = if path.is_dir() {
            (path.to_path_buf(), path.join("model.pt"))
        } else {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (dir, path.to_path_buf())
        };
        let manifest_path = dir.join("manifest.json");
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| ModelError::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let bad = |reason: String| ModelError::Manifest {
            path: manifest_path.clone(),
            reason,
        };
        let manifest: Manifest =
            serde_json::from_slice(&read(&manifest_path)?).map_err(|e| bad(e.to_string()))?;
        if manifest.format != 1 {
            return Err(bad(format!("unsupported format {}", manifest.format)));
        }
        if manifest.labels.is_empty() || manifest.labels.len() > usize::from(u16::MAX) {
            return Err(bad("labels must hold 1..=65535 names".into()));
        }
        for (name, v) in [
            ("score", manifest.thresholds.score),
            ("mask", manifest.thresholds.mask),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(format!("threshold {name} = {v} is outside [0, 1]")));
            }
        }
        let bytes = read(&pt)?;
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let actual = hex::encode(sha256);
        if !manifest.sha256.eq_ignore_ascii_case(&actual) {
            return Err(ModelError::Sha256Mismatch {
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        // Load from the bytes that were hashed, not from the path again.
        let mut module = CModule::load_data(&mut std::io::Cursor::new(bytes))?;
        module.set_eval();
        tracing::info!(
            target: "maskoracle::inference",
            model = %manifest.name,
            kind = ?manifest.kind,
            sha256 = %actual,
            "model loaded"
        );
        Ok(Model {
            manifest,
            sha256,
            module,
            dir,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// sha256 of `model.pt`.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Name of a label index (`#n` when out of range).
    pub fn label_name(&self, label: u16) -> String {
        self.manifest
            .labels
            .get(usize::from(label))
            .cloned()
            .unwrap_or_else(|| format!("#{label}"))
    }

    /// Runs the model on an RGB8 image given as `height x width x 3` bytes.
    ///
    /// The pixels become a float32 tensor in [0, 1] the way torchvision's `to_tensor` makes it
    /// (`permute`, `contiguous`, convert, divide by 255), so Python and Rust feed identical input.
    pub fn infer_rgb(&self, rgb: &[u8], width: u32, height: u32) -> Result<RawOutput, ModelError> {
        let (w, h) = (i64::from(width), i64::from(height));
        if rgb.len() as i64 != w * h * 3 {
            return Err(ModelError::Output(format!(
                "{} bytes for a {width}x{height} RGB image",
                rgb.len()
            )));
        }
        crate::ops::inference_mode(|| {
            let img = Tensor::f_from_slice(rgb)?
                .f_view([h, w, 3])?
                .f_permute([2, 0, 1])?
                .f_contiguous()?
                .f_to_kind(Kind::Float)?
                .f_div_scalar(255.0)?;
            self.run(img)
        })
    }

    /// Runs the model on a float32 `[3, H, W]` image in [0, 1] (what [`Model::infer_rgb`] makes
    /// from RGB8 bytes); for tests and tools that feed the model a tensor prepared elsewhere.
    pub fn infer_chw(&self, img: &Tensor) -> Result<RawOutput, ModelError> {
        let size = img.size();
        if size.len() != 3 || size[0] != 3 || img.kind() != Kind::Float {
            return Err(ModelError::Output(format!(
                "expected a float [3, H, W] image, got {:?} {:?}",
                img.kind(),
                size
            )));
        }
        crate::ops::inference_mode(|| self.run(img.f_contiguous()?))
    }

    fn run(&self, img: Tensor) -> Result<RawOutput, ModelError> {
        match self.manifest.kind {
            ModelKind::Instance => self.run_instance(img),
            ModelKind::Semantic => self.run_semantic(img),
        }
    }

    fn run_instance(&self, img: Tensor) -> Result<RawOutput, ModelError> {
        let out = self.module.forward_is(&[IValue::TensorList(vec![img])])?;
        // Scripted torchvision detection models return (losses, detections).
        let detections = match out {
            IValue::Tuple(mut items) if items.len() == 2 => items.remove(1),
            IValue::GenericList(_) => out,
            other => {
                return Err(ModelError::Output(format!(
                    "expected a tuple, got {}",
                    ivalue_kind(&other)
                )))
            }
        };
        let first = match detections {
            IValue::GenericList(mut l) if l.len() == 1 => l.remove(0),
            _ => {
                return Err(ModelError::Output(
                    "expected a list of one detection dict".into(),
                ))
            }
        };
        let IValue::GenericDict(entries) = first else {
            return Err(ModelError::Output("expected a detection dict".into()));
        };
        let get = |key: &str| -> Result<Tensor, ModelError> {
            entries
                .iter()
                .find_map(|(k, v)| match (k, v) {
                    (IValue::String(s), IValue::Tensor(t)) if s == key => Some(t.shallow_clone()),
                    _ => None,
                })
                .ok_or_else(|| ModelError::Output(format!("missing key {key}")))
        };
        let boxes = get("boxes")?;
        let labels = get("labels")?;
        let scores = get("scores")?;
        let masks = get("masks")?;
        let n = scores.size().first().copied().unwrap_or(-1);
        let ok = boxes.size() == [n, 4]
            && labels.size() == [n]
            && masks.dim() == 4
            && masks.size()[0] == n
            && masks.size()[1] == 1;
        if !ok {
            return Err(ModelError::Output(format!(
                "shapes boxes {:?} labels {:?} scores {:?} masks {:?}",
                boxes.size(),
                labels.size(),
                scores.size(),
                masks.size()
            )));
        }
        Ok(RawOutput::Instance(InstanceOutput {
            boxes,
            labels,
            scores,
            masks,
        }))
    }

    fn run_semantic(&self, img: Tensor) -> Result<RawOutput, ModelError> {
        let batch = img.f_unsqueeze(0)?;
        let out = self.module.forward_is(&[IValue::Tensor(batch)])?;
        let logits = match out {
            IValue::Tensor(t) => t,
            IValue::GenericDict(entries) => entries
                .into_iter()
                .find_map(|(k, v)| match (k, v) {
                    (IValue::String(s), IValue::Tensor(t)) if s == "out" => Some(t),
                    _ => None,
                })
                .ok_or_else(|| ModelError::Output("dict without key out".into()))?,
            other => {
                return Err(ModelError::Output(format!(
                    "expected logits, got {}",
                    ivalue_kind(&other)
                )))
            }
        };
        if logits.dim() != 4 || logits.size()[0] != 1 {
            return Err(ModelError::Output(format!(
                "logits shape {:?}",
                logits.size()
            )));
        }
        Ok(RawOutput::Semantic(logits.f_squeeze_dim(0)?))
    }
}

fn ivalue_kind(v: &IValue) -> &'static str {
    match v {
        IValue::None => "None",
        IValue::Tensor(_) => "Tensor",
        IValue::Double(_) => "float",
        IValue::Int(_) => "int",
        IValue::Bool(_) => "bool",
        IValue::Tuple(_) => "tuple",
        IValue::IntList(_) | IValue::DoubleList(_) | IValue::BoolList(_) => "list of numbers",
        IValue::String(_) => "str",
        IValue::StringList(_) => "list of str",
        IValue::TensorList(_) => "list of Tensor",
        IValue::GenericList(_) => "list",
        IValue::GenericDict(_) => "dict",
        IValue::Object(_) => "object",
        IValue::Device(_) => "device",
        _ => "other",
    }
}
