//! A whole MaskOracle network for integration tests: a real anvil (sub-second blocks), the real
//! contracts deployed by the real deploy script, one embedded IPFS node shared through the
//! Kubo-compatible RPC facade, the shipped model registered, workers staked and opted in, and
//! `maskoracle` processes (the binary under test) for the workers, requests and audits.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, U256};
use maskoracle::chain::{read_provider, Contracts, Deployment};
use maskoracle::storage::embedded::{EmbeddedConfig, EmbeddedNode};
use maskoracle::storage::SharedStorage;
use tokio::process::{Child, Command};

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

/// The network.
pub struct Net {
    /// Temporary folder: logs, worker state, outputs.
    pub dir: tempfile::TempDir,
    /// anvil (killed on drop).
    pub anvil: AnvilInstance,
    /// RPC URL the processes use (anvil's, or a proxy's).
    pub rpc: String,
    /// Deployment record path.
    pub record: PathBuf,
    /// Kubo-compatible RPC URL of the shared IPFS node.
    pub kubo: String,
    /// The shared node.
    pub storage: SharedStorage,
    /// Contract handles (read-only).
    pub c: Contracts,
    /// Registered model id.
    pub model: u32,
    /// RPC URL given to workers instead of `rpc` (e.g. a [`Proxy`]).
    pub worker_rpc: Option<String>,
    /// Extra environment for worker processes.
    pub worker_env: Vec<(String, String)>,
    workers: Vec<(u32, Option<Child>)>,
    stop_ipfs: Option<tokio::sync::oneshot::Sender<()>>,
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
        let anvil = if setup.block_time > 0.0 {
            Anvil::new().block_time_f64(setup.block_time).spawn()
        } else {
            Anvil::new().spawn()
        };
        let rpc = anvil.endpoint();
        let name = format!("31337-test-{}-{}.json", std::process::id(), anvil.port());
        let status = std::process::Command::new("forge")
            .current_dir(root())
            .args([
                "script",
                "deploy/Deploy.s.sol",
                "--rpc-url",
                &rpc,
                "--broadcast",
                "--silent",
            ])
            .args([
                "--private-key",
                "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
            ])
            .env("MASKORACLE_DEVNET", "true")
            .env("MASKORACLE_RECORD_NAME", &name)
            .stdout(Stdio::null())
            .status()
            .expect("forge on PATH (source .toolchain/env.sh)");
        assert!(status.success(), "deploy script failed");
        // Keep the record beside the logs; the one under deploy/records is removed.
        let src = root().join("deploy/records").join(&name);
        let record = dir.path().join("deployment.json");
        std::fs::copy(&src, &record).expect("copy record");
        let _ = std::fs::remove_file(&src);

