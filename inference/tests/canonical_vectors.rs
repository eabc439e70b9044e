//! Cross-machine agreement: the canonical results of both shipped models on the committed images
//! equal the committed vectors (`tests/vectors/canonical.json`) EXACTLY, at 1 and 2 intra-op
//! threads, under the pinned `cpu-avx2` numerics profile.
//!
//! This is the claim consensus rests on: two honest workers on different x86-64 CPUs produce the
//! same result bytes. The vectors were recorded on one machine (its CPU is in the file); every
//! machine that runs this test checks that it produces the same bytes. A mismatch is a consensus
//! bug to fix in the canonical form or the profile (docs/determinism.md), never a tolerance.
//!
//! Each configuration runs in a fresh `maskoracle-probe` process, which pins the profile before
//! libtorch starts. `MASKORACLE_WRITE_VECTORS=1` rewrites the file from this machine instead (for
//! a deliberate change of a model or of the canonical form; say why in the commit).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn vectors_path() -> PathBuf {
    common::crate_dir().join("tests/vectors/canonical.json")
}

/// The repository root (the crate's parent: a lexical prefix of the files below it).
fn repo() -> PathBuf {
    common::crate_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| common::crate_dir().join(".."))
}

/// Model directory (relative to the repository) -> the images its vectors cover.
fn cases() -> Vec<(String, Vec<PathBuf>)> {
    let rel = |p: &Path| {
        p.strip_prefix(repo())
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| panic!("{} is outside the repository", p.display()))
    };
    let crate_dir = common::crate_dir();
    let mut shapes = common::files(&crate_dir.join("tests/data/scenes"), &["png"]);
    shapes.extend(common::files(
        &crate_dir.join("tests/data/photos"),
        &["png", "jpg"],
    ));
    let corpus = common::files(&crate_dir.join("tests/data/corpus"), &["png", "jpg"]);
    vec![
        (
            "inference/models/shapes-maskrcnn".to_string(),
            shapes.iter().map(|p| rel(p)).collect(),
        ),
        (
            "inference/models/selfie-segmentation".to_string(),
            corpus.iter().map(|p| rel(p)).collect(),
        ),
    ]
}

/// Runs the probe on `files` and returns file -> (result sha256, status), plus the profile line.
fn probe(
    model: &Path,
    threads: u32,
    files: &[PathBuf],
) -> (BTreeMap<String, (String, String)>, serde_json::Value) {
    let (results, profile) = common::run_probe(
        Command::new(env!("CARGO_BIN_EXE_maskoracle-probe"))
            .current_dir(repo())
            .arg("--model")
            .arg(model)
            .args(["--threads", &threads.to_string()])
            .args(files)
            .env_remove("MASKORACLE_NUMERICS"),
    );
    let map = results
        .iter()
        .map(|r| {
            (
                r["file"].as_str().expect("file").to_string(),
                (
                    r["result_sha256"].as_str().expect("sha").to_string(),
                    r["status"].as_str().expect("status").to_string(),
                ),
            )
        })
        .collect();
    (map, profile["profile"].clone())
}

/// The CPU, as `/proc/cpuinfo` names it, with its family/model and whether it has AVX-512.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let avx512 = field("flags").split_whitespace().any(|f| f == "avx512f");
    format!(
        "{} {} (family {}, model {}; {})",
        field("vendor_id"),
        field("model name"),
        field("cpu family"),
        field("model"),
        if avx512 {
            "AVX2 + AVX-512"
        } else {
            "AVX2, no AVX-512"
        }
    )
}

#[test]
fn canonical_results_equal_the_committed_vectors_on_this_cpu() {
    let writing = std::env::var_os("MASKORACLE_WRITE_VECTORS").is_some_and(|v| v == "1");
    let committed: serde_json::Value = if writing {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(
            &std::fs::read(vectors_path()).expect("tests/vectors/canonical.json"),
        )
        .expect("json")
    };
    let mut written = Vec::new();
    let mut compared = 0usize;
    let mut mismatches = Vec::new();
    for (dir, files) in cases() {
        let model = repo().join(&dir);
        assert!(
            model.join("model.pt").is_file(),
            "shipped model missing at {}",
            model.display()
        );
        assert!(files.len() >= 12, "{dir}: only {} images", files.len());
        let (one, profile) = probe(&model, 1, &files);
        let (two, _) = probe(&model, 2, &files);
        assert_eq!(
            profile["numerics"], "cpu-avx2",
            "the probe pinned the profile"
        );
        assert_eq!(profile["cpu_capability"], "AVX2");
        let model_sha = profile["model_sha256"].as_str().expect("sha").to_string();
        if writing {
            let results: Vec<serde_json::Value> = one
                .iter()
                .map(|(f, (sha, status))| {
                    serde_json::json!({"image": f, "status": status, "result_sha256": sha})
                })
                .collect();
            written.push(
                serde_json::json!({"dir": dir, "model_sha256": model_sha, "results": results}),
            );
            assert_eq!(
                one, two,
                "{dir}: 1 and 2 threads agree before vectors are written"
            );
            continue;
        }
        let entry = committed["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["dir"] == dir.as_str())
            .unwrap_or_else(|| panic!("no vectors for {dir}"));
        assert_eq!(
            entry["model_sha256"], model_sha,
            "{dir}: the vectors are for another model file"
        );
        let want: BTreeMap<String, String> = entry["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                (
                    r["image"].as_str().expect("image").to_string(),
                    r["result_sha256"].as_str().expect("sha").to_string(),
                )
            })
            .collect();
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            one.keys().collect::<Vec<_>>(),
            "{dir}: the vectors cover exactly the committed images"
        );
        for (threads, got) in [(1, &one), (2, &two)] {
            for (file, (sha, _)) in got {
                compared += 1;
                if want.get(file) != Some(sha) {
                    mismatches.push(format!(
                        "{dir} threads={threads} {file}: {sha}, vector {}",
                        want.get(file).map_or("none", String::as_str)
                    ));
                }
            }
        }
    }
    if writing {
        let doc = serde_json::json!({
            "format": 1,
            "numerics": "cpu-avx2",
            "recorded_on": cpu_model(),
            "models": written,
        });
        std::fs::create_dir_all(vectors_path().parent().expect("dir")).expect("mkdir");
        std::fs::write(
            vectors_path(),
            serde_json::to_string_pretty(&doc).expect("json") + "\n",
        )
        .expect("write vectors");
        eprintln!("canonical vectors written to {}", vectors_path().display());
        return;
    }
    eprintln!(
        "canonical vectors: {compared} results compared on {} (vectors recorded on {}), {} differ",
        cpu_model(),
        committed["recorded_on"],
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
