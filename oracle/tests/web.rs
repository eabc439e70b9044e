//! The web app's side of the canonical format: `web/test/vectors/canonical.json` holds results
//! written by the Rust encoder (synthetic ones covering the format's corners, and real ones from
//! the shipped models) and byte strings the Rust parser refuses; the TypeScript decoder's tests
//! (`web/test/canonical.test.ts`) must decode them to the same values and refuse the same bytes.
//!
//! This test fails when the file and the Rust encoder/parser disagree. `MASKORACLE_WRITE_VECTORS=1`
//! rewrites it (running the shipped models for the real vectors).

use std::path::{Path, PathBuf};

use maskoracle_inference::canonical::{CanonicalResult, Detection, Mask};
use maskoracle_inference::{Model, Segmenter, Status};
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn vectors_path() -> PathBuf {
    root().join("web/test/vectors/canonical.json")
}

/// What the TypeScript decoder must return for `r` (its `CanonicalResult` shape).
fn decoded(r: &CanonicalResult) -> Value {
    json!({
        "status": r.status.name(),
        "modelSha256": alloy::primitives::hex::encode_prefixed(r.model_sha256),
        "inputSha256": alloy::primitives::hex::encode_prefixed(r.input_sha256),
        "width": r.width,
        "height": r.height,
        "gridWidth": r.grid_width,
        "gridHeight": r.grid_height,
        "truncated": r.truncated,
        "detections": r.detections.iter().map(|d| json!({
            "label": d.label,
            "scoreBps": d.score_bps,
            "bbox": d.bbox,
            "maskArea": d.mask_area,
            "mask": {"x0": d.mask.x0, "y0": d.mask.y0, "x1": d.mask.x1, "y1": d.mask.y1, "area": d.mask.area, "runs": d.mask.runs},
        })).collect::<Vec<_>>(),
    })
}

fn vector(name: &str, r: &CanonicalResult) -> Value {
    let bytes = r.encode();
    json!({
        "name": name,
        "hex": alloy::primitives::hex::encode(&bytes),
        "sha256": alloy::primitives::hex::encode_prefixed(r.sha256()),
        "cid": r.cid(),
        "decoded": decoded(r),
    })
}

fn grid(w: usize, h: usize, f: impl Fn(usize, usize) -> bool) -> Vec<u8> {
    (0..w * h).map(|i| u8::from(f(i % w, i / w))).collect()
}

/// Results built by hand: several detections (order, equal scores), runs needing 1-, 2- and
/// 3-byte varints, a grid smaller than the image, an error status, a truncated result.
fn synthetic() -> Vec<Value> {
    let model = [0x11u8; 32];
    let input = [0x22u8; 32];
    let (gw, gh) = (300usize, 200usize);
    let image = (600u16, 401u16);
    let det = |label, score, cells: Vec<u8>| {
        let mask = Mask::from_grid(&cells, gw, gh).expect("non-empty mask");
        Detection::new(label, score, mask, image, (gw as u16, gh as u16))
    };
    let disc = grid(gw, gh, |x, y| {
        (x as i64 - 80).pow(2) + (y as i64 - 90).pow(2) <= 60 * 60
    });
    let big = grid(gw, gh, |x, y| x >= 20 && y >= 10 && (x + y) % 97 != 0);
    let dot = grid(gw, gh, |x, y| x == 299 && y == 199);
    let square = grid(gw, gh, |x, y| {
        (150..190).contains(&x) && (20..60).contains(&y)
    });
    let ok = CanonicalResult::ok(
        model,
        input,
        image,
        (gw as u16, gh as u16),
        vec![
            det(2, 8_700, square.clone()),
            det(1, 9_900, disc),
            det(3, 8_700, dot),
            det(1, 5_000, big),
            det(2, 8_700, square),
        ],
    );
    let mut truncated = ok.clone();
    truncated.truncated = true;
    truncated.detections.truncate(2);
    let empty = CanonicalResult::ok(model, input, (64, 48), (64, 48), Vec::new());
    let error = CanonicalResult::error(Status::CorruptImage, model, input, (0, 0));
    vec![
        vector("synthetic-instances", &ok),
        vector("synthetic-truncated", &truncated),
        vector("synthetic-empty", &empty),
        vector("error-corrupt-image", &error),
    ]
}