        let node = EmbeddedNode::start(EmbeddedConfig::loopback(dir.path().join("ipfs")))
            .await
            .expect("embedded IPFS node");
        let storage: SharedStorage = Arc::new(node);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr, _h) = maskoracle::storage::rpc_server::serve(
            storage.clone(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
        .expect("IPFS RPC facade");
        let kubo = format!("http://{addr}");
        let deployment = Deployment::load(&record).expect("record");
        let c = Contracts::connect(deployment, read_provider(&rpc).expect("provider"))
            .await
            .expect("contracts");
        let mut net = Net {
            dir,
            anvil,
            rpc,
            record,
            kubo,
            storage,
            c,
            model: 0,
            worker_rpc: None,
            worker_env: Vec::new(),
            workers: Vec::new(),
            stop_ipfs: Some(stop_tx),
        };
        let out = net
            .ok(&[
                "model",
                "register",
                model_dir().to_str().expect("utf-8"),
                "--json",
                "--dev-account",
                "0",
            ])
            .await;
        let v: serde_json::Value =
            serde_json::from_str(out.lines().last().unwrap_or_default()).expect("register json");
        net.model = v["model_id"].as_u64().expect("model id") as u32;
        for i in 1..=setup.workers {
            net.ok(&["worker", "--dev-account", &i.to_string(), "stake", "1000"])
                .await;
            net.ok(&[
                "worker",
                "--dev-account",
                &i.to_string(),
                "opt-in",
                "--model",
                &net.model.to_string(),
            ])
            .await;
        }
        net
    }

    /// A `maskoracle` command with this network's settings in the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("MASKORACLE_RPC_URL", &self.rpc)
            .env("MASKORACLE_DEPLOYMENT", &self.record)
            .env("MASKORACLE_IPFS__BACKEND", "kubo")
            .env("MASKORACLE_IPFS__KUBO_URL", &self.kubo)
            .env("MASKORACLE_DATA_DIR", self.dir.path().join("client"))
            .env("MASKORACLE_WORKER__POLL_INTERVAL_MS", "100")
            .env("MASKORACLE_WORKER__RECEIPT_TIMEOUT_S", "10")
            .env("MASKORACLE_LOG", "info")
            .env_remove("MASKORACLE_CONFIG")
            .kill_on_drop(true);
        cmd
    }

    /// Runs a command to completion; returns stdout; panics with stderr on failure.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().await.expect("run maskoracle");
        assert!(
            out.status.success(),
            "maskoracle {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command and returns (success, stdout, stderr).
    pub async fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(args).output().await.expect("run maskoracle");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Address of dev account `i`.
    pub fn addr(i: u32) -> Address {
        maskoracle::keys::dev_signer(i, 31337)
            .expect("dev key")
            .address()
    }

    /// The worker's state folder.
    pub fn worker_dir(&self, i: u32) -> PathBuf {
        self.dir.path().join(format!("worker{i}"))
    }

    /// The worker's log file.
    pub fn worker_log(&self, i: u32) -> PathBuf {
        self.dir.path().join(format!("worker{i}.log"))
    }

    /// Starts worker `i` (dev account `i`) with extra flags; its log is appended to a file.
    pub fn spawn_worker(&mut self, i: u32, extra: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.worker_log(i))
            .expect("log file");
        let mut args = vec!["worker".to_owned(), "--dev-account".into(), i.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.cmd(&refs);
        if let Some(rpc) = &self.worker_rpc {
            cmd.env("MASKORACLE_RPC_URL", rpc);
        }
        cmd.envs(
            self.worker_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        cmd.env("MASKORACLE_DATA_DIR", self.worker_dir(i))
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let child = cmd.spawn().expect("spawn worker");
        self.workers.push((i, Some(child)));
    }

    /// SIGKILLs worker `i`.
    pub async fn kill_worker(&mut self, i: u32) {
        for (w, child) in &mut self.workers {
            if *w == i {
                if let Some(mut c) = child.take() {
                    c.kill().await.expect("kill");
                }
            }
        }
    }

    /// Sends SIGTERM to worker `i` and waits for it to exit.
    pub async fn stop_worker(&mut self, i: u32) -> std::process::ExitStatus {
        for (w, child) in &mut self.workers {
            if *w == i {
                if let Some(mut c) = child.take() {
                    let pid = c.id().expect("pid");
                    let _ = std::process::Command::new("kill")
                        .args(["-TERM", &pid.to_string()])
                        .status();
                    return tokio::time::timeout(Duration::from_secs(90), c.wait())
                        .await
                        .expect("worker stops within 90 s")
                        .expect("wait");
                }
            }
        }
        panic!("worker {i} not running");
    }

    /// Every worker log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, _) in &self.workers {
            let text = std::fs::read_to_string(self.worker_log(*i)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("---- worker {i} (last lines) ----\n"));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Polls `f` until it returns `Some`, or panics after `timeout` with the worker logs.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Contribution state (0 none, 1 drawn, 2 committed, 3 revealed) of `worker` in `task`.
    pub async fn contribution(&self, task: U256, worker: Address) -> u8 {
        let cs = self
            .c
            .hub
            .contributions(task)
            .call()
            .await
            .unwrap_or_default();
        cs.iter()
            .find(|c| c.worker == worker)
            .map(|c| c.state)
            .unwrap_or(0)
    }

    /// Task status code.
    pub async fn status(&self, task: U256) -> u8 {
        self.c
            .hub
            .taskState(task)
            .call()
            .await
            .expect("taskState")
            .status
    }

    /// Hub balance of `a`.
    pub async fn balance(&self, a: Address) -> U256 {
        self.c.hub.balanceOf(a).call().await.expect("balanceOf")
    }

    /// The id of the last task.
    pub async fn last_task(&self) -> U256 {
        self.c.hub.taskCount().call().await.expect("taskCount")
    }

    /// `maskoracle audit --json` (it exits non-zero when problems are found).
    pub async fn audit(&self, extra: &[&str]) -> (bool, serde_json::Value) {
        let mut args = vec!["audit", "--json"];
        args.extend_from_slice(extra);
        let (ok, out, err) = self.try_run(&args).await;
        let v =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("audit json: {e}\n{out}\n{err}"));
        (ok, v)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for (_, child) in &mut self.workers {
            if let Some(c) = child.as_mut() {
                let _ = c.start_kill();
            }
        }
        if let Some(s) = self.stop_ipfs.take() {
            let _ = s.send(());
        }
    }
}

/// A TCP proxy in front of the RPC endpoint that can be taken down (listener closed, every
/// connection cut) and brought back on the same port: an RPC outage as a worker sees it.
pub struct Proxy {
    /// `http://127.0.0.1:port` of the proxy.
    pub url: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    /// Proxies to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Proxy {
        use tokio::net::{TcpListener, TcpStream};
        let first = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = first.local_addr().expect("addr");
        let (up, mut rx) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            let mut listener = Some(first);
            let mut conns = tokio::task::JoinSet::new();
            loop {
                if *rx.borrow_and_update() {
                    if listener.is_none() {
                        match TcpListener::bind(addr).await {
                            Ok(l) => listener = Some(l),
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                continue;
                            }
                        }
                    }
                    let Some(l) = listener.as_ref() else { continue };
                    tokio::select! {
                        acc = l.accept() => {
                            if let Ok((mut inbound, _)) = acc {
                                conns.spawn(async move {
                                    if let Ok(mut out) = TcpStream::connect(("127.0.0.1", target)).await {
                                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                                    }
                                });
                            }
                        }
                        changed = rx.changed() => if changed.is_err() { break },
                    }
                } else {
                    listener = None;
                    conns.abort_all();
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }
        });
        Proxy {
            url: format!("http://{addr}"),
            up,
        }
    }

    /// Takes the endpoint down (`false`) or brings it back (`true`).
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}
