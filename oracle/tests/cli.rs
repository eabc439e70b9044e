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

/// A second `maskoracle devnet` on the folder of a running one (e.g. `make demo` while a
/// `devnet --keep` network runs) refuses before it touches anything, and says why; once the
/// first one is gone (its lock goes with its process), the folder is free again.
#[test]
fn a_second_devnet_refuses_to_wipe_a_running_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("devnet");
    std::fs::create_dir_all(out.join("ipfs")).expect("mkdir");
    std::fs::write(
        out.join("ipfs/blocks.db"),
        b"the running devnet's repository",
    )
    .expect("write");
    std::fs::write(out.join("deployment.json"), b"{}").expect("write");
    let running = maskoracle::devnet::lock_run_dir(&out).expect("the first devnet's lock");
    let o = maskoracle()
        .current_dir(root())
        .args(["devnet", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains("another devnet is running in")
            && stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(out.join("ipfs/blocks.db")).expect("still there"),
        b"the running devnet's repository"
    );
    assert!(out.join("deployment.json").exists());
    drop(running);
    let again = maskoracle::devnet::lock_run_dir(&out).expect("free once the first is gone");
    drop(again);
}

/// What `maskoracle ipfs` reads to choose its store: the names every command reads (so the
/// `export` line of `devnet --keep` reaches it, see `a_file_added_with_the_keep_environment…`),
/// and never the names earlier versions read, which are refused instead of silently ignored.
#[test]
fn ipfs_refuses_the_environment_names_it_no_longer_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"hello").expect("write");
    for (old, new) in [
        ("MASKORACLE_KUBO_API", "MASKORACLE_IPFS__KUBO_URL"),
        ("MASKORACLE_IPFS_BACKEND", "MASKORACLE_IPFS__BACKEND"),
    ] {
        let o = maskoracle()
            .current_dir(dir.path())
            .args(["ipfs", "add"])
            .arg(&file)
            .env(old, "kubo")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{old}: {stderr}");
        assert!(stderr.contains(old) && stderr.contains(new), "{stderr}");
        assert!(o.stdout.is_empty(), "no CID printed");
    }
}

/// `maskoracle ipfs add` run with exactly the environment `maskoracle devnet --keep` prints
/// stores into that devnet's IPFS node (here: an embedded node served through the same
/// Kubo-compatible RPC facade the devnet serves), says so, and the node has the content.
#[cfg(feature = "embedded-ipfs")]
#[tokio::test]
async fn a_file_added_with_the_keep_environment_reaches_the_devnets_node() {
    use maskoracle::storage::embedded::{EmbeddedConfig, EmbeddedNode};
    let dir = tempfile::tempdir().expect("tempdir");
    let node: maskoracle::storage::SharedStorage = std::sync::Arc::new(
        EmbeddedNode::start(EmbeddedConfig::loopback(dir.path().join("devnet-ipfs")))
            .await
            .expect("node"),
    );
    let (addr, _server) = maskoracle::storage::rpc_server::serve(
        node.clone(),
        "127.0.0.1:0".parse().expect("addr"),
        std::future::pending(),
    )
    .await
    .expect("facade");
    let kubo = format!("http://{addr}");
    let file = dir.path().join("photo.bin");
    let content = b"an image the devnet's workers must be able to fetch".repeat(100);
    std::fs::write(&file, &content).expect("write");
    let env = maskoracle::devnet::keep_env(
        "http://127.0.0.1:1",
        &dir.path().join("deployment.json"),
        &kubo,
        &dir.path().join("client"),
    );
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_maskoracle"))
        .current_dir(dir.path())
        .args(["ipfs", "add", "--cid-version", "1"])
        .arg(&file)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("MASKORACLE_CONFIG")
        .output()
        .await
        .expect("runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("content store: the Kubo RPC API at {kubo}")),
        "{stderr}"
    );
    let cid = maskoracle::storage::cid::parse_cid(String::from_utf8_lossy(&o.stdout).trim())
        .expect("a CID on stdout");
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), node.get(&cid, 1 << 20))
        .await
        .expect("in the devnet's node at once")
        .expect("readable");
    assert_eq!(got.as_ref(), content.as_slice());
    // No embedded node of its own was started in the working folder.
    assert!(!dir.path().join(".maskoracle").exists());
}
