//! `cargo bench -p maskoracle-inference` (`make bench`): Rust vs Python eager time per image,
//! 640x480, 2 intra-op threads, for the shipped shapes Mask R-CNN and a Mask R-CNN R50-FPN with
//! random weights; ratios, peak RSS and an output comparison from the same run.
//!
//! Needs the Python venv (`scripts/setup --python`, `$MASKORACLE_VENV`). The machine's speed
//! drifts over minutes, so the two sides alternate: [`ROUNDS`] rounds, each a fresh Python
//! process and a fresh `maskoracle-probe` process per model (which side goes first alternates
//! too, with a pause before each process), each taking the median of
//! [`REPEAT_SHAPES`] or [`REPEAT_R50`] runs after warm-ups; the figures printed are medians
//! over rounds.
//!
//! - Python: `model([img])` in eager mode (the image already a tensor).
//! - Rust, model: `Model::infer_rgb` on the decoded image (RGB bytes to tensor, TorchScript
//!   forward), the same work; the ratio the target is judged on.
//! - Rust, whole: `Segmenter::segment` (sha256 of the input, decode, inference, canonical
//!   post-processing), which Python's figure does not include.
//! - Outputs: the raw masks thresholded at 0.5, as uint8 `[N, H, W]`, hashed on both sides;
//!   the benchmark fails if they differ.

use std::path::{Path, PathBuf};
use std::process::Command;

