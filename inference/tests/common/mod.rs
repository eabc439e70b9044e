//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The interim random-weight instance model (tests/fixtures/make_fixture_models.py).
pub fn tiny_instance() -> PathBuf {
    crate_dir().join("tests/fixtures/tiny-maskrcnn")
}

/// The interim random-weight semantic model.
pub fn tiny_semantic() -> PathBuf {
    crate_dir().join("tests/fixtures/tiny-semantic")
}

/// The shipped instance model. `MASKORACLE_SHAPES_MODEL` overrides the path (to test against a
/// model that is not in this checkout yet); a missing model makes the test fail.
pub fn shipped_instance() -> PathBuf {
    std::env::var_os("MASKORACLE_SHAPES_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("models/shapes-maskrcnn"))
}

/// The shipped semantic model (MediaPipe's selfie segmentation, converted by
/// `inference/models/convert_tflite.py`). `MASKORACLE_SELFIE_MODEL` overrides the path.
pub fn shipped_semantic() -> PathBuf {
    std::env::var_os("MASKORACLE_SELFIE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("models/selfie-segmentation"))
}

/// Directory of the held-out generated scenes (PNG + ground-truth JSON, seed 9001).
pub fn scenes_dir() -> PathBuf {
    std::env::var_os("MASKORACLE_SCENES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("tests/data/scenes"))
}

/// Files in `dir` with one of the extensions, sorted.
pub fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    v.sort();
    v
}
