//! Agreement benchmark for the tolerant consensus (docs/tolerant-consensus.md): how often two
//! honest results are byte-identical (the exact path) and how often their sketches agree within
//! the tolerance rule (the fallback), and whether tampered results ever agree.
//!
//! Corpus: the selfie model on the 63 real photos of `tests/data/corpus` and the 6 of
//! `tests/data/photos` (69); the shapes Mask R-CNN on the 12 scenes, each also mirrored both ways
//! and turned by 180 degrees, and the 6 photos (54). The reference is the pinned profile at 2
//! threads. Honest profiles compared with it: the pinned profile at 1 thread and the native CPU
//! code paths of this machine with oneDNN on (`default`, `avx2`, and `avx512` where the CPU has
//! it; each in a `maskoracle-probe` process) (real profile pairs), and the model's raw outputs perturbed by noise of 1e-7 to 1e-3, relative to
//! each value (the goal: 100 % tolerant agreement) and relative to each output's scale (a harsher
//! stress figure: it moves logits across 0) (emulated hardware: another CPU, GPU or library build;
//! `Segmenter::segment_perturbed`). Tampering, on every image with a detection that may not go
//! unmatched: that detection dropped, a copy moved 12 cells added, its label changed, its mask
//! moved by 1, 2 and 3 cells (for the semantic model the whole mask of its class: every component); and on every image the other model's result and the same model's
//! result for another image, both sent under this task's model and input sha256 (a liar's).
//!
//! Prints, per model: exact and tolerant agreement per profile, the largest honest distance
//! (1 is the tolerance's edge), and per tampering case the false agreements and the smallest
//! distance (the margin). Exits non-zero when the thread pair or per-value noise up to 1e-3 falls
//! short of 100 % tolerant agreement, or a tampered case agrees.
//!
//! Run: `cargo bench -p maskoracle-inference --bench agreement` (in `make bench`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use maskoracle_inference::canonical::{CanonicalResult, Detection, Mask};
use maskoracle_inference::postprocess::score_threshold_bps;
use maskoracle_inference::sketch::{
    compare, distance, exempt, Sketch, SketchDetection, Tolerance, MAX_SKETCH_DETECTIONS,
    STRUCTURAL, WITHIN,
};
use maskoracle_inference::{numerics, set_intra_op_threads, Model, ModelKind, Noise, Segmenter};

const NOISE: [f64; 5] = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("png" | "jpg" | "jpeg")
            )
        })
        .collect();
    v.sort();
    v
}

/// One input: a name and its bytes.
struct Input {
    name: String,
    bytes: Vec<u8>,
}

fn load(paths: &[PathBuf]) -> Vec<Input> {
    paths
        .iter()
        .map(|p| Input {
            name: p.file_name().unwrap_or_default().to_string_lossy().into(),
            bytes: std::fs::read(p).expect("read image"),
        })
        .collect()
}

/// The images mirrored left-right, top-bottom, and turned by 180 degrees.
fn variants(paths: &[PathBuf]) -> Vec<Input> {
    let mut v = Vec::new();
    for p in paths {
        let img = image::open(p).expect("decode scene");
        for (tag, turned) in [
            ("fliph", img.fliph()),
            ("flipv", img.flipv()),
            ("rot180", img.rotate180()),
        ] {
            let mut out = std::io::Cursor::new(Vec::new());
            turned
                .write_to(&mut out, image::ImageFormat::Png)
                .expect("encode");
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            v.push(Input {
                name: format!("{tag}-{name}"),
                bytes: out.into_inner(),
            });
        }
    }
    v
}

/// Agreement counts of one honest profile.
#[derive(Default)]
struct Honest {
    runs: usize,
    exact: usize,
    tolerant: usize,
    worst: u64,
    /// The largest distance leaving scores out (box, area, centroid).
    worst_geometry: u64,
}

/// One tampering case's counts.
#[derive(Default, Clone)]
struct Tampered {
    runs: usize,
    agreed: usize,
    closest: u64,
}

/// `r` with `f` applied to its detections and the index of its first detection that may not go
/// unmatched (tampering with an exempt one proves nothing); `None` when it has none.
fn with_first(
    r: &CanonicalResult,
    t: &Tolerance,
    f: impl FnOnce(&mut Vec<Detection>, usize),
) -> Option<CanonicalResult> {
    let first = r
        .detections
        .iter()
        .take(MAX_SKETCH_DETECTIONS)
        .position(|d| !exempt(&SketchDetection::of(d), t))?;
    let mut dets = r.detections.clone();
    f(&mut dets, first);
    Some(CanonicalResult::ok(
        r.model_sha256,
        r.input_sha256,
        (r.width, r.height),
        (r.grid_width, r.grid_height),
        dets,
    ))
}

