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

/// Intersection over union of two 0/1 masks of the same size; two empty masks agree (1.0).
pub fn iou(a: &[u8], b: &[u8]) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        inter += u64::from(x & y);
        union += u64::from(x | y);
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Runs a prepared `maskoracle-probe` command; returns its per-file lines and its closing line
/// (profile, peak RSS). Panics with the probe's stderr when it fails.
pub fn run_probe(cmd: &mut std::process::Command) -> (Vec<serde_json::Value>, serde_json::Value) {
    let out = cmd.output().expect("probe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let end = lines.pop().expect("a closing line");
    (lines, end)
}
