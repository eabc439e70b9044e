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

/// Every stderr line of `--log-format json` is one JSON object with the documented keys.
#[test]
fn json_log_lines_are_valid_json_from_the_flag_the_env_and_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("maskoracle.toml");
    std::fs::write(&cfg, "log_format = \"json\"\n").expect("config");
    type Run<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let runs: [Run; 3] = [
        ("flag", vec!["--log-format", "json"], vec![]),
        ("env", vec![], vec![("MASKORACLE_LOG_FORMAT", "json")]),
        (
            "config",
            vec![],
            vec![("MASKORACLE_CONFIG", cfg.to_str().expect("utf-8"))],
        ),
    ];
    for (how, flags, env) in runs {
        let out = maskoracle()
            .args(&flags)
            .args(["--log", "debug", "doctor", "--json"])
            .env_remove("RUST_LOG")
            .env_remove("MASKORACLE_LOG_FORMAT")
            .env_remove("MASKORACLE_CONFIG")
            .envs(env)
            .current_dir(dir.path())
            .output()
            .expect("runs");
        assert!(out.status.success(), "{how}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{how}: no log line");
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{how}: not JSON ({e}): {line}"));
            assert!(
                v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
                "{line}"
            );
            assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
            assert!(v["fields"]["message"].is_string(), "{line}");
        }
        assert!(
            lines.iter().any(|l| l.contains("\"allocator tuning\"")),
            "{how}: the debug line of main is there: {stderr}"
        );
        // stdout stays the command's result.
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("doctor json");
    }
    // Without any of them: text lines.
    let out = maskoracle()
        .args(["--log", "debug", "doctor", "--json"])
        .env_remove("RUST_LOG")
        .env_remove("MASKORACLE_LOG_FORMAT")
        .env_remove("MASKORACLE_CONFIG")
        .current_dir(dir.path().join(".."))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("allocator tuning") && !l.starts_with('{')),
        "{stderr}"
    );
}

/// A deployment record for chain 31337 whose RPC endpoint is down: `worker status` then has
/// only local sources.
fn offline_worker(dir: &std::path::Path) -> Command {
    let record = dir.join("deployment.json");
    let a = "0x00000000000000000000000000000000000000aa";
    std::fs::write(
        &record,
        serde_json::json!({
            "chainId": 31337, "deployBlock": 1, "token": a, "modelRegistry": a,
            "workerRegistry": a, "taskHub": "0x00000000000000000000000000000000000000bb",
            "exampleConsumer": a,
        })
        .to_string(),
    )
    .expect("record");
    let mut cmd = maskoracle();
    cmd.env("MASKORACLE_RPC_URL", "http://127.0.0.1:9")
        .env("MASKORACLE_DEPLOYMENT", &record)
        .env("MASKORACLE_DATA_DIR", dir.join("data"))
        .env_remove("MASKORACLE_CONFIG")
        .env_remove("MASKORACLE_WORKER__METRICS_LISTEN")
        .args(["worker", "--dev-account", "1"]);
    cmd
}

fn status_json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("status json")
}

/// `worker status` reads the state file read-only while another process (this test, as the
/// daemon would) holds it open for writing.
#[test]
fn worker_status_reads_the_state_file_while_a_writer_holds_it() {
    use maskoracle::state::{StateStore, TaskPhase, TaskRecord};
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    let store = StateStore::open(
        &dir.path().join("data/state.redb"),
        "31337/0x00000000000000000000000000000000000000bb",
    )
    .expect("open for writing");
    store.set_cursor(42).expect("cursor");
    let mut k = [0u8; 32];
    for (n, phase) in [
        (1u8, TaskPhase::CommitSent),
        (2, TaskPhase::Done),
        (3, TaskPhase::Done),
    ] {
        k[31] = n;
        let r = TaskRecord {
            phase,
            ..TaskRecord::seen(40)
        };
        store.put_task(&k, &r, None).expect("put");
    }
    let v = status_json(
        &offline_worker(dir.path())
            .args(["status", "--json"])
            .output()
            .expect("runs"),
    );
    assert_eq!(v["source"], "state-file", "{v:#}");
    assert_eq!(v["state"]["cursor"], 42, "{v:#}");
    assert_eq!(
        v["state"]["schema_version"],
        maskoracle::state::SCHEMA_VERSION,
        "{v:#}"
    );
    assert_eq!(v["tasks"]["commit-sent"], 1, "{v:#}");
    assert_eq!(v["tasks"]["done"], 2, "{v:#}");
    assert!(v["daemon_error"].is_string(), "{v:#}");
    assert!(v["chain_error"].is_string(), "{v:#}");
    // The writer still works after the reader came and went.
    store.set_cursor(43).expect("still writable");
}

/// With a daemon's endpoint answering, `worker status` shows its snapshot.
#[tokio::test]
async fn worker_status_asks_the_daemon_endpoint_first() {
    use maskoracle::metrics::{Metrics, StatusSnapshot};
    let m = Metrics::new();
    m.set_status(StatusSnapshot {
        drain: true,
        tasks_by_phase: [("reveal-sent".to_owned(), 1)].into(),
        next_reveal_task: Some("9".into()),
        ..StatusSnapshot::default()
    });
    m.set_sync(30, 29);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = m.clone().router(std::time::Duration::from_secs(60));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = offline_worker(dir.path());
    // Found through worker.metrics_listen, as a configured operator machine would.
    cmd.env("MASKORACLE_WORKER__METRICS_LISTEN", addr.to_string())
        .args(["status", "--json"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("join");
    let v = status_json(&out);
    assert_eq!(v["source"], "daemon", "{v:#}");
    assert_eq!(v["daemon"]["snapshot"]["drain"], true, "{v:#}");
    assert_eq!(v["daemon"]["head_block"], 30, "{v:#}");
    assert_eq!(v["daemon"]["health"]["healthy"], true, "{v:#}");
    assert_eq!(
        v["tasks"]["reveal-sent"], 1,
        "no state file: tasks from the daemon: {v:#}"
    );
    assert!(
        v["state_error"]
            .as_str()
            .is_some_and(|e| e.contains("no state file")),
        "{v:#}"
    );
}
