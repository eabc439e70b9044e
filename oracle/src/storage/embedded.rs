//! The default backend: an IPFS node inside the process (rust-ipfs: libp2p over TCP with Noise
//! and Yamux, Bitswap, Kademlia, identify; a persistent flatfs repository).
//!
//! It serves what it holds to other peers over Bitswap and fetches what it lacks from the peers
//! it is connected to. Its peer identity (ed25519) is kept in `<repo>/identity.key`, so the peer
//! id survives restarts. CIDs are computed by [`super::cid::import`] (Kubo's CIDs); the blocks are
//! put into the repository one by one and the root pinned recursively.
//!
//! On a network: the node listens on [`EmbeddedConfig::listen`] (the configuration's default is
//! `/ip4/0.0.0.0/tcp/4001`, so other workers and clients can reach it), dials its bootstrap peers
//! at start and re-dials any of them that is not connected every
//! [`EmbeddedConfig::redial_interval`], so a peer that restarts is found again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rust_ipfs::{Ipfs, Keypair, Multiaddr, PeerId};
use tracing::{debug, info, warn};

use super::cid::{self, MAX_RESULT_SIZE};
use super::{BlockSource, Cid, ImportParams, Storage, StorageError};

const NAME: &str = "embedded";
const IDENTITY_FILE: &str = "identity.key";
/// How long `start` waits for a repository still locked by a node stopping in this process.
const REPO_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Configuration of the embedded node.
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// Repository folder (blocks, pins, identity); created if missing.
    pub repo: PathBuf,
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/0`.
    pub listen: Vec<Multiaddr>,
    /// Peers to connect to at start: `/ip4/.../tcp/.../p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Deadline for fetching one block from the network.
    pub block_timeout: Duration,
    /// How often bootstrap peers that are not connected are dialled again.
    pub redial_interval: Duration,
}

/// Default of [`EmbeddedConfig::redial_interval`].
pub const DEFAULT_REDIAL_INTERVAL: Duration = Duration::from_secs(10);

impl EmbeddedConfig {
    /// A node with its repository at `repo`, listening on a random loopback TCP port.
    pub fn loopback(repo: impl Into<PathBuf>) -> Self {
        Self {
            repo: repo.into(),
            listen: vec![loopback_addr()],
            bootstrap: Vec::new(),
            block_timeout: Duration::from_secs(30),
            redial_interval: DEFAULT_REDIAL_INTERVAL,
        }
    }
}

fn loopback_addr() -> Multiaddr {
    use rust_ipfs::Protocol;
    let mut addr = Multiaddr::empty();
    addr.push(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST));
    addr.push(Protocol::Tcp(0));
    addr
}

/// An embedded IPFS node.
pub struct EmbeddedNode {
    ipfs: Ipfs,
    block_timeout: Duration,
    /// The task re-dialling bootstrap peers; aborted when the node stops or is dropped.
    redial: Option<tokio::task::AbortHandle>,
}

impl Drop for EmbeddedNode {
    fn drop(&mut self) {
        if let Some(task) = self.redial.take() {
            task.abort();
        }
    }
}

/// The peer id of the node whose repository is `repo` (its identity is created if missing):
/// what other nodes put after `/p2p/` in their `ipfs.bootstrap` entries for this one.
pub fn peer_id_of(repo: &Path) -> Result<PeerId, StorageError> {
    std::fs::create_dir_all(repo).map_err(|e| StorageError::io(repo, e))?;
    Ok(load_or_create_identity(repo)?.public().to_peer_id())
}

/// Splits `/.../p2p/<peer id>` into the peer and its address.
fn split_p2p(addr: &Multiaddr) -> Result<(PeerId, Multiaddr), StorageError> {
    let mut base = addr.clone();
    match base.pop() {
        Some(rust_ipfs::Protocol::P2p(peer)) => Ok((peer, base)),
        _ => Err(StorageError::backend(
            NAME,
            format!("{addr}: bootstrap address must end with /p2p/<peer id>"),
        )),
    }
}

