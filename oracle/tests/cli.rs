//! Integration tests of the `maskoracle` command line.

use std::process::Command;

fn maskoracle() -> Command {
    Command::new(env!("CARGO_BIN_EXE_maskoracle"))
}

#[test]
fn doctor_json_reports_working_libtorch() {
    let out = maskoracle()
        .args(["doctor", "--json"])
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(v["libtorch_check"], 285);
    assert!(v["intra_op_threads"].as_i64().expect("thread count") >= 1);
}

#[test]
fn unknown_subcommand_fails_with_usage() {
    let out = maskoracle().arg("no-such-command").output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `maskoracle segment` on a real photo with the shipped semantic model: the person is found,
/// the overlay is written, and the process ran on the pinned numerics profile.
#[test]
fn segment_finds_the_person_in_a_photo_with_the_selfie_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let overlay = dir.path().join("overlay.png");
    let out = maskoracle()
        .current_dir(root())
        .args([
            "segment",
            "inference/tests/data/photos/astronaut.png",
            "--model",
            "inference/models/selfie-segmentation",
            "--json",
            "--out",
        ])
        .arg(&overlay)
        .env_remove("MASKORACLE_NUMERICS")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(v["status"], "Ok");
    assert_eq!(v["model"], "selfie-segmentation");
    assert_eq!(v["profile"]["numerics"], "cpu-avx2");
    assert_eq!(v["profile"]["cpu_capability"], "AVX2");
    let dets = v["detections"].as_array().expect("detections");
    let person = dets
        .iter()
        .max_by_key(|d| d["mask_area"].as_u64())
        .expect("a detection");
    assert_eq!(person["name"], "person");
    // The astronaut fills about half of the portrait (LiteRT, the original runtime: 54.5 % of
    // the pixels above 0.5).
    let (w, h) = (
        v["width"].as_u64().expect("width"),
        v["height"].as_u64().expect("height"),
    );
    let area = person["mask_area"].as_u64().expect("area");
    let share = area as f64 / (w * h) as f64;
    assert!(
        (0.45..0.65).contains(&share),
        "person mask covers {share:.3}"
    );
    let img = maskoracle_inference::image::open(&overlay).expect("overlay decodes");
    assert_eq!((u64::from(img.width()), u64::from(img.height())), (w, h));
}
