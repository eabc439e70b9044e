//! Tests on the model the project ships (`inference/models/shapes-maskrcnn/`, trained by
//! `inference/models/train_shapes.py`). They FAIL when the model is missing: it is part of the
//! project. `MASKORACLE_SHAPES_MODEL`, `MASKORACLE_SCENES_DIR`, `MASKORACLE_PYTHON_REFERENCE` and
//! `MASKORACLE_REFERENCE_ROOT` point them elsewhere.

mod common;

use std::path::PathBuf;

use maskoracle_inference::model::{InstanceOutput, RawOutput};
use maskoracle_inference::{decode, Model, Segmenter, Status};
use sha2::{Digest as _, Sha256};
use tch::Kind;

fn rle_to_mask(rle: &[serde_json::Value], n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut bit = 0u8;
    for r in rle {
        let r = r.as_u64().expect("run") as usize;
        out.extend(std::iter::repeat_n(bit, r));
        bit ^= 1;
    }
    assert_eq!(out.len(), n, "rle covers the image");
    out
}

/// The product target for the shipped model (issue 4): mean mask IoU >= 0.8 on held-out scenes.
/// The committed model (stage 4, instance-norm trunk) measures 0.928 on the 60-scene evaluation in
/// inference/models/shapes-maskrcnn/eval.json; this test asserts the target itself.
const MIN_MEAN_IOU: f64 = 0.8;

/// Held-out scenes (seed 9001, never used in training): each ground-truth instance takes the best
/// mask IoU among detections of its label (0 if none); the mean must reach `MIN_MEAN_IOU`.
#[test]
fn shipped_model_mean_mask_iou_on_heldout_scenes_does_not_regress() {
    let model = Model::load(common::shipped_instance()).expect("shipped model loads");
    let seg = Segmenter::new(model);
    let dir = common::scenes_dir();
    let mut ious = Vec::new();
    for json in common::files(&dir, &["json"]) {
        let gt: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).expect("gt")).expect("json");
        let png = json.with_extension("png");
        let s = seg.segment(&std::fs::read(&png).expect("scene png"));
        assert_eq!(s.result.status, Status::Ok);
        let (w, h) = (s.result.grid_width as usize, s.result.grid_height as usize);
        let preds: Vec<(u16, Vec<u8>)> = s
            .result
            .detections
            .iter()
            .map(|d| (d.label, d.mask.to_grid(w, h)))
            .collect();
        for inst in gt["instances"].as_array().expect("instances") {
            let label = inst["label"].as_u64().expect("label") as u16;
            let m = rle_to_mask(inst["rle"].as_array().expect("rle"), w * h);
            let best = preds
                .iter()
                .filter(|(l, _)| *l == label)
                .map(|(_, p)| common::iou(&m, p))
                .fold(0.0, f64::max);
            ious.push(best);
        }
    }
    assert!(
        ious.len() >= 20,
        "need held-out scenes in {}",
        dir.display()
    );
    let mean = ious.iter().sum::<f64>() / ious.len() as f64;
    eprintln!(
        "held-out scenes: {} instances, mean mask IoU {mean:.4}",
        ious.len()
    );
    assert!(
        mean >= MIN_MEAN_IOU,
        "mean mask IoU {mean:.4} < {MIN_MEAN_IOU} over {} instances",
        ious.len()
    );
}

