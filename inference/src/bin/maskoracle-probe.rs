//! `maskoracle-probe`: segments files in a fresh process and prints one JSON line per file, then
//! one line with the process's execution profile and peak RSS.
//!
//! It exists for the determinism test, the hostile-input memory test and the benchmark, which
//! need a new process per configuration (`ATEN_CPU_CAPABILITY` is read when libtorch starts).
//!
//! ```text
//! maskoracle-probe --model DIR [--threads N] [--repeat K] [--margins] FILE...
//! ```
//!
//! With `--margins`, each line of a semantic model also carries `near_threshold`: the fraction
//! of working-grid pixels whose decision sits within 0.01 and 0.001 of flipping (half the gap
//! between the two most probable classes; for two classes, `|p - 0.5|`), the cliff on which
//! exact digests sit.
//!
//! With `--repeat K` (K > 1), after [`WARM_UP`] untimed runs, each file is segmented K times
//! (`median_s`: the whole `Segmenter::segment`, bytes to canonical result) and, for decoded
//! images, the model alone is run K times on the working image (`model_median_s`: tensor in,
//! raw outputs out, the work Python's `model([img])` does); `raw_masks_sha256` hashes the raw
//! masks thresholded at the manifest's mask threshold as uint8 `[N, H, W]` in the model's order,
//! as the benchmark's Python side does, so both sides' outputs are compared in one run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use sha2::{Digest as _, Sha256};
use tch::Kind;

use maskoracle_inference::{ExecutionProfile, Model, RawOutput, Segmenter};

/// Untimed runs before timing (the JIT profiles the first calls of a module).
const WARM_UP: usize = maskoracle_inference::WARM_UP_RUNS;

fn median(mut times: Vec<f64>) -> Option<f64> {
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied()
}

/// Times the model alone on the working image and hashes its thresholded raw masks.
fn model_only(
    segmenter: &Segmenter,
    seg: &maskoracle_inference::Segmentation,
    repeat: usize,
) -> serde_json::Value {
    let Some(working) = seg.working.as_ref() else {
        return serde_json::Value::Null;
    };
    let model = segmenter.model();
    let run = || model.infer_rgb(working.as_raw(), working.width(), working.height());
    let mut times = Vec::with_capacity(repeat);
    let mut raw = None;
    for _ in 0..repeat {
        let t = Instant::now();
        raw = Some(run());
        times.push(t.elapsed().as_secs_f64());
    }
    let masks = match raw {
        Some(Ok(RawOutput::Instance(o))) => {
            let threshold = model.manifest().thresholds.mask;
            o.masks
                .f_select(1, 0)
                .and_then(|m| m.f_gt(threshold))
                .and_then(|m| m.f_to_kind(Kind::Uint8))
                .and_then(|m| Vec::<u8>::try_from(&m.f_flatten(0, -1)?))
                .map(|bytes| hex::encode(Sha256::digest(&bytes)))
                .ok()
        }
        _ => None,
    };
    serde_json::json!({"model_median_s": median(times), "raw_masks_sha256": masks})
}

/// Fractions of pixels within 0.01 and 0.001 of a decision flip (semantic models only).
fn margins(segmenter: &Segmenter, seg: &maskoracle_inference::Segmentation) -> serde_json::Value {
    let Some(working) = seg.working.as_ref() else {
        return serde_json::Value::Null;
    };
    let raw = segmenter
        .model()
        .infer_rgb(working.as_raw(), working.width(), working.height());
    let Ok(RawOutput::Semantic(logits)) = raw else {
        return serde_json::Value::Null;
    };
    let gaps = logits
        .f_to_kind(Kind::Float)
        .and_then(|l| l.f_softmax(0, Kind::Float))
        .and_then(|p| p.f_topk(2.min(p.size()[0]), 0, true, true))
        .and_then(|(top, _)| {
            if top.size()[0] < 2 {
                return tch::Tensor::f_ones_like(&top.f_select(0, 0)?);
            }
            top.f_select(0, 0)?
                .f_sub(&top.f_select(0, 1)?)?
                .f_div_scalar(2.0)
        })
        .and_then(|g| Vec::<f32>::try_from(&g.f_flatten(0, -1)?));
    let Ok(gaps) = gaps else {
        return serde_json::Value::Null;
    };
    let n = gaps.len().max(1) as f64;
    let within = |eps: f32| gaps.iter().filter(|&&g| g < eps).count() as f64 / n;
    serde_json::json!({"pixels": gaps.len(), "within_0_01": within(0.01), "within_0_001": within(0.001)})
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let malloc = maskoracle_inference::allocator::tune();
    if let Err(e) = maskoracle_inference::numerics::pin() {
        eprintln!("maskoracle-probe: {e}");
        return ExitCode::FAILURE;
    }
    let mut model = None;
    let mut threads = 1;
    let mut repeat = 1usize;
    let mut want_margins = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--repeat" => repeat = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--margins" => want_margins = true,
            _ => files.push(PathBuf::from(a)),
        }
    }
    let Some(model) = model.filter(|_| threads > 0 && repeat > 0) else {
        eprintln!(
            "usage: maskoracle-probe --model DIR [--threads N] [--repeat K] [--margins] FILE..."
        );
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
            for _ in 0..WARM_UP {
                segmenter.segment(&bytes);
            }
        }
        for _ in 0..repeat {
            let t = Instant::now();
            seg = Some(segmenter.segment(&bytes));
            times.push(t.elapsed().as_secs_f64());
        }
        let Some(seg) = seg else { continue };
        let att = seg.attestation();
        let mut line = serde_json::json!({
            "file": f.display().to_string(),
            "status": seg.result.status.name(),
            "code": seg.result.status.code(),
            "error": seg.error,
            "width": seg.result.width,
            "height": seg.result.height,
            "detections": seg.result.detections.len(),
            "result_sha256": att.result_sha256.to_string(),
            "digest": att.digest.to_string(),
            "sketch": hex::encode(&att.sketch),
            "median_s": median(times),
        });
        if repeat > 1 {
            if let (Some(line), serde_json::Value::Object(extra)) =
                (line.as_object_mut(), model_only(&segmenter, &seg, repeat))
            {
                line.extend(extra);
            }
        }
        if want_margins {
            if let Some(obj) = line.as_object_mut() {
                obj.insert("near_threshold".into(), margins(&segmenter, &seg));
            }
        }
        println!("{line}");
    }
    let end = serde_json::json!({
        "profile": profile,
        "peak_rss_kib": peak_rss_kib(),
        "malloc_tuning": format!("{malloc:?}"),
    });
    println!("{end}");
    ExitCode::SUCCESS
}
