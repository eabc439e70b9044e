//! Determinism: the canonical digest of the shipped model's results is identical across intra-op
//! thread counts (1, 2) and CPU code paths (`ATEN_CPU_CAPABILITY=default|avx2|avx512`, with the
//! matching `ONEDNN_MAX_CPU_ISA`; avx512 only where the CPU has it), on >= 30 images including
//! photos. Each configuration runs in a fresh `maskoracle-probe` process, since libtorch reads
//! these variables when it starts. The agreement rate is printed.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use image::imageops::FilterType;

/// Writes the corpus: the photos, flipped and downscaled copies of them, the held-out scenes
/// and a few generated patterns. Returns the file paths.
fn corpus(tmp: &Path) -> Vec<PathBuf> {
    let photos = common::files(
        &common::crate_dir().join("tests/data/photos"),
        &["jpg", "png"],
    );
    let mut files = photos.clone();
    for p in &photos {
        let img = image::open(p).expect("photo decodes").fliph();
        let small = img.resize(160, 160, FilterType::Triangle);
        let out = tmp.join(format!(
            "flipped-{}.png",
            p.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
        ));
        small.save(&out).expect("write variant");
        files.push(out);
    }
    files.extend(common::files(&common::scenes_dir(), &["png"]));
    for i in 0..8u32 {
        let img = image::RgbImage::from_fn(200 + 24 * i, 150 + 10 * i, |x, y| {
            let inside =
                ((x as i64 - 90).pow(2) + (y as i64 - 70).pow(2)) < (40 + 5 * i as i64).pow(2);
            if inside {
                image::Rgb([220, 40 + 30 * i as u8, 30])
            } else {
                image::Rgb([((x * (3 + i)) % 256) as u8, ((y * 5) % 256) as u8, 90])
            }
        });
        let out = tmp.join(format!("pattern-{i}.png"));
        img.save(&out).expect("write pattern");
        files.push(out);
    }
    files
}

fn cpu_has_avx512() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| {
            ["avx512f", "avx512bw", "avx512vl", "avx512dq"]
                .iter()
                .all(|f| c.contains(f))
        })
        .unwrap_or(false)
}

#[test]
fn digests_agree_across_threads_and_cpu_capabilities() {
    let model = common::shipped_instance();
    assert!(
        model.join("model.pt").is_file(),
        "shipped model missing at {}",
        model.display()
    );
    let tmp = std::env::temp_dir().join(format!("mo-determinism-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let files = corpus(&tmp);
    assert!(files.len() >= 30, "corpus has {} images", files.len());
    let mut caps = vec![("default", "SSE41"), ("avx2", "AVX2")];
    if cpu_has_avx512() {
        caps.push(("avx512", "AVX512_CORE"));
    }
    // file -> configuration -> digest
    let mut digests: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (cap, isa) in &caps {
        for threads in [1, 2] {
            let out = Command::new(env!("CARGO_BIN_EXE_maskoracle-probe"))
                .arg("--model")
                .arg(&model)
                .args(["--threads", &threads.to_string()])
                .args(&files)
                .env("ATEN_CPU_CAPABILITY", cap)
                .env("ONEDNN_MAX_CPU_ISA", isa)
                .output()
                .expect("probe runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<serde_json::Value> = stdout
                .lines()
                .map(|l| serde_json::from_str(l).expect("json line"))
                .collect();
            let (profile, results) = lines.split_last().expect("lines");
            let got_cap = profile["profile"]["cpu_capability"]
                .as_str()
                .expect("capability");
            assert_eq!(
                got_cap.to_ascii_lowercase(),
                *cap,
                "ATEN_CPU_CAPABILITY took effect"
            );
            assert_eq!(profile["profile"]["intra_op_threads"], threads);
            let config = format!("{cap}/{threads}t");
            for r in results {
                assert_eq!(r["status"], "Ok", "{r}");
                digests
                    .entry(r["file"].as_str().expect("file").to_string())
                    .or_default()
                    .insert(
                        config.clone(),
                        r["digest"].as_str().expect("digest").to_string(),
                    );
            }
        }
    }
    let configs = caps.len() * 2;
    let mut disagree = Vec::new();
    for (file, by_config) in &digests {
        assert_eq!(by_config.len(), configs);
        let first = by_config.values().next().expect("a digest");
        if by_config.values().any(|d| d != first) {
            disagree.push(format!("{file}: {by_config:?}"));
        }
    }
    let agree = digests.len() - disagree.len();
    eprintln!(
        "determinism: {agree}/{} images agree across {configs} configurations ({}) = {:.1}%",
        digests.len(),
        caps.iter().map(|c| c.0).collect::<Vec<_>>().join(", "),
        100.0 * agree as f64 / digests.len() as f64
    );
    std::fs::remove_dir_all(&tmp).ok();
    assert!(disagree.is_empty(), "{disagree:#?}");
}