fn reference_path() -> PathBuf {
    std::env::var_os("MASKORACLE_PYTHON_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::crate_dir().join("tests/fixtures/python_reference.json"))
}

fn round(v: f64, dp: i32) -> f64 {
    let f = 10f64.powi(dp);
    (v * f).round() / f
}

/// Tolerances of the raw (pre-canonical) comparison with the committed Python reference.
///
/// The reference was recorded once, on one machine; the test runs on whatever x86-64 CPU CI
/// has. libtorch, oneDNN and MKL choose their kernels from the CPU (AVX2 or AVX-512 loops, GEMM
/// blocking sized to the caches), so float32 sums happen in another order and the raw outputs
/// differ in the last bits: measured, scores in the 6th decimal (1e-6) on 11 of 36 runs between
/// an AVX2-only AMD machine and an AVX-512 one, boxes and mask areas equal. The tolerances are
/// two orders of magnitude above that noise and far below anything a wrong model, input or
/// pre-processing gives (those move scores by 1e-2 and boxes by pixels). They bound raw floats
/// only: the canonical results, which consensus compares, are checked exactly against committed
/// vectors in `tests/canonical_vectors.rs`.
const SCORE_TOL: f64 = 1e-4;
/// Box coordinates, in input pixels (the reference keeps 3 decimals).
const BOX_TOL: f64 = 0.05;
/// Mask area: pixels whose probability sits within float noise of the 0.5 threshold can flip.
fn area_tol(area: f64) -> f64 {
    (area * 0.002).max(2.0)
}

/// `d <= tol`, false for NaN (a missing value).
fn within(d: f64, tol: f64) -> bool {
    d <= tol
}

/// Compares one raw record with the reference's, within the tolerances; returns what differs.
fn compare_record(want: &serde_json::Value, got: &serde_json::Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    if let Some(got_dets) = got["detections"].as_array() {
        let want_dets = want["detections"].as_array().cloned().unwrap_or_default();
        if want_dets.len() != got_dets.len() {
            return vec![format!(
                "{} detections, reference {}",
                got_dets.len(),
                want_dets.len()
            )];
        }
        for (i, (w, g)) in want_dets.iter().zip(got_dets).enumerate() {
            if w["label"] != g["label"] {
                diffs.push(format!(
                    "detection {i}: label {} vs {}",
                    g["label"], w["label"]
                ));
            }
            let ds = (num(&w["score"]) - num(&g["score"])).abs();
            if !within(ds, SCORE_TOL) {
                diffs.push(format!("detection {i}: score differs by {ds:e}"));
            }
            for j in 0..4 {
                let db = (num(&w["box"][j]) - num(&g["box"][j])).abs();
                if !within(db, BOX_TOL) {
                    diffs.push(format!("detection {i}: box[{j}] differs by {db}"));
                }
            }
            let wa = num(&w["mask_area"]);
            let da = (wa - num(&g["mask_area"])).abs();
            if !within(da, area_tol(wa)) {
                diffs.push(format!("detection {i}: mask area differs by {da}"));
            }
        }
    } else {
        let w = want["class_pixels"].as_array().cloned().unwrap_or_default();
        let g = got["class_pixels"].as_array().cloned().unwrap_or_default();
        if w.len() != g.len() {
            diffs.push("class count differs".into());
        }
        for (c, (a, b)) in w.iter().zip(&g).enumerate() {
            let d = (num(a) - num(b)).abs();
            if !within(d, area_tol(num(a))) {
                diffs.push(format!("class {c}: {d} pixels differ"));
            }
        }
    }
    diffs
}

/// Rust runs the same TorchScript file on the same pixels at the same thread count as the
/// committed Python reference (inference/models/python_reference.py) and gets the same outputs,
/// within the tolerances above.
#[test]
fn rust_outputs_match_python_outputs_for_the_shipped_models() {
    let fx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reference_path()).expect("python_reference.json"))
            .expect("json");
    // Image paths in the reference are relative to the repository root.
    let repo = std::env::var_os("MASKORACLE_REFERENCE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::crate_dir().join(".."));
    let shipped = common::shipped_instance();
    let mut compared = 0usize;
    let mut bit_equal = 0usize;
    let mut mismatches = Vec::new();
    for m in fx["models"].as_array().expect("models") {
        let dir = m["dir"].as_str().expect("dir");
        let dir = if dir.ends_with("shapes-maskrcnn") {
            shipped.clone()
        } else {
            repo.join(dir)
        };
        let model = Model::load(&dir).expect("model of the reference loads");
        assert_eq!(
            hex::encode(model.sha256()),
            m["sha256"].as_str().expect("sha"),
            "same model file"
        );
        let thr = model.manifest().thresholds.mask;
        for run in m["runs"].as_array().expect("runs") {
            let image = run["image"].as_str().expect("image");
            let threads = run["threads"].as_i64().expect("threads") as i32;
            maskoracle_inference::set_intra_op_threads(threads);
            let bytes = std::fs::read(repo.join(image)).expect("image");
            let d = decode::decode(&bytes, &decode::DecodeLimits::V1).expect("decodes");
            let rgb_sha = hex::encode(Sha256::digest(d.rgb.as_raw()));
            // Decoding is integer work: it must agree exactly.
            if rgb_sha != run["rgb_sha256"].as_str().expect("rgb sha") {
                mismatches.push(format!("{image}: decoded pixels differ from Pillow's"));
                continue;
            }
            let raw = model
                .infer_rgb(d.rgb.as_raw(), d.rgb.width(), d.rgb.height())
                .expect("runs");
            let got = match raw {
                RawOutput::Instance(o) => instance_record(&o, thr),
                RawOutput::Semantic(l) => semantic_record(&l),
            };
            compared += 1;
            let exact = got
                .as_object()
                .expect("record")
                .iter()
                .all(|(k, v)| &run[k] == v);
            bit_equal += usize::from(exact);
            for d in compare_record(run, &got) {
                mismatches.push(format!("{image} threads={threads}: {d}"));
            }
        }
    }
    eprintln!(
        "python reference: {compared} runs compared, {bit_equal} equal to the printed digits, {} outside the tolerances",
        mismatches.len()
    );
    assert!(
        compared >= 20,
        "the reference covers the scenes and photos at 1 and 2 threads"
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn the_raw_comparison_fails_on_a_changed_output() {
    let want = serde_json::json!({"detections": [
        {"label": 1, "score": 0.912345, "box": [1.0, 2.0, 30.0, 40.0], "mask_area": 900}
    ]});
    let mut noise = want.clone();
    noise["detections"][0]["score"] = serde_json::json!(0.912346);
    noise["detections"][0]["box"][2] = serde_json::json!(30.001);
    noise["detections"][0]["mask_area"] = serde_json::json!(901);
    assert!(
        compare_record(&want, &noise).is_empty(),
        "noise is tolerated"
    );
    for (key, value) in [
        ("score", serde_json::json!(0.902345)),
        ("label", serde_json::json!(2)),
        ("mask_area", serde_json::json!(880)),
    ] {
        let mut changed = want.clone();
        changed["detections"][0][key] = value;
        assert!(
            !compare_record(&want, &changed).is_empty(),
            "{key} change is caught"
        );
    }
    let mut moved = want.clone();
    moved["detections"][0]["box"][0] = serde_json::json!(2.0);
    assert!(
        !compare_record(&want, &moved).is_empty(),
        "a 1 px box shift is caught"
    );
    let fewer = serde_json::json!({"detections": []});
    assert!(
        !compare_record(&want, &fewer).is_empty(),
        "a dropped detection is caught"
    );
}

fn instance_record(o: &InstanceOutput, thr: f64) -> serde_json::Value {
    let labels: Vec<i64> = Vec::try_from(&o.labels).expect("labels");
    let scores: Vec<f32> = Vec::try_from(&o.scores).expect("scores");
    let boxes: Vec<f32> = Vec::try_from(&o.boxes.flatten(0, -1)).expect("boxes");
    let masks = o
        .masks
        .squeeze_dim(1)
        .gt(thr)
        .to_kind(Kind::Uint8)
        .contiguous();
    let bits: Vec<u8> = Vec::try_from(&masks.flatten(0, -1)).expect("masks");
    let per = if labels.is_empty() {
        0
    } else {
        bits.len() / labels.len()
    };
    let dets: Vec<serde_json::Value> = (0..labels.len())
        .map(|i| {
            serde_json::json!({
                "label": labels[i],
                "score": round(f64::from(scores[i]), 6),
                "box": (0..4).map(|j| round(f64::from(boxes[i * 4 + j]), 3)).collect::<Vec<_>>(),
                "mask_area": bits[i * per..(i + 1) * per].iter().map(|&b| u64::from(b)).sum::<u64>(),
            })
        })
        .collect();
    serde_json::json!({"detections": dets, "masks_sha256": hex::encode(Sha256::digest(&bits))})
}

fn semantic_record(logits: &tch::Tensor) -> serde_json::Value {
    let classes = logits.argmax(0, false).to_kind(Kind::Uint8).contiguous();
    let c = logits.size()[0];
    let bytes: Vec<u8> = Vec::try_from(&classes.flatten(0, -1)).expect("classes");
    let mut counts = vec![0u64; c as usize];
    for &b in &bytes {
        counts[usize::from(b)] += 1;
    }
    serde_json::json!({"classes_sha256": hex::encode(Sha256::digest(&bytes)), "class_pixels": counts})
}