/// `r` as a liar would send it: another result's detections under this task's model and input.
fn forged(r: &CanonicalResult, like: &CanonicalResult) -> CanonicalResult {
    let mut f = r.clone();
    f.model_sha256 = like.model_sha256;
    f.input_sha256 = like.input_sha256;
    f
}

/// The detection's mask moved by `dx` cells to the right (cells moved off the grid are lost).
fn moved(d: &Detection, r: &CanonicalResult, dx: usize) -> Option<Detection> {
    let (gw, gh) = (usize::from(r.grid_width), usize::from(r.grid_height));
    let grid = d.mask.to_grid(gw, gh);
    let mut out = vec![0u8; gw * gh];
    for y in 0..gh {
        for x in 0..gw.saturating_sub(dx) {
            out[y * gw + x + dx] = grid[y * gw + x];
        }
    }
    let mask = Mask::from_grid(&out, gw, gh)?;
    Some(Detection::new(
        d.label,
        d.score_bps,
        mask,
        (r.width, r.height),
        (r.grid_width, r.grid_height),
    ))
}

/// A native CPU code path of this machine, run in a fresh `maskoracle-probe` process (libtorch
/// reads these variables when it starts): `ATEN_CPU_CAPABILITY` and `ONEDNN_MAX_CPU_ISA`, with
/// oneDNN on and MKL unpinned, as `tests/determinism.rs` runs them.
const NATIVE_PATHS: [(&str, &str); 3] = [
    ("default", "SSE41"),
    ("avx2", "AVX2"),
    ("avx512", "AVX512_CORE"),
];

fn cpu_has_avx512() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.split_whitespace().any(|f| f == "avx512f"))
        .unwrap_or(false)
}

/// Per input (in order): the result's sha256 and sketch under the native path `(cap, isa)` at 2
/// threads.
fn native_results(model: &Path, cap: &str, isa: &str, inputs: &[Input]) -> Vec<(String, Sketch)> {
    let dir = std::env::temp_dir().join(format!("maskoracle-agreement-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files: Vec<PathBuf> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let f = dir.join(format!("{i:04}-{}", input.name));
            std::fs::write(&f, &input.bytes).expect("write input");
            f
        })
        .collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maskoracle-probe"))
        .arg("--model")
        .arg(model)
        .args(["--threads", "2"])
        .args(&files)
        .env("MASKORACLE_NUMERICS", "native")
        .env("ATEN_CPU_CAPABILITY", cap)
        .env("ONEDNN_MAX_CPU_ISA", isa)
        .env_remove("MKL_CBWR")
        .env_remove("MKL_ENABLE_INSTRUCTIONS")
        .output()
        .expect("probe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let by_file: std::collections::HashMap<String, (String, Sketch)> =
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| {
                let file = v["file"].as_str()?.to_owned();
                let sha = v["result_sha256"].as_str()?.to_owned();
                let sketch = Sketch::decode(&hex::decode(v["sketch"].as_str()?).ok()?)?;
                Some((file, (sha, sketch)))
            })
            .collect();
    let _ = std::fs::remove_dir_all(&dir);
    files
        .iter()
        .map(|f| {
            by_file
                .get(&f.display().to_string())
                .cloned()
                .expect("the probe answered for every input")
        })
        .collect()
}

/// Moves detection `i` by `dx` cells, or, for a semantic model (`per_label`), the whole mask of
/// its label: every component of that class (what "the mask" is for semantic segmentation; one
/// small component moved inside a large class mask changes less than honest noise does).
fn shift(d: &mut [Detection], i: usize, r: &CanonicalResult, dx: usize, per_label: bool) {
    let label = d[i].label;
    for (j, det) in d.iter_mut().enumerate() {
        if j == i || (per_label && det.label == label) {
            if let Some(x) = moved(det, r, dx) {
                *det = x;
            }
        }
    }
}

struct ModelRun {
    name: &'static str,
    kind: ModelKind,
    dir: PathBuf,
    seg: Segmenter,
    tol: Tolerance,
    inputs: Vec<Input>,
}

