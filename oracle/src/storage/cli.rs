//! `maskoracle ipfs ...`: content storage from the command line.
//!
//! The store is chosen exactly as every other command chooses it: the one configuration
//! resolver ([`crate::config::Config::resolve`]) with the same keys, `MASKORACLE_*` variables and
//! flags (`ipfs.backend` / `MASKORACLE_IPFS__BACKEND` / `--ipfs-backend`, `ipfs.kubo_url` /
//! `MASKORACLE_IPFS__KUBO_URL` / `--kubo-url`, `data_dir` / `MASKORACLE_DATA_DIR` / `--data-dir`),
//! so the `export` line `maskoracle devnet --keep` prints reaches this command too. The store in
//! use is logged before anything is read or written, and storing into an embedded node that exits
//! with the command is warned about (nobody else can fetch from it).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;

use super::cid::{self, ImportParams};
use super::SharedStorage;
use crate::config::{Config, IpfsBackend};

/// Which storage backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The embedded IPFS node (needs the `embedded-ipfs` feature, on by default), repository in
    /// `data_dir/ipfs`.
    Embedded,
    /// A Kubo (or Kubo-compatible, e.g. `maskoracle ipfs serve` or a devnet's) RPC API.
    Kubo,
    /// Trustless HTTP gateways (read only; this command only, not a configuration value).
    Gateway,
}

/// Environment variables earlier versions of this command read; now refused with the name that
/// replaced each, so that a stale shell cannot silently send content to another store.
const RENAMED_ENV: [(&str, &str); 7] = [
    ("MASKORACLE_IPFS_BACKEND", "MASKORACLE_IPFS__BACKEND"),
    ("MASKORACLE_KUBO_API", "MASKORACLE_IPFS__KUBO_URL"),
    (
        "MASKORACLE_IPFS_REPO",
        "MASKORACLE_DATA_DIR (the repository is DATA_DIR/ipfs)",
    ),
    ("MASKORACLE_IPFS_LISTEN", "MASKORACLE_IPFS__LISTEN"),
    ("MASKORACLE_IPFS_PEERS", "MASKORACLE_IPFS__BOOTSTRAP"),
    ("MASKORACLE_IPFS_GATEWAYS", "MASKORACLE_IPFS__GATEWAYS"),
    (
        "MASKORACLE_IPFS_BLOCK_TIMEOUT",
        "MASKORACLE_IPFS__BLOCK_TIMEOUT_S",
    ),
];

/// Where content is stored and read: the configuration's `ipfs.*` keys and `data_dir`, with
/// these flags on top (the same flag names as the chain-facing commands).
#[derive(Clone, Debug, Args, Default)]
pub struct StorageArgs {
    /// TOML config file (default: $MASKORACLE_CONFIG, else ./maskoracle.toml if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Storage backend [config: ipfs.backend; env: MASKORACLE_IPFS__BACKEND; default embedded].
    /// `gateway` (read only) is a flag value only.
    #[arg(long, value_enum)]
    pub ipfs_backend: Option<Backend>,
    /// Kubo RPC URL [config: ipfs.kubo_url; env: MASKORACLE_IPFS__KUBO_URL].
    #[arg(long)]
    pub kubo_url: Option<String>,
    /// Data folder; the embedded node's repository is DATA_DIR/ipfs [config: data_dir; env:
    /// MASKORACLE_DATA_DIR; default .maskoracle].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Listen address of the embedded node, a multiaddr (repeatable) [config: ipfs.listen].
    /// Default here: `serve` uses ipfs.listen, the other subcommands loopback on a free port.
    #[arg(long = "ipfs-listen")]
    pub listen: Vec<String>,
    /// Peer the embedded node dials, `/ip4/.../tcp/.../p2p/<peer id>` (repeatable) [config:
    /// ipfs.bootstrap].
    #[arg(long = "ipfs-bootstrap")]
    pub bootstrap: Vec<String>,
    /// Trustless gateway base URL (repeatable, tried in order) [config: ipfs.gateways].
    #[arg(long = "gateway")]
    pub gateways: Vec<String>,
}

#[derive(Serialize, Default)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    ipfs: serde_json::Map<String, serde_json::Value>,
}

/// The store a command resolved to, for the line that says which one it talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The embedded node with its repository folder.
    Embedded(PathBuf),
    /// A Kubo RPC API.
    Kubo(String),
    /// Trustless gateways.
    Gateway(Vec<String>),
}

impl std::fmt::Display for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolved::Embedded(repo) => write!(
                f,
                "the embedded IPFS node of this process (repository {})",
                repo.display()
            ),
            Resolved::Kubo(url) => write!(f, "the Kubo RPC API at {url}"),
            Resolved::Gateway(g) => write!(f, "the trustless gateways {}", g.join(", ")),
        }
    }
}

