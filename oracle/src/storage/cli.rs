//! `maskoracle ipfs ...`: content storage from the command line.
//!
//! To wire it (in `cli.rs`): add `Ipfs(crate::storage::cli::IpfsArgs)` to `Command` (doc
//! comment: "Content storage: add, cat and CID computation over IPFS") and
//! `Command::Ipfs(args) => crate::storage::cli::run(args).await` to `run`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use tokio::io::AsyncWriteExt as _;

use super::cid::{self, ImportParams};
use super::SharedStorage;

/// Which storage backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The embedded IPFS node (needs the `embedded-ipfs` feature, on by default).
    Embedded,
    /// A Kubo (or Kubo-compatible) RPC API.
    Kubo,
    /// Trustless HTTP gateways (read only).
    Gateway,
}

/// Where content is stored and read. Shared by every command that touches IPFS.
#[derive(Clone, Debug, Args)]
pub struct StorageArgs {
    /// Storage backend.
    #[arg(
        long,
        env = "MASKORACLE_IPFS_BACKEND",
        value_enum,
        default_value = "embedded"
    )]
    pub backend: Backend,
    /// Repository folder of the embedded node.
    #[arg(long, env = "MASKORACLE_IPFS_REPO", default_value = ".maskoracle/ipfs")]
    pub repo: PathBuf,
    /// Listen address of the embedded node (multiaddr; repeatable).
    #[arg(
        long = "listen",
        env = "MASKORACLE_IPFS_LISTEN",
        default_value = "/ip4/127.0.0.1/tcp/0"
    )]
    pub listen: Vec<String>,
    /// Peer to connect to at start, `/ip4/.../tcp/.../p2p/<peer id>` (repeatable).
    #[arg(long = "peer", env = "MASKORACLE_IPFS_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Kubo RPC API URL.
    #[arg(
        long,
        env = "MASKORACLE_KUBO_API",
        default_value = "http://127.0.0.1:5001"
    )]
    pub kubo_api: String,
    /// Trustless gateway base URL (repeatable, tried in order).
    #[arg(
        long = "gateway",
        env = "MASKORACLE_IPFS_GATEWAYS",
        value_delimiter = ','
    )]
    pub gateways: Vec<String>,
    /// Deadline for fetching one block, in seconds.
    #[arg(long, env = "MASKORACLE_IPFS_BLOCK_TIMEOUT", default_value_t = 30)]
    pub block_timeout_s: u64,
}

impl StorageArgs {
    /// Opens the configured backend.
    pub async fn open(&self) -> anyhow::Result<SharedStorage> {
        let timeout = Duration::from_secs(self.block_timeout_s);
        Ok(match self.backend {
            Backend::Kubo => Arc::new(super::kubo::KuboStorage::new(&self.kubo_api)?),
            Backend::Gateway => {
                let gws: Vec<&str> = self.gateways.iter().map(String::as_str).collect();
                Arc::new(super::gateway::GatewayStorage::new(&gws, timeout)?)
            }
            #[cfg(feature = "embedded-ipfs")]
            Backend::Embedded => {
                let parse = |s: &String| {
                    s.parse::<rust_ipfs::Multiaddr>()
                        .with_context(|| format!("bad multiaddr {s:?}"))
                };
                let config = super::embedded::EmbeddedConfig {
                    repo: self.repo.clone(),
                    listen: self.listen.iter().map(parse).collect::<Result<_, _>>()?,
                    bootstrap: self.peers.iter().map(parse).collect::<Result<_, _>>()?,
                    block_timeout: timeout,
                    redial_interval: super::embedded::DEFAULT_REDIAL_INTERVAL,
                };
                Arc::new(super::embedded::EmbeddedNode::start(config).await?)
            }
            #[cfg(not(feature = "embedded-ipfs"))]
            Backend::Embedded => anyhow::bail!(
                "this build has no embedded IPFS node (feature `embedded-ipfs`); use --backend kubo or gateway"
            ),
        })
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
        /// `CID` or `ipfs://CID`.
        cid: String,
        /// Largest content accepted, in bytes.
        #[arg(long, default_value_t = 256 * 1024 * 1024)]
        max_bytes: u64,
    },
    /// Pin a CID (fetching what is missing).
    Pin {
        /// `CID` or `ipfs://CID`.
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
            let storage = args.storage.open().await?;
            let c = if import.raw_block {
                storage.put_raw(data).await?
            } else {
                storage.put(data, import.params()).await?
            };
            out.write_all(format!("{c}\n").as_bytes()).await?;
        }
        IpfsCommand::Cat {
            cid: text,
            max_bytes,
        } => {
            let c = cid::parse_cid(&text)?;
            let storage = args.storage.open().await?;
            let data = storage.get(&c, max_bytes).await?;
            out.write_all(&data).await?;
        }
        IpfsCommand::Pin { cid: text } => {
            let c = cid::parse_cid(&text)?;
            let storage = args.storage.open().await?;
            storage.pin(&c).await?;
            out.write_all(format!("pinned {c}\n").as_bytes()).await?;
        }
        IpfsCommand::Serve { listen } => {
            let storage = args.storage.open().await?;
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
