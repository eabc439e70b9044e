//! The shared test vectors `test/vectors/sketch.json` of the tolerance rule
//! (`maskoracle_inference::sketch`), read by the forge tests of `contracts/libraries/SketchRule.sol`:
//! pairs of encoded sketches with the Rust rule's verdict and distance.
//!
//! `MASKORACLE_WRITE_VECTORS=1 cargo test -p maskoracle-inference --test sketch_vectors` rewrites
//! the file; otherwise the committed file must equal what this test computes, byte for byte.

mod common;

use maskoracle_inference::sketch::{compare, Sketch, SketchDetection, Tolerance};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    name: String,
    a: String,
    b: String,
    agree: bool,
    /// The distance when they agree (millionths of the tolerance), else 0.
    distance: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Vectors {
    score_bps: u16,
    box_cells: u16,
    area_cells: u32,
    area_ppm: u32,
    centroid_16ths: u32,
    threshold_bps: u16,
    small_area: u32,
    cases: Vec<Case>,
}

/// xorshift64*, seeded: the variations are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn detection(rng: &mut Rng) -> SketchDetection {
    let x0 = rng.below(200) as u16;
    let y0 = rng.below(200) as u16;
    let w = 8 + rng.below(100) as u16;
    let h = 8 + rng.below(100) as u16;
    let area = u32::from(w) * u32::from(h) * (50 + rng.below(50) as u32) / 100;
    SketchDetection {
        label: 1 + rng.below(3) as u16,
        score_bps: (51 + rng.below(49) as u16) * 100,
        gbox: [x0, y0, x0 + w, y0 + h],
        area,
        centroid: [
            16 * u32::from(x0) + 8 * u32::from(w),
            16 * u32::from(y0) + 8 * u32::from(h),
        ],
    }
}

fn base(rng: &mut Rng, n: usize) -> Sketch {
    Sketch {
        status: 0,
        model_sha256: [0x11; 32],
        input_sha256: [0x22; 32],
        grid_width: 320,
        grid_height: 320,
        detections: (0..n).map(|_| detection(rng)).collect(),
    }
}

fn cases(t: &Tolerance) -> Vec<(String, Sketch, Sketch)> {
    let mut rng = Rng(0x5eed_5eed_5eed_5eed);
    let mut out = Vec::new();
    for round in 0..6 {
        // At most 15, so that a detection can be added within MAX_SKETCH_DETECTIONS.
        let n = [1, 3, 6, 9, 12, 15][round];
        let a = base(&mut rng, n);
        let mut push = |name: &str, b: Sketch| out.push((format!("{name} ({n})"), a.clone(), b));
        push("identical", a.clone());
        let mut b = a.clone();
        b.detections.reverse();
        push("reordered", b);
        // Each field at its tolerance's edge, and one past it.
        for over in [0u32, 1] {
            let tag = if over == 0 {
                "at the edge"
            } else {
                "past the edge"
            };
            let mut b = a.clone();
            b.detections[0].score_bps -= t.score_bps + 100 * over as u16;
            push(&format!("score {tag}"), b);
            for edge in 0..4 {
                let mut b = a.clone();
                b.detections[0].gbox[edge] += t.box_cells + over as u16;
                push(&format!("box edge {edge} {tag}"), b);
            }
            let mut b = a.clone();
            let d = &mut b.detections[0];
            let tol = t.area_cells.max(d.area * t.area_ppm / 1_000_000);
            d.area -= tol + over;
            push(&format!("area {tag}"), b);
            for axis in 0..2 {
                let mut b = a.clone();
                b.detections[0].centroid[axis] += t.centroid_16ths + over;
                push(&format!("centroid {axis} {tag}"), b);
            }
        }
        let mut b = a.clone();
        b.detections[0].label += 10;
        push("label changed", b);
        let mut b = a.clone();
        b.detections.remove(0);
        push("detection dropped", b);
        let mut b = a.clone();
        b.detections.push(detection(&mut rng));
        push("detection added", b);
        let mut b = a.clone();
        let mut weak = detection(&mut rng);
        weak.score_bps = t.threshold_bps;
        b.detections.push(weak);
        push("detection at the threshold added", b);
        let mut b = a.clone();
        let mut tiny = detection(&mut rng);
        tiny.area = t.small_area;
        b.detections.push(tiny);
        push("tiny detection added", b);
        let mut b = a.clone();
        b.input_sha256[31] ^= 1;
        push("other input", b);
        let mut b = a.clone();
        b.model_sha256[0] ^= 1;
        push("other model", b);
        let mut b = a.clone();
        b.status = 3;
        push("other status", b);
        let mut b = a.clone();
        b.grid_width += 1;
        push("other grid", b);
        // Random small noise on every field of every detection.
        let mut b = a.clone();
        for d in &mut b.detections {
            d.area += rng.below(3) as u32;
            d.centroid[0] += rng.below(3) as u32;
            d.gbox[2] += rng.below(2) as u16;
        }
        push("noise", b);
    }
    out
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

#[test]
fn the_committed_sketch_vectors_match_the_rule() {
    let t = Tolerance::for_model(5_000, 16);
    let cases: Vec<Case> = cases(&t)
        .into_iter()
        .map(|(name, a, b)| {
            let v = compare(&a, &b, &t);
            Case {
                name,
                a: hex(&a.encode()),
                b: hex(&b.encode()),
                agree: v.is_ok(),
                distance: v.unwrap_or(0),
            }
        })
        .collect();
    let agree = cases.iter().filter(|c| c.agree).count();
    assert!(
        agree > 20 && cases.len() - agree > 20,
        "both verdicts covered"
    );
    let vectors = Vectors {
        score_bps: t.score_bps,
        box_cells: t.box_cells,
        area_cells: t.area_cells,
        area_ppm: t.area_ppm,
        centroid_16ths: t.centroid_16ths,
        threshold_bps: t.threshold_bps,
        small_area: t.small_area,
        cases,
    };
    let json = serde_json::to_string_pretty(&vectors).expect("json") + "\n";
    let path = common::crate_dir().join("../test/vectors/sketch.json");
    if std::env::var_os("MASKORACLE_WRITE_VECTORS").is_some() {
        std::fs::write(&path, &json).expect("write vectors");
    }
    let committed = std::fs::read_to_string(&path).expect("committed vectors");
    assert_eq!(
        committed, json,
        "test/vectors/sketch.json differs from the rule"
    );
}
