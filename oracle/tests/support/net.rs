//! A whole MaskOracle network for integration tests: the library's [`LocalNet`] (a real anvil
//! with sub-second blocks, the real contracts deployed by the real deploy script, one embedded
//! IPFS node shared through the Kubo-compatible RPC facade, the shipped model registered, workers
//! staked and opted in) with the binary under test for the worker processes, requests and audits.
//! This layer only panics where the library returns errors (a failed set-up fails the test) and
//! keeps the tests' numeric views of the states.

#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use maskoracle::localnet::{LocalNet, Mining};
use tokio::process::Command;

pub use maskoracle::localnet::Exit;

/// Integration tests run one network at a time (each runs several libtorch workers).
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the one-network-at-a-time lock (a failed test does not poison it for the others).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Workspace root (forge runs there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The shipped model directory.
pub fn model_dir() -> PathBuf {
    root().join("inference/models/shapes-maskrcnn")
}

/// A bundled test scene.
pub fn scene(n: u32) -> PathBuf {
    root().join(format!("inference/tests/data/scenes/scene_9001_{n:04}.png"))
}

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_maskoracle")
}

/// The network: a [`LocalNet`] (its fields and methods through `Deref`) in a temporary folder.
pub struct Net {
    /// The library's network (dropped first: processes stop before the folder goes).
    pub net: LocalNet,
    /// Temporary folder: logs, worker state, outputs.
    pub dir: tempfile::TempDir,
}

impl Deref for Net {
    type Target = LocalNet;
    fn deref(&self) -> &LocalNet {
        &self.net
    }
}

impl DerefMut for Net {
    fn deref_mut(&mut self) -> &mut LocalNet {
        &mut self.net
    }
}

/// What `Net::start` sets up.
pub struct Setup {
    /// Workers (dev accounts 1..=n) staked and opted in.
    pub workers: u32,
    /// Block time in seconds; 0 for automine (a block per transaction).
    pub block_time: f64,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            workers: 3,
            block_time: 0.25,
        }
    }
}

impl Net {
    /// Starts anvil, deploys, starts the IPFS node, registers the model, stakes the workers.
    pub async fn start(setup: Setup) -> Net {
        let dir = tempfile::tempdir().expect("tempdir");
        let mining = if setup.block_time > 0.0 {
            Mining::Interval(setup.block_time)
        } else {
            Mining::Auto
        };
        let net = LocalNet::builder(dir.path())
            .root(root())
            .mining(mining)
            .model(model_dir())
            .workers(setup.workers)
            .binary(bin())
            .build()
            .await
            .unwrap_or_else(|e| panic!("local network: {e}"));
        Net { net, dir }
    }

    /// A `maskoracle` command with this network's settings in the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.net.cmd(args).expect("a binary is set")
    }

    /// Runs a command to completion; returns stdout; panics with stderr on failure.
    pub async fn ok(&self, args: &[&str]) -> String {
        self.net.ok(args).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs a command and returns (success, stdout, stderr).
    pub async fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        self.net.try_run(args).await.expect("run maskoracle")
    }

    /// Address of dev account `i`.
    pub fn addr(i: u32) -> Address {
        LocalNet::addr(i)
    }

    /// Starts worker `i` (dev account `i`) with extra flags; its log is appended to a file.
    pub fn spawn_worker(&mut self, i: u32, extra: &[&str]) {
        self.net.spawn_worker(i, extra).expect("spawn worker");
    }

    /// SIGKILLs worker `i`.
    pub async fn kill_worker(&mut self, i: u32) {
        self.net.kill_worker(i).await.expect("kill");
    }

    /// Sends SIGTERM to worker `i` and waits for it to exit.
    pub async fn stop_worker(&mut self, i: u32) -> std::process::ExitStatus {
        match self.net.stop_worker(i).await {
            Ok(Exit::Process(st)) => st,
            Ok(other) => panic!("worker {i} was not a process: {other:?}"),
            Err(e) => panic!("{e}"),
        }
    }

    /// Polls `f` until it returns `Some`, or panics after `timeout` with the worker logs.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        match self.net.wait_for(what, timeout, f).await {
            Ok(v) => v,
            Err(e) => panic!("{e}\n{}", self.logs()),
        }
    }

    /// Contribution state (0 none, 1 drawn, 2 committed, 3 revealed) of `worker` in `task`.
    pub async fn contribution(&self, task: U256, worker: Address) -> u8 {
        self.net
            .contribution(task, worker)
            .await
            .map(|s| s.code())
            .unwrap_or(0)
    }

    /// Task status code.
    pub async fn status(&self, task: U256) -> u8 {
        self.net.status(task).await.expect("taskState").code()
    }

    /// Hub balance of `a`.
    pub async fn balance(&self, a: Address) -> U256 {
        self.net.balance(a).await.expect("balanceOf")
    }

    /// The id of the last task.
    pub async fn last_task(&self) -> U256 {
        self.net.last_task().await.expect("taskCount")
    }

    /// `maskoracle audit --json` (it exits non-zero when problems are found).
    pub async fn audit(&self, extra: &[&str]) -> (bool, serde_json::Value) {
        self.net
            .audit(extra)
            .await
            .unwrap_or_else(|e| panic!("audit: {e}"))
    }
}

/// A TCP proxy in front of the RPC endpoint that can be taken down and brought back on the same
/// port (the library's [`maskoracle::localnet::Proxy`]).
pub struct Proxy(maskoracle::localnet::Proxy);

impl Deref for Proxy {
    type Target = maskoracle::localnet::Proxy;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Proxy {
    /// Proxies to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Proxy {
        Proxy(
            maskoracle::localnet::Proxy::start(target)
                .await
                .expect("bind"),
        )
    }
}
