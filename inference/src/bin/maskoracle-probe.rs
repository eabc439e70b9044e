//! `maskoracle-probe`: segments files in a fresh process and prints one JSON line per file, then
//! one line with the process's execution profile and peak RSS.
//!
//! It exists for the determinism test, the hostile-input memory test and the benchmark, which
//! need a new process per configuration (`ATEN_CPU_CAPABILITY` is read when libtorch starts).
//!
//! ```text
//! maskoracle-probe --model DIR [--threads N] [--repeat K] FILE...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use maskoracle_inference::{ExecutionProfile, Model, Segmenter};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let mut model = None;
    let mut threads = 1;
    let mut repeat = 1usize;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--repeat" => repeat = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let Some(model) = model.filter(|_| threads > 0 && repeat > 0) else {
        eprintln!("usage: maskoracle-probe --model DIR [--threads N] [--repeat K] FILE...");
        return ExitCode::from(2);
    };
    maskoracle_inference::set_intra_op_threads(threads);
    let model = match Model::load(&model) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("maskoracle-probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    let profile = ExecutionProfile::with_model(&model);
    let segmenter = Segmenter::new(model);
    for f in &files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("maskoracle-probe: {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        };
        let mut times = Vec::with_capacity(repeat);
        let mut seg = None;
        if repeat > 1 {
            // Timing runs follow one untimed warm-up (libtorch's JIT profiles the first runs),
            // as on the Python side of the benchmark.
            segmenter.segment(&bytes);
        }
        for _ in 0..repeat {
            let t = Instant::now();
            seg = Some(segmenter.segment(&bytes));
            times.push(t.elapsed().as_secs_f64());
        }
        let Some(seg) = seg else { continue };
        times.sort_by(f64::total_cmp);
        let att = seg.attestation();
        let line = serde_json::json!({
            "file": f.display().to_string(),
            "status": seg.result.status.name(),
            "code": seg.result.status.code(),
            "error": seg.error,
            "width": seg.result.width,
            "height": seg.result.height,
            "detections": seg.result.detections.len(),
            "result_sha256": att.result_sha256.to_string(),
            "digest": att.digest.to_string(),
            "median_s": times[times.len() / 2],
        });
        println!("{line}");
    }
    let end = serde_json::json!({"profile": profile, "peak_rss_kib": peak_rss_kib()});
    println!("{end}");
    ExitCode::SUCCESS
}