const THREADS: &str = "2";
/// Timed runs per process: the shapes model takes ~25 ms a run, the R50 ~3 s.
const REPEAT_SHAPES: &str = "31";
const REPEAT_R50: &str = "5";
const ROUNDS: usize = 5;
/// Pause before each process, so that the previous one's memory is given back first.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// `numerics`: `native` (the same oneDNN/MKL code paths as Python, for the output comparison)
/// or `cpu-avx2` (the pinned profile workers run).
fn probe(model: &Path, image: &Path, repeat: &str, numerics: &str) -> serde_json::Value {
    std::thread::sleep(SETTLE);
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_maskoracle-probe"));
    let out = Command::new(exe)
        .env("MASKORACLE_NUMERICS", numerics)
        .arg("--model")
        .arg(model)
        .args(["--threads", THREADS, "--repeat", repeat])
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

/// The last non-empty stdout line of a Python side, as JSON; panics with its stderr on failure.
fn last_json_line(side: &str, out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{side}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = out
        .stdout
        .split(|&b| b == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap_or_default();
    serde_json::from_slice(line).unwrap_or_else(|e| panic!("{side}: not JSON ({e})"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().expect("a number")
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

    let python = || -> serde_json::Value {
        std::thread::sleep(SETTLE);
        let out = Command::new(format!("{venv}/bin/python"))
            .arg(root.join("benches/python_eager.py"))
            .arg("--shapes")
            .arg(&shapes)
            .arg("--r50-dir")
            .arg(&r50)
            .arg("--image")
            .arg(&image)
            .args(["--threads", THREADS, "--repeat", REPEAT_SHAPES])
            .args(["--repeat-r50", REPEAT_R50])
            .output()
            .expect("python runs");
        last_json_line("python", &out)
    };
    let models = [
        ("shapes-maskrcnn", "shapes", shapes.clone(), REPEAT_SHAPES),
        ("maskrcnn-r50-fpn (random)", "r50", r50.clone(), REPEAT_R50),
    ];
    // Per model: (python s, rust model s, rust whole s) per round; last outputs kept.
    let mut rounds: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); models.len()];
    let mut last = Vec::new();
    let mut py_rss = 0.0f64;
    let mut py_r50 = serde_json::Value::Null;
    for round in 1..=ROUNDS {
        // Odd rounds start with Python, even rounds with Rust, so neither side always follows
        // the other's 1-2 GB process.
        let python_first = round % 2 == 1;
        let py_first = python_first.then(&python);
        let rust: Vec<serde_json::Value> = models
            .iter()
            .map(|(_, _, dir, repeat)| probe(dir, &image, repeat, "native"))
            .collect();
        let py = py_first.unwrap_or_else(&python);
        py_r50 = py["r50"].clone();
        py_rss = py_rss.max(num(&py["peak_rss_kib"]) / 1024.0);
        last.clear();
        for (i, ((name, key, ..), r)) in models.iter().zip(rust).enumerate() {
            let t = (
                num(&py[key]["eager_s"]),
                num(&r["result"]["model_median_s"]),
                num(&r["result"]["median_s"]),
            );
            eprintln!(
                "round {round}/{ROUNDS} {name}: python {:.4} s, rust model {:.4} s ({:.2}x), whole {:.4} s",
                t.0,
                t.1,
                t.1 / t.0,
                t.2
            );
            rounds[i].push(t);
            let rust_masks = r["result"]["raw_masks_sha256"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let py_masks = py[key]["masks_sha256"].as_str().unwrap_or("").to_owned();
            assert_eq!(
                rust_masks, py_masks,
                "{name}: Rust and Python eager outputs differ (thresholded masks)"
            );
            last.push((r, py_masks));
        }
        if round == ROUNDS {
            println!(
                "python shapes eager == scripted outputs: {}",
                py["shapes"]["eager_equals_script"]
            );
        }
    }

    println!(
        "maskoracle-inference bench: 640x480, {THREADS} threads, median of {REPEAT_SHAPES} \
         (shapes) / {REPEAT_R50} (R50) runs per process, median of {ROUNDS} alternating rounds"
    );
    println!(
        "{:<28} {:>9} {:>11} {:>7} {:>11} {:>7} {:>9} {:>9}",
        "model", "python s", "rust model", "ratio", "rust whole", "ratio", "rust MB", "py MB"
    );
    for (i, (name, ..)) in models.iter().enumerate() {
        let py_s = median(rounds[i].iter().map(|t| t.0).collect());
        let model_s = median(rounds[i].iter().map(|t| t.1).collect());
        let whole_s = median(rounds[i].iter().map(|t| t.2).collect());
        let (r, masks) = &last[i];
        println!(
            "{:<28} {:>9.4} {:>11.4} {:>6.2}x {:>11.4} {:>6.2}x {:>9.0} {:>9.0}",
            name,
            py_s,
            model_s,
            model_s / py_s,
            whole_s,
            whole_s / py_s,
            num(&r["end"]["peak_rss_kib"]) / 1024.0,
            py_rss
        );
        println!(
            "    identical thresholded masks (Rust == Python eager): {masks}; canonical digest {}, \
             {} detections; allocator tuning {}",
            r["result"]["digest"], r["result"]["detections"], r["end"]["malloc_tuning"]
        );
    }
    println!("(python MB: one process running both models; rust MB: per model)");

    r50_flops(&rounds[1], &r50, &image, &py_r50);
    selfie_vs_litert(&root, &image);
}

/// Peak FP32 FLOP/s of this machine from its ISA and clock: cores x base MHz x FLOP per cycle
/// per core (two 256-bit FMA pipes: 2 x 8 lanes x 2 = 32 for AVX2, the code path the pinned
/// profile runs; 64 with two 512-bit FMA pipes, the most an AVX-512 machine can have; AMD Zen 4
/// runs AVX-512 on 256-bit pipes, so 32 there as well).
fn peak_flops() -> (f64, String) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mhz = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let threads: f64 = THREADS.parse().unwrap_or(1.0);
    let per_cycle = 32.0;
    let peak = cores.min(threads) * mhz * 1e6 * per_cycle;
    (
        peak,
        format!(
            "{model}, {} of {cores} cores x {mhz:.0} MHz x {per_cycle} FLOP/cycle (2 x 256-bit FMA)",
            cores.min(threads)
        ),
    )
}

/// Achieved fraction of peak FLOP/s of the R50 (model call, Rust), native and pinned profiles.
fn r50_flops(native_rounds: &[(f64, f64, f64)], r50: &Path, image: &Path, py: &serde_json::Value) {
    let flops = num(&py["flops"]);
    let (peak, how) = peak_flops();
    let native = median(native_rounds.iter().map(|t| t.1).collect());
    // One process (median of 3 runs after the warm-ups): the pinned R50 takes ~6 s a call.
    let pinned = num(&probe(r50, image, "3", "cpu-avx2")["result"]["model_median_s"]);
    println!(
        "maskrcnn-r50-fpn FLOPs per call: {:.1} GFLOP (torch FlopCounterMode); peak {:.1} GFLOP/s ({how})",
        flops / 1e9,
        peak / 1e9
    );
    for (name, s) in [
        ("native (oneDNN)", native),
        ("pinned cpu-avx2 (MKL COMPATIBLE)", pinned),
    ] {
        println!(
            "    rust {name:<34} {s:>7.3} s = {:>6.1} GFLOP/s = {:>5.1} % of peak",
            flops / s / 1e9,
            100.0 * flops / s / peak
        );
    }
    println!(
        "    pinned / native time: {:.2}x (the price of cross-CPU reproducibility, docs/determinism.md)",
        pinned / native
    );
}

/// Rust whole pipeline (sha256, decode, the model with its resizes, canonical result) against
/// LiteRT with XNNPACK (decode, resize, invoke, resize back, threshold) on the same 640x480 image
/// and thread count; alternating rounds, medians.
fn selfie_vs_litert(root: &Path, image: &Path) {
    let cache = std::env::var("MASKORACLE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/maskoracle")
        });
    let venv = std::env::var("MASKORACLE_CONVERT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache.join("venv-convert"));
    let wheel = cache
        .join("wheels")
        .join("mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
    let selfie = root.join("models/selfie-segmentation");
    let litert = || -> serde_json::Value {
        std::thread::sleep(SETTLE);
        let out = Command::new(venv.join("bin/python"))
            .arg(root.join("benches/litert_pipeline.py"))
            .arg("--wheel")
            .arg(&wheel)
            .arg("--image")
            .arg(image)
            .args(["--threads", THREADS, "--repeat", REPEAT_SHAPES])
            .output()
            .expect("python (LiteRT) runs");
        last_json_line("litert", &out)
    };
    let mut rows = Vec::new();
    for round in 1..=ROUNDS {
        let first = (round % 2 == 1).then(&litert);
        let r = probe(&selfie, image, REPEAT_SHAPES, "cpu-avx2");
        let l = first.unwrap_or_else(&litert);
        let t = (
            num(&l["median_s"]),
            num(&l["invoke_median_s"]),
            num(&r["result"]["median_s"]),
            num(&r["result"]["model_median_s"]),
        );
        eprintln!(
            "round {round}/{ROUNDS} selfie: litert {:.4} s (invoke {:.4}), rust whole {:.4} s ({:.2}x), model {:.4} s",
            t.0,
            t.1,
            t.2,
            t.2 / t.0,
            t.3
        );
        rows.push(t);
    }
    let litert_s = median(rows.iter().map(|t| t.0).collect());
    let invoke_s = median(rows.iter().map(|t| t.1).collect());
    let whole_s = median(rows.iter().map(|t| t.2).collect());
    let model_s = median(rows.iter().map(|t| t.3).collect());
    println!(
        "selfie-segmentation 640x480, {THREADS} threads, median of {ROUNDS} alternating rounds: \
         LiteRT XNNPACK pipeline {litert_s:.4} s (invoke alone {invoke_s:.4} s); Rust whole pipeline \
         {whole_s:.4} s = {:.2}x (goal <= 1.0x); Rust model call {model_s:.4} s",
        whole_s / litert_s
    );
}