fn main() {
    numerics::pin().expect("the pinned numerics profile");
    let started = Instant::now();
    let models = crate_dir().join("models");
    let data = crate_dir().join("tests/data");
    let mut photos = files(&data.join("corpus"));
    photos.extend(files(&data.join("photos")));
    let scenes = files(&data.join("scenes"));
    let mut shapes_inputs = load(&scenes);
    shapes_inputs.extend(variants(&scenes));
    shapes_inputs.extend(load(&files(&data.join("photos"))));

    let mut runs = Vec::new();
    for (name, dir, inputs) in [
        ("selfie-segmentation", "selfie-segmentation", load(&photos)),
        ("shapes-maskrcnn", "shapes-maskrcnn", shapes_inputs),
    ] {
        let model_dir = models.join(dir);
        let model = Model::load(&model_dir).expect("load model");
        let kind = model.manifest().kind;
        let tol = Tolerance::for_kind(kind, score_threshold_bps(&model.manifest().thresholds));
        runs.push(ModelRun {
            name,
            kind,
            dir: model_dir,
            seg: Segmenter::new(model),
            tol,
            inputs,
        });
    }

    // The references (2 threads) of every image under both models: the other model's result is
    // one of the tampering cases.
    set_intra_op_threads(2);
    let refs: Vec<Vec<CanonicalResult>> = runs
        .iter()
        .map(|m| {
            m.inputs
                .iter()
                .map(|i| m.seg.segment(&i.bytes).result)
                .collect()
        })
        .collect();
    let mut failed = false;
    let mut report = Vec::new();
    for (mi, m) in runs.iter().enumerate() {
        let other = &runs[1 - mi];
        let mut profiles: Vec<String> = vec!["pinned, 1 thread".to_owned()];
        // Real code paths of this CPU (oneDNN on): what another machine's libtorch would run.
        let paths: Vec<(&str, &str)> = NATIVE_PATHS
            .into_iter()
            .filter(|(cap, _)| *cap != "avx512" || cpu_has_avx512())
            .collect();
        let mut native: Vec<Vec<(String, Sketch)>> = Vec::new();
        for (cap, isa) in &paths {
            eprintln!("agreement: {} native {cap} path (a probe process)", m.name);
            native.push(native_results(&m.dir, cap, isa, &m.inputs));
            profiles.push(format!("native {cap}, oneDNN"));
        }
        for kind in ["per value", "of scale"] {
            profiles.extend(NOISE.iter().map(|n| format!("noise {n:.0e} {kind}")));
        }
        let mut honest: Vec<Honest> = profiles.iter().map(|_| Honest::default()).collect();
        let cases = [
            "first detection dropped",
            "detection added",
            "first label changed",
            "first mask moved 1 cell",
            "first mask moved 2 cells",
            "first mask moved 3 cells",
            "the other model's result",
            "another image's result",
        ];
        let mut tampered = vec![
            Tampered {
                closest: STRUCTURAL,
                ..Tampered::default()
            };
            cases.len()
        ];
        let mut detections = 0usize;
        for (ii, input) in m.inputs.iter().enumerate() {
            if ii % 10 == 0 {
                eprintln!(
                    "agreement: {} {ii}/{} ({:.0} s)",
                    m.name,
                    m.inputs.len(),
                    started.elapsed().as_secs_f64()
                );
            }
            let r = &refs[mi][ii];
            detections += r.detections.len();
            let rs = Sketch::of(r, m.kind);
            let mut results: Vec<(String, Sketch)> = Vec::new();
            let of = |res: CanonicalResult| {
                (
                    format!("0x{}", hex::encode(res.sha256())),
                    Sketch::of(&res, m.kind),
                )
            };
            set_intra_op_threads(1);
            results.push(of(m.seg.segment(&input.bytes).result));
            set_intra_op_threads(2);
            for n in &native {
                results.push(n[ii].clone());
            }
            for noise in [Noise::PerValue, Noise::OfScale] {
                for (k, n) in NOISE.iter().enumerate() {
                    let seed = (ii * 16 + k) as i64;
                    results.push(of(m
                        .seg
                        .segment_perturbed(&input.bytes, noise, *n, seed)
                        .result));
                }
            }
            let ref_sha = format!("0x{}", hex::encode(r.sha256()));
            for (hi, (h, (sha, ss))) in honest.iter_mut().zip(&results).enumerate() {
                h.runs += 1;
                if *sha == ref_sha {
                    h.exact += 1;
                }
                match compare(&rs, ss, &m.tol) {
                    Ok(d) => {
                        h.tolerant += 1;
                        h.worst = h.worst.max(d);
                        let geometry = Tolerance {
                            score_bps: 10_000,
                            ..m.tol
                        };
                        if let Ok(g) = compare(&rs, ss, &geometry) {
                            h.worst_geometry = h.worst_geometry.max(g);
                        }
                    }
                    Err(why) => eprintln!(
                        "{} {} ({}): honest result outside the tolerance: {why:?}, distance {:.2}",
                        m.name,
                        input.name,
                        profiles[hi],
                        distance(&rs, ss, &m.tol) as f64 / WITHIN as f64
                    ),
                }
            }
            // Tampered results, against the reference.
            let oth = other
                .inputs
                .iter()
                .position(|o| o.bytes == input.bytes)
                .map(|j| refs[1 - mi][j].clone())
                .unwrap_or_else(|| other.seg.segment(&input.bytes).result);
            let next = refs[mi][(ii + 1) % m.inputs.len()].clone();
            let t = &m.tol;
            let per_label = m.kind == ModelKind::Semantic;
            let bad: Vec<Option<CanonicalResult>> = vec![
                with_first(r, t, |d, i| {
                    d.remove(i);
                }),
                with_first(r, t, |d, i| {
                    if let Some(x) = moved(&d[i], r, 12) {
                        d.push(x);
                    }
                }),
                with_first(r, t, |d, i| d[i].label = d[i].label.wrapping_add(1).max(1)),
                with_first(r, t, |d, i| shift(d, i, r, 1, per_label)),
                with_first(r, t, |d, i| shift(d, i, r, 2, per_label)),
                with_first(r, t, |d, i| shift(d, i, r, 3, per_label)),
                Some(forged(&oth, r)),
                Some(forged(&next, r)),
            ];
            for (t, b) in tampered.iter_mut().zip(bad) {
                let Some(b) = b else { continue };
                if b.sha256() == r.sha256() {
                    // The tampering changed nothing (e.g. a mask already at the grid's edge).
                    continue;
                }
                let bs = Sketch::of(&b, m.kind);
                t.runs += 1;
                if compare(&rs, &bs, &m.tol).is_ok() || compare(&bs, &rs, &m.tol).is_ok() {
                    t.agreed += 1;
                    eprintln!("{} {}: a tampered result agrees", m.name, input.name);
                }
                t.closest = t.closest.min(distance(&rs, &bs, &m.tol));
            }
        }
        report.push(format!(
            "{}: {} images, {} detections in the references; tolerance {:?}",
            m.name,
            m.inputs.len(),
            detections,
            m.tol
        ));
        report.push(format!(
            "  {:<24} {:>8} {:>10} {:>10} {:>16} {:>16}",
            "honest profile", "runs", "exact", "tolerant", "largest distance", "without scores"
        ));
        for (p, h) in profiles.iter().zip(&honest) {
            let pct = |n: usize| 100.0 * n as f64 / h.runs.max(1) as f64;
            report.push(format!(
                "  {:<24} {:>8} {:>9.1}% {:>9.1}% {:>16.3} {:>16.3}",
                p,
                h.runs,
                pct(h.exact),
                pct(h.tolerant),
                h.worst as f64 / WITHIN as f64,
                h.worst_geometry as f64 / WITHIN as f64
            ));
            // The goal covers the real profile pair and noise relative to each value; noise of
            // the output's scale is the stress figure.
            if h.tolerant < h.runs && !p.ends_with("of scale") {
                failed = true;
            }
        }
        report.push(format!(
            "  {:<28} {:>6} {:>16} {:>22}",
            "tampering", "runs", "false agreements", "margin (min distance)"
        ));
        for (c, t) in cases.iter().zip(&tampered) {
            report.push(format!(
                "  {:<28} {:>6} {:>16} {:>22}",
                c,
                t.runs,
                t.agreed,
                if t.closest == STRUCTURAL {
                    "structural".to_owned()
                } else {
                    format!("{:.2}", t.closest as f64 / WITHIN as f64)
                }
            ));
            if t.agreed > 0 {
                failed = true;
            }
        }
    }
    println!(
        "agreement benchmark ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    for l in report {
        println!("{l}");
    }
    println!(
        "distance: the largest field difference over its tolerance (<= 1 agrees); structural: a \
         detection or label without a partner, or another status or grid"
    );
    if failed {
        println!(
            "goal NOT met: an honest profile outside the tolerance or a tampered result inside"
        );
        std::process::exit(1);
    }
    println!("goal met: every honest profile within the tolerance, no tampered result inside");
}