/// Every `interval`, dials the bootstrap peers that are not connected. Ends when the node stops.
async fn redial(ipfs: Ipfs, peers: Vec<(PeerId, Multiaddr)>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: `start` has just dialled them
    loop {
        tick.tick().await;
        for (peer, addr) in &peers {
            match ipfs.is_connected(*peer).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(_) => return, // the node has stopped
            }
            match ipfs.connect(*peer).await {
                Ok(_) => {
                    info!(target: "maskoracle::storage", %peer, %addr, "bootstrap peer re-dialled")
                }
                Err(e) => {
                    debug!(target: "maskoracle::storage", %peer, %addr, error = %e, "bootstrap peer unreachable; will retry")
                }
            }
        }
    }
}

impl std::fmt::Debug for EmbeddedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedNode")
            .field("peer_id", &self.peer_id().to_base58())
            .finish_non_exhaustive()
    }
}

fn load_or_create_identity(repo: &Path) -> Result<Keypair, StorageError> {
    let path = repo.join(IDENTITY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| StorageError::backend(NAME, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key
                .to_protobuf_encoding()
                .map_err(|e| StorageError::backend(NAME, e))?;
            std::fs::write(&path, bytes).map_err(|e| StorageError::io(&path, e))?;
            Ok(key)
        }
        Err(e) => Err(StorageError::io(&path, e)),
    }
}

impl EmbeddedNode {
    /// Starts the node: opens (or creates) the repository, listens, dials the bootstrap peers.
    pub async fn start(config: EmbeddedConfig) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&config.repo).map_err(|e| StorageError::io(&config.repo, e))?;
        let keypair = load_or_create_identity(&config.repo)?;
        // A node stopped in this process releases the repository lock when its last task ends,
        // a moment after `stop` returns: wait a little for it rather than fail a restart.
        let mut waited = Duration::ZERO;
        let ipfs = loop {
            match Self::build(&config, &keypair).await {
                Ok(ipfs) => break ipfs,
                Err(e) if e.contains("already being used") && waited < REPO_LOCK_WAIT => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    waited += Duration::from_millis(100);
                }
                Err(e) => return Err(StorageError::backend(NAME, e)),
            }
        };
        let mut node = Self {
            ipfs,
            block_timeout: config.block_timeout,
            redial: None,
        };
        let peers = config
            .bootstrap
            .iter()
            .map(split_p2p)
            .collect::<Result<Vec<_>, _>>()?;
        // A bootstrap peer that is down does not stop the node: the re-dial task keeps trying.
        for (peer, addr) in &peers {
            if let Err(e) = node.connect(*peer, vec![addr.clone()]).await {
                warn!(target: "maskoracle::storage", %peer, %addr, error = %e, "bootstrap peer unreachable at start; will retry");
            }
        }
        if !peers.is_empty() {
            let task = tokio::spawn(redial(node.ipfs.clone(), peers, config.redial_interval));
            node.redial = Some(task.abort_handle());
        }
        info!(
            target: "maskoracle::storage",
            peer = %node.peer_id(),
            repo = %config.repo.display(),
            listen = ?config.listen,
            bootstrap = config.bootstrap.len(),
            "embedded IPFS node started"
        );
        Ok(node)
    }

    async fn build(config: &EmbeddedConfig, keypair: &Keypair) -> Result<Ipfs, String> {
        rust_ipfs::builder::DefaultIpfsBuilder::with_keypair(keypair)
            .map_err(|e| e.to_string())?
            .with_identify(Default::default())
            .with_bitswap()
            .with_kademlia()
            .with_ping(Default::default())
            .enable_tcp()
            .set_path(&config.repo)
            .set_listening_addrs(config.listen.clone())
            .start()
            .await
            .map_err(|e| e.to_string())
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.ipfs.keypair().public().to_peer_id()
    }

    /// Addresses the node listens on (with the port actually bound).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, StorageError> {
        self.ipfs
            .listening_addresses()
            .await
            .map_err(|e| StorageError::backend(NAME, e))
    }

    /// Connects to `peer` at `addrs`.
    pub async fn connect(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), StorageError> {
        self.ipfs
            .add_peer((peer, addrs))
            .await
            .map_err(|e| StorageError::backend(NAME, e))?;
        self.ipfs
            .connect(peer)
            .await
            .map_err(|e| StorageError::backend(NAME, e))?;
        Ok(())
    }

    /// Connects to a `/.../p2p/<peer id>` address.
    pub async fn connect_addr(&self, addr: Multiaddr) -> Result<(), StorageError> {
        let (peer, base) = split_p2p(&addr)?;
        self.connect(peer, vec![base]).await
    }

    /// Whether `peer` is connected now.
    pub async fn is_connected(&self, peer: PeerId) -> Result<bool, StorageError> {
        self.ipfs
            .is_connected(peer)
            .await
            .map_err(|e| StorageError::backend(NAME, e))
    }

    /// Whether the block is in the local repository (no network).
    pub async fn has_block(&self, cid: &Cid) -> Result<bool, StorageError> {
        self.ipfs
            .repo()
            .contains(cid)
            .await
            .map_err(|e| StorageError::backend(NAME, e))
    }

    /// Stores a block as given, without checking it against its CID. For tests that need a
    /// peer serving a corrupted block; never used on data from outside.
    #[doc(hidden)]
    pub async fn put_block_unchecked(&self, cid: Cid, data: Bytes) -> Result<(), StorageError> {
        let block = rust_ipfs::Block::new_unchecked(cid, data);
        self.ipfs
            .put_block(&block)
            .await
            .map_err(|e| StorageError::backend(NAME, e))?;
        Ok(())
    }

    async fn put_blocks(&self, blocks: &[cid::Block]) -> Result<(), StorageError> {
        for b in blocks {
            let block = rust_ipfs::Block::new(b.cid, b.data.clone())
                .map_err(|e| StorageError::backend(NAME, e))?;
            self.ipfs
                .put_block(&block)
                .await
                .map_err(|e| StorageError::backend(NAME, e))?;
        }
        Ok(())
    }

    /// Stops the node (the repository stays on disk).
    pub async fn stop(mut self) {
        if let Some(task) = self.redial.take() {
            task.abort();
        }
        self.ipfs.clone().exit_daemon().await;
    }
}

