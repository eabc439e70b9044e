//! `cargo bench -p maskoracle-inference` (`make bench`): Rust vs Python eager time per image,
//! 640x480, 2 intra-op threads, median of 5 after a warm-up, for the shipped shapes Mask R-CNN
//! and a Mask R-CNN R50-FPN with random weights; ratios and peak RSS from the same run.
//!
//! Needs the Python venv (`scripts/setup --python`, `$MASKORACLE_VENV`). Rust time is the whole
//! `Segmenter::segment` (decode, inference, canonical post-processing) in a fresh
//! `maskoracle-probe` process; Python time is `model([img])` alone.

use std::path::{Path, PathBuf};
use std::process::Command;

const THREADS: &str = "2";
const REPEAT: &str = "5";

fn probe(model: &Path, image: &Path) -> serde_json::Value {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_maskoracle-probe"));
    let out = Command::new(exe)
        .arg("--model")
        .arg(model)
        .args(["--threads", THREADS, "--repeat", REPEAT])
        .arg(image)
        .output()
        .expect("maskoracle-probe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    serde_json::json!({"result": lines[0], "end": lines[1]})
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv =
        std::env::var("MASKORACLE_VENV").expect("MASKORACLE_VENV: run scripts/setup --python");
    let shapes = std::env::var_os("MASKORACLE_SHAPES_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/shapes-maskrcnn"));
    let work = root.join("../target/bench");
    std::fs::create_dir_all(&work).expect("target/bench");
    let image = work.join("astronaut-640x480.png");
    let photo = image::open(root.join("tests/data/photos/astronaut.png")).expect("photo");
    photo
        .resize_exact(640, 480, image::imageops::FilterType::Triangle)
        .to_rgb8()
        .save(&image)
        .expect("bench image");
    let r50 = work.join("maskrcnn-r50-random");

    let py = Command::new(format!("{venv}/bin/python"))
        .arg(root.join("benches/python_eager.py"))
        .arg("--shapes")
        .arg(&shapes)
        .arg("--r50-dir")
        .arg(&r50)
        .arg("--image")
        .arg(&image)
        .args(["--threads", THREADS, "--repeat", REPEAT])
        .output()
        .expect("python runs");
    assert!(
        py.status.success(),
        "python: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let py: serde_json::Value = serde_json::from_slice(
        py.stdout
            .split(|&b| b == b'\n')
            .rfind(|l| !l.is_empty())
            .unwrap_or_default(),
    )
    .expect("python json");

    println!("maskoracle-inference bench: 640x480, {THREADS} threads, median of {REPEAT}");
    println!(
        "{:<28} {:>10} {:>10} {:>7} {:>12} {:>12}",
        "model", "python s", "rust s", "ratio", "rust RSS MB", "py RSS MB"
    );
    for (name, key, dir) in [
        ("shapes-maskrcnn", "shapes", shapes.clone()),
        ("maskrcnn-r50-fpn (random)", "r50", r50.clone()),
    ] {
        let r = probe(&dir, &image);
        let rust_s = r["result"]["median_s"].as_f64().expect("rust time");
        let py_s = py[key]["eager_s"].as_f64().expect("python time");
        let rss = r["end"]["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0;
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>6.2}x {:>12.0} {:>12.0}",
            name,
            py_s,
            rust_s,
            rust_s / py_s,
            rss,
            py["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
        );
        println!(
            "    rust: status {} detections {} digest {}",
            r["result"]["status"], r["result"]["detections"], r["result"]["digest"]
        );
    }
    println!(
        "python shapes eager == scripted outputs: {}",
        py["shapes"]["eager_equals_script"]
    );
    println!("(python RSS is one process running both models; rust RSS is per model)");
}