impl StorageArgs {
    /// Refuses the environment variables earlier versions read (see [`RENAMED_ENV`]).
    pub fn check_renamed_env() -> anyhow::Result<()> {
        for (old, new) in RENAMED_ENV {
            if std::env::var_os(old).is_some() {
                anyhow::bail!(
                    "{old} is no longer read (it would be ignored and another store used): set {new} instead"
                );
            }
        }
        Ok(())
    }

    /// The configuration with these flags on top; `serve` keeps the configured listen addresses,
    /// the one-shot subcommands listen on loopback unless `--ipfs-listen` is given.
    pub fn resolve(&self, serve: bool) -> anyhow::Result<(Config, Backend)> {
        Self::check_renamed_env()?;
        let mut o = Overrides {
            data_dir: self.data_dir.clone(),
            ..Overrides::default()
        };
        match self.ipfs_backend {
            Some(Backend::Embedded) => {
                o.ipfs.insert("backend".into(), "embedded".into());
            }
            Some(Backend::Kubo) => {
                o.ipfs.insert("backend".into(), "kubo".into());
            }
            Some(Backend::Gateway) | None => {}
        }
        if let Some(u) = &self.kubo_url {
            o.ipfs.insert("kubo_url".into(), u.clone().into());
        }
        if !self.listen.is_empty() {
            o.ipfs
                .insert("listen".into(), serde_json::json!(self.listen));
        } else if !serve {
            // An empty list: loopback on a free port (see `node::open_storage`).
            o.ipfs.insert("listen".into(), serde_json::json!([]));
        }
        if !self.bootstrap.is_empty() {
            o.ipfs
                .insert("bootstrap".into(), serde_json::json!(self.bootstrap));
        }
        if !self.gateways.is_empty() {
            o.ipfs
                .insert("gateways".into(), serde_json::json!(self.gateways));
        }
        let cfg = Config::resolve(self.config.as_deref(), o)?;
        let backend = match (self.ipfs_backend, cfg.ipfs.backend) {
            (Some(Backend::Gateway), _) => Backend::Gateway,
            (_, IpfsBackend::Kubo) => Backend::Kubo,
            (_, IpfsBackend::Embedded) => Backend::Embedded,
        };
        Ok((cfg, backend))
    }

    /// Opens the configured store and says which one it is (a log line on stderr).
    pub async fn open(&self, serve: bool) -> anyhow::Result<(SharedStorage, Resolved)> {
        let (cfg, backend) = self.resolve(serve)?;
        let resolved = match backend {
            Backend::Embedded => Resolved::Embedded(cfg.data_dir.join("ipfs")),
            Backend::Kubo => Resolved::Kubo(cfg.ipfs.kubo_url.clone()),
            Backend::Gateway => Resolved::Gateway(cfg.ipfs.gateways.clone()),
        };
        let storage: SharedStorage = match backend {
            Backend::Gateway => {
                tracing::info!(target: "maskoracle::storage", "content store: {resolved}");
                anyhow::ensure!(
                    !cfg.ipfs.gateways.is_empty(),
                    "--ipfs-backend gateway needs at least one --gateway URL (or ipfs.gateways)"
                );
                let gws: Vec<&str> = cfg.ipfs.gateways.iter().map(String::as_str).collect();
                std::sync::Arc::new(super::gateway::GatewayStorage::new(
                    &gws,
                    Duration::from_secs(cfg.ipfs.block_timeout_s),
                )?)
            }
            Backend::Embedded | Backend::Kubo => crate::node::open_storage(&cfg).await?,
        };
        Ok((storage, resolved))
    }
}

/// A CID, `ipfs://CID`, or a result's `resultSha256` as `0x` + 64 hex digits (the raw-block CIDv1 of
/// that sha256: where every canonical result is stored).
pub fn parse_cid_or_sha256(text: &str) -> anyhow::Result<super::Cid> {
    let t = text.trim();
    if let Some(hex_digits) = t.strip_prefix("0x") {
        let bytes = hex::decode(hex_digits)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                anyhow::anyhow!("{t:?} is not a sha256 (0x followed by 64 hex digits)")
            })?;
        return Ok(cid::raw_cid_from_sha256(&bytes));
    }
    Ok(cid::parse_cid(t)?)
}

/// Says, after a write to the embedded node of this process, that it exits with the command.
fn warn_if_local(resolved: &Resolved, what: &str) {
    if let Resolved::Embedded(repo) = resolved {
        tracing::warn!(
            target: "maskoracle::storage",
            "{what} only in {} and this command's node stops when it exits: no other node can fetch it from here. \
             To publish to a running node use --ipfs-backend kubo --kubo-url URL (a devnet started with --keep prints \
             the MASKORACLE_IPFS__* variables to export), or serve this repository with `maskoracle ipfs serve`",
            repo.display()
        );
    }
}

/// `maskoracle ipfs`: add, read and compute CIDs.
#[derive(Debug, Args)]
pub struct IpfsArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(subcommand)]
    pub command: IpfsCommand,
}

