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