#[async_trait]
impl BlockSource for EmbeddedNode {
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, StorageError> {
        let got = self.ipfs.get_block(cid).timeout(self.block_timeout).await;
        let block = match got {
            Ok(b) => b,
            Err(e) => {
                let text = e.to_string();
                return Err(
                    if text.to_ascii_lowercase().contains("timeout")
                        || text.to_ascii_lowercase().contains("timed out")
                    {
                        StorageError::Timeout {
                            cid: *cid,
                            after: self.block_timeout,
                        }
                    } else {
                        StorageError::backend(NAME, text)
                    },
                );
            }
        };
        let data = Bytes::copy_from_slice(block.data());
        // Bitswap verifies blocks from peers; the local repository is checked here as well.
        cid::verify_block(cid, &data)?;
        Ok(data)
    }
}

#[async_trait]
impl Storage for EmbeddedNode {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn put(&self, data: Bytes, params: ImportParams) -> Result<Cid, StorageError> {
        let dag = cid::import(&data, &params)?;
        self.put_blocks(&dag.blocks).await?;
        self.pin(&dag.root).await?;
        Ok(dag.root)
    }

    async fn put_raw(&self, data: Bytes) -> Result<Cid, StorageError> {
        let cid = cid::raw_cid(&data);
        if data.len() > MAX_RESULT_SIZE {
            return Err(StorageError::TooLarge {
                cid,
                limit: MAX_RESULT_SIZE as u64,
            });
        }
        self.put_blocks(&[cid::Block { cid, data }]).await?;
        self.pin(&cid).await?;
        Ok(cid)
    }

    async fn pin(&self, cid: &Cid) -> Result<(), StorageError> {
        if self
            .ipfs
            .is_pinned(cid)
            .await
            .map_err(|e| StorageError::backend(NAME, e))?
        {
            return Ok(());
        }
        self.ipfs
            .insert_pin(cid)
            .recursive()
            .await
            .map_err(|e| StorageError::backend(NAME, e))
    }
}