/// Import parameters, as `ipfs add` flags.
#[derive(Clone, Copy, Debug, Args)]
pub struct ImportArgs {
    /// CID version (0 = Kubo's default; 1 implies --raw-leaves).
    #[arg(long, default_value_t = 0)]
    pub cid_version: u8,
    /// Store leaves as raw blocks (default: true with CIDv1, false with CIDv0).
    #[arg(long)]
    pub raw_leaves: Option<bool>,
    /// Store the file as one raw block (results, overlays): CIDv1 raw from its sha256.
    #[arg(long, conflicts_with_all = ["cid_version", "raw_leaves"])]
    pub raw_block: bool,
}

impl ImportArgs {
    fn params(&self) -> ImportParams {
        let base = if self.cid_version == 0 {
            ImportParams::KUBO_V0
        } else {
            ImportParams::KUBO_V1
        };
        ImportParams {
            cid_version: self.cid_version,
            raw_leaves: self.raw_leaves.unwrap_or(base.raw_leaves),
            ..base
        }
    }
}

/// Subcommands of `maskoracle ipfs`.
#[derive(Debug, Subcommand)]
pub enum IpfsCommand {
    /// Print the CID of a file without storing it (like `ipfs add --only-hash`).
    Cid {
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        import: ImportArgs,
    },
    /// Store a file and print its CID.
    Add {
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        import: ImportArgs,
    },
    /// Write the content of a CID to stdout, every block verified.
    Cat {
        /// `CID`, `ipfs://CID`, or a result's `0x<resultSha256>` (its raw-block CIDv1).
        cid: String,
        /// Largest content accepted, in bytes.
        #[arg(long, default_value_t = 256 * 1024 * 1024)]
        max_bytes: u64,
    },
    /// Pin a CID (fetching what is missing).
    Pin {
        /// `CID`, `ipfs://CID`, or a result's `0x<resultSha256>`.
        cid: String,
    },
    /// Serve the backend (normally the embedded node) over a Kubo-compatible RPC API and a
    /// trustless gateway, so that other processes share it (`ipfs.backend = "kubo"`). Prints the
    /// API URL on the first line of stdout, then serves until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:5001")]
        listen: std::net::SocketAddr,
    },
}

/// Runs `maskoracle ipfs ...`, writing results to stdout.
pub async fn run(args: IpfsArgs) -> anyhow::Result<()> {
    let mut out = tokio::io::stdout();
    run_to(args, &mut out).await?;
    out.flush().await?;
    Ok(())
}

/// Runs `maskoracle ipfs ...`, writing results to `out`.
pub async fn run_to<W: tokio::io::AsyncWrite + Unpin + Send>(
    args: IpfsArgs,
    out: &mut W,
) -> anyhow::Result<()> {
    match args.command {
        IpfsCommand::Cid { file, import } => {
            let data = tokio::fs::read(&file)
                .await
                .with_context(|| format!("reading {}", file.display()))?;
            let c = if import.raw_block {
                cid::raw_cid(&data)
            } else {
                cid::import(&data, &import.params())?.root
            };
            out.write_all(format!("{c}\n").as_bytes()).await?;
        }
        IpfsCommand::Add { file, import } => {
            let data = Bytes::from(
                tokio::fs::read(&file)
                    .await
                    .with_context(|| format!("reading {}", file.display()))?,
            );
            let (storage, resolved) = args.storage.open(false).await?;
            let c = if import.raw_block {
                storage.put_raw(data).await?
            } else {
                storage.put(data, import.params()).await?
            };
            warn_if_local(&resolved, &format!("{c} is stored"));
            out.write_all(format!("{c}\n").as_bytes()).await?;
        }
        IpfsCommand::Cat {
            cid: text,
            max_bytes,
        } => {
            let c = parse_cid_or_sha256(&text)?;
            let (storage, _) = args.storage.open(false).await?;
            let data = storage.get(&c, max_bytes).await?;
            out.write_all(&data).await?;
        }
        IpfsCommand::Pin { cid: text } => {
            let c = parse_cid_or_sha256(&text)?;
            let (storage, resolved) = args.storage.open(false).await?;
            storage.pin(&c).await?;
            warn_if_local(&resolved, &format!("{c} is pinned"));
            out.write_all(format!("pinned {c}\n").as_bytes()).await?;
        }
        IpfsCommand::Serve { listen } => {
            let (storage, _) = args.storage.open(true).await?;
            let (addr, handle) =
                super::rpc_server::serve(storage, listen, crate::shutdown::signal()).await?;
            out.write_all(format!("http://{addr}\n").as_bytes()).await?;
            out.flush().await?;
            tracing::info!(target: "maskoracle::storage", %addr, "serving the Kubo RPC API and a trustless gateway");
            handle.await??;
        }
    }
    Ok(())
}