/// Byte strings the parser refuses, derived from a valid result.
fn invalid(valid: &[u8]) -> Vec<Value> {
    let mut trailing = valid.to_vec();
    trailing.extend_from_slice(b"FAULTY"); // what the devnet's faulty workers deliver
    let mut magic = valid.to_vec();
    magic[0] = b'X';
    let mut status = valid.to_vec();
    status[5] = 9;
    let truncated = valid[..valid.len() - 3].to_vec();
    let mut flags = valid.to_vec();
    flags[6] = 0x80;
    [
        ("trailing-bytes", trailing),
        ("bad-magic", magic),
        ("bad-status", status),
        ("truncated", truncated),
        ("unknown-flags", flags),
    ]
    .into_iter()
    .map(|(name, b)| {
        assert!(
            CanonicalResult::parse(&b).is_err(),
            "{name}: the Rust parser accepts it"
        );
        json!({"name": name, "hex": alloy::primitives::hex::encode(&b)})
    })
    .collect()
}

/// The shipped models on committed images (only when writing: inference is not rerun to check).
fn real() -> Vec<Value> {
    let cases = [
        (
            "selfie-astronaut",
            "inference/models/selfie-segmentation",
            "inference/tests/data/photos/astronaut.png",
        ),
        (
            "shapes-scene",
            "inference/models/shapes-maskrcnn",
            "assets/samples/scene_4242_0001.png",
        ),
    ];
    cases
        .iter()
        .map(|(name, model, image)| {
            let m = Model::load(root().join(model)).expect("shipped model");
            let bytes = std::fs::read(root().join(image)).expect("image");
            let seg = Segmenter::new(m).segment(&bytes);
            vector(name, &seg.result)
        })
        .collect()
}

fn check_vector(v: &Value) {
    let name = v["name"].as_str().expect("name");
    let bytes = alloy::primitives::hex::decode(v["hex"].as_str().expect("hex")).expect("hex");
    let r = CanonicalResult::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(r.encode(), bytes, "{name}: re-encoding differs");
    assert_eq!(
        alloy::primitives::hex::encode_prefixed(r.sha256()),
        v["sha256"],
        "{name}: sha256"
    );
    assert_eq!(r.cid(), v["cid"], "{name}: CID");
    assert_eq!(decoded(&r), v["decoded"], "{name}: decoded fields");
}

#[test]
fn web_decoder_vectors_match_the_rust_encoder() {
    let path = vectors_path();
    let synthetic = synthetic();
    let valid_bytes =
        alloy::primitives::hex::decode(synthetic[0]["hex"].as_str().expect("hex")).expect("hex");
    let invalid = invalid(&valid_bytes);
    if std::env::var("MASKORACLE_WRITE_VECTORS").as_deref() == Ok("1") {
        let mut valid = synthetic.clone();
        valid.extend(real());
        let file = json!({
            "about": "Canonical results (format 1) written by the Rust encoder, and bytes its parser refuses; written by oracle/tests/web.rs, read by web/test/canonical.test.ts.",
            "valid": valid,
            "invalid": invalid,
        });
        let text = serde_json::to_string_pretty(&file).expect("json") + "\n";
        std::fs::write(&path, text).expect("writing the vectors");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (MASKORACLE_WRITE_VECTORS=1 writes it)",
            path.display()
        )
    });
    let file: Value = serde_json::from_str(&text).expect("vectors JSON");
    let valid = file["valid"].as_array().expect("valid vectors");
    // The synthetic vectors are regenerated and must equal the committed ones exactly.
    for v in &synthetic {
        let committed = valid
            .iter()
            .find(|c| c["name"] == v["name"])
            .unwrap_or_else(|| panic!("{} missing from {}", v["name"], path.display()));
        assert_eq!(committed, v, "{} drifted from the Rust encoder", v["name"]);
    }
    assert!(
        valid.iter().any(|v| v["name"] == "selfie-astronaut"),
        "the real vectors are missing"
    );
    for v in valid {
        check_vector(v);
    }
    assert_eq!(
        file["invalid"],
        json!(invalid),
        "the invalid vectors drifted"
    );
}
