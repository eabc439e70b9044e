//! Content storage: inputs, models and results by CID, and HTTP(S) inputs.
//!
//! One interface, [`Storage`] (put bytes → CID, get CID → verified bytes, pin), with backends:
//! - [`embedded::EmbeddedNode`] (feature `embedded-ipfs`, on by default): an IPFS node in the
//!   process (rust-ipfs: libp2p, Bitswap, a persistent flatfs repository);
//! - [`kubo::KuboStorage`]: Kubo's RPC API (plain `reqwest` requests);
//! - [`gateway::GatewayStorage`]: read-only, trustless HTTP gateways (`?format=raw`).
//!
//! Whatever the backend, reads are trustless: the DAG is walked block by block
//! ([`cat_unixfs`]) and every block is checked against its CID ([`cid::verify_block`]) before
//! it is used. Writes compute the CID here ([`cid::import`], identical to Kubo's for the same
//! parameters) and refuse a backend that answers with a different one.
//!
//! URL inputs go through [`http::HttpFetcher`] (limits on size, time, redirects, content type,
//! target address); [`fetch_input`] picks the path from the input's scheme and
//! [`fetch_input_with_policy`] makes the attempts of the pinned [`FETCH_POLICY`], which is part
//! of the execution profile: what a worker fetches decides the canonical result, so no operator
//! setting changes it. Models are cached by CID and verified by sha256 in
//! [`model_cache::ModelCache`]. Untrusted strings go to logs through [`loggable`].

// Errors carry the CIDs they are about (a CID holds its 64-byte multihash inline); they are on
// the failure path only, so their size is accepted rather than boxed.
#![allow(clippy::result_large_err)]

pub mod cid;
pub mod cli;
#[cfg(feature = "embedded-ipfs")]
pub mod embedded;
pub mod gateway;
pub mod http;
pub mod kubo;
pub mod model_cache;
pub mod rpc_server;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

pub use self::cid::{Block, CidError, ImportParams};
pub use ::cid::Cid;
pub use gateway::WithGateways;
pub use http::{FetchError, FetchLimits, HttpFetcher};

/// Result status of an input that could not be fetched (interfaces point 1: `1 FetchFailed`).
pub const STATUS_FETCH_FAILED: u8 = 1;
/// Result status of an input that is declared not to be an image (`2 NotAnImage`).
pub const STATUS_NOT_AN_IMAGE: u8 = 2;

/// How every worker fetches a task input. Part of the execution profile: an input that one
/// worker fetches and another reports as `FetchFailed` makes two honest workers disagree, so these
/// values are constants of the protocol version, not operator settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FetchPolicy {
    /// Largest input accepted, in bytes: the decoder's limit
    /// (`maskoracle_inference::DecodeLimits::V1.max_bytes`, 32 MiB), so that an input refused by
    /// the fetcher would have been refused by the decoder too, and none is cut short below it.
    pub max_input_bytes: u64,
    /// Deadline of one attempt, in milliseconds (30 s): the whole fetch (connect, redirects,
    /// body; for IPFS the whole DAG). 32 MiB at 10 Mbit/s takes ~27 s.
    pub attempt_timeout_ms: u64,
    /// Deadline of one TCP/TLS connection inside an attempt, in milliseconds (10 s).
    pub connect_timeout_ms: u64,
    /// Attempts before an input is `FetchFailed` (3): a transient failure (a dropped connection,
    /// content not yet announced on IPFS) gets two more chances, and the worst case (3 x 30 s plus
    /// back-off) stays well inside a commit window.
    pub attempts: u32,
    /// Pause after the first failed attempt, in milliseconds (1 s); doubled after each further
    /// one (1 s, 2 s), so a briefly overloaded server is not hammered.
    pub backoff_ms: u64,
    /// Redirects followed (5): enough for the usual http → https → CDN chains, few enough that a
    /// redirect chain cannot eat the deadline.
    pub max_redirects: u32,
    /// Plain `http://` is accepted (`false`): many image hosts still serve it, and integrity comes
    /// from the committed result, not from TLS.
    pub https_only: bool,
    /// An explicit non-image `Content-Type` is `NotAnImage` (`true`).
    pub require_image: bool,
    /// A missing type or `application/octet-stream` is passed to the decoder (`true`): gateways
    /// and object stores send them for real images.
    pub accept_untyped: bool,
}

impl FetchPolicy {
    /// The per-attempt deadline.
    pub const fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms)
    }

    /// The pause after failed attempt number `attempt` (1-based): `backoff_ms * 2^(attempt-1)`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(16);
        Duration::from_millis(self.backoff_ms.saturating_mul(factor))
    }
}

/// The fetch policy of this protocol version (see [`FetchPolicy`] for each value's reason).
pub const FETCH_POLICY: FetchPolicy = FetchPolicy {
    max_input_bytes: maskoracle_inference::DecodeLimits::V1.max_bytes,
    attempt_timeout_ms: 30_000,
    connect_timeout_ms: 10_000,
    attempts: 3,
    backoff_ms: 1_000,
    max_redirects: 5,
    https_only: false,
    require_image: true,
    accept_untyped: true,
};

/// Longest untrusted string written to a log, in characters.
pub const LOGGABLE_MAX_CHARS: usize = 200;

/// An untrusted string made safe for a log line: see [`loggable`].
#[derive(Clone, Copy, Debug)]
pub struct Loggable<'a>(&'a str);

impl std::fmt::Display for Loggable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(LOGGABLE_MAX_CHARS) {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                // C0 and C1 controls (ESC starts ANSI sequences), DEL, and the Unicode
                // formatting characters that reorder or hide text (bidi overrides, zero-width).
                c if c.is_control()
                    || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}') =>
                {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => f.write_char(c)?,
            }
        }
        let rest = chars.count();
        if rest > 0 {
            write!(f, "…[+{rest} chars]")?;
        }
        Ok(())
    }
}

/// `input` (a URL, a CID, a header: anything a requester or a peer chose) as it may appear in a
/// log: backslashes, newlines, control characters (ANSI escapes included) and invisible Unicode
/// formatting characters escaped as `\n`, `\u{1b}`, …; cut after [`LOGGABLE_MAX_CHARS`]
/// characters with a `…[+N chars]` marker. One input can then neither forge log lines nor
/// drive a terminal.
pub fn loggable(input: &str) -> Loggable<'_> {
    Loggable(input)
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// CID parsing, verification or DAG structure problem.
    #[error(transparent)]
    Cid(#[from] CidError),
    /// No backend could provide the block.
    #[error("block {cid} not found")]
    NotFound {
        /// The missing block.
        cid: Cid,
    },
    /// The block or content did not arrive in time.
    #[error("timed out after {after:?} fetching {cid}")]
    Timeout {
        /// What was being fetched.
        cid: Cid,
        /// The deadline.
        after: Duration,
    },
    /// The content is larger than the caller's limit.
    #[error("content {cid} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The content.
        cid: Cid,
        /// The limit.
        limit: u64,
    },
    /// A backend answered with a CID other than the one computed here.
    #[error("backend {backend} stored the content as {got}, expected {expected}")]
    CidDisagreement {
        /// Backend name.
        backend: &'static str,
        /// CID computed here.
        expected: Cid,
        /// CID the backend reported.
        got: String,
    },
    /// The backend cannot do this (e.g. writing through a gateway).
    #[error("backend {backend} does not support {operation}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// The backend failed (transport, server error, protocol).
    #[error("backend {backend}: {message}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Local file system error (repository, cache).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// A backend failure with a message.
    pub fn backend(backend: &'static str, message: impl std::fmt::Display) -> Self {
        Self::Backend {
            backend,
            message: message.to_string(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// A source of blocks: every block it returns has been checked against its CID.
#[async_trait]
pub trait BlockSource: Send + Sync {
    /// The block named `cid`, verified.
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, StorageError>;
}

/// The storage interface the worker and the CLI hold as `Arc<dyn Storage>`.
#[async_trait]
pub trait Storage: BlockSource {
    /// Backend name for logs and errors.
    fn name(&self) -> &'static str;

    /// Stores `data` as one UnixFS file with `params`; returns its root CID (Kubo's CID for the
    /// same parameters). The content is pinned.
    async fn put(&self, data: Bytes, params: ImportParams) -> Result<Cid, StorageError>;

    /// Stores `data` as one raw block (CIDv1, raw, sha2-256): canonical results and overlays.
    /// The CID follows from sha256(data). At most [`cid::MAX_RESULT_SIZE`] bytes. Pinned.
    async fn put_raw(&self, data: Bytes) -> Result<Cid, StorageError>;

    /// The file named `cid` (a raw block or a UnixFS file), every block verified, refusing
    /// content over `max_size` bytes.
    async fn get(&self, cid: &Cid, max_size: u64) -> Result<Bytes, StorageError> {
        cat_unixfs(self, cid, max_size).await
    }

    /// Pins `cid` and everything under it, fetching what is missing.
    async fn pin(&self, cid: &Cid) -> Result<(), StorageError>;
}

/// Shared handle to a storage backend.
pub type SharedStorage = Arc<dyn Storage>;

/// Deepest UnixFS file DAG followed (174^8 chunks of 256 KiB is far beyond any input).
const MAX_DAG_DEPTH: usize = 8;

/// Reads the file `root` from `source`: a raw block or a UnixFS file DAG of dag-pb nodes and
/// raw or dag-pb leaves. Every block is verified by the source; sizes declared by the DAG are
/// checked against `max_size` before children are fetched and against the bytes produced.
pub async fn cat_unixfs<S: BlockSource + ?Sized>(
    source: &S,
    root: &Cid,
    max_size: u64,
) -> Result<Bytes, StorageError> {
    // A root this node cannot read is refused before anything is fetched: the answer is then
    // the same for every worker, whether or not the content can be found.
    if !matches!(root.codec(), cid::RAW | cid::DAG_PB) {
        return Err(CidError::UnsupportedCodec {
            cid: *root,
            codec: root.codec(),
        }
        .into());
    }
    let mut out = BytesMut::new();
    // Depth-first, in link order: a stack of (cid, depth), pushed in reverse.
    let mut stack: Vec<(Cid, usize)> = vec![(*root, 0)];
    let mut declared_root: Option<u64> = None;
    // A DAG of empty leaves adds no bytes: bound the number of blocks as well (a file of
    // `max_size` bytes in chunks of 256 bytes or more, plus its internal nodes).
    let max_blocks = max_size / 256 + 1024;
    let mut visited: u64 = 0;
    while let Some((cid, depth)) = stack.pop() {
        visited += 1;
        if visited > max_blocks {
            return Err(CidError::Malformed {
                cid: *root,
                reason: format!("more than {max_blocks} blocks for {max_size} bytes"),
            }
            .into());
        }
        if depth > MAX_DAG_DEPTH {
            return Err(CidError::Malformed {
                cid,
                reason: format!("DAG deeper than {MAX_DAG_DEPTH}"),
            }
            .into());
        }
        let block = source.get_block(&cid).await?;
        match cid.codec() {
            cid::RAW => {
                out.extend_from_slice(&block);
            }
            cid::DAG_PB => {
                let node = cid::decode_dag_pb(&cid, &block)?;
                let fs = cid::UnixfsNode::decode(&cid, node.data.as_deref().unwrap_or_default())?;
                if !fs.is_file() {
                    return Err(CidError::Malformed {
                        cid,
                        reason: format!("UnixFS type {} is not a file", fs.kind),
                    }
                    .into());
                }
                if depth == 0 {
                    let declared = fs.filesize.unwrap_or(fs.data.len() as u64);
                    if declared > max_size {
                        return Err(StorageError::TooLarge {
                            cid: *root,
                            limit: max_size,
                        });
                    }
                    declared_root = Some(declared);
                }
                if !node.links.is_empty() && fs.blocksizes.len() != node.links.len() {
                    return Err(CidError::Malformed {
                        cid,
                        reason: "blocksizes do not match links".into(),
                    }
                    .into());
                }
                out.extend_from_slice(&fs.data);
                for link in node.links.iter().rev() {
                    stack.push((link.cid, depth + 1));
                }
            }
            codec => return Err(CidError::UnsupportedCodec { cid, codec }.into()),
        }
        if out.len() as u64 > max_size {
            return Err(StorageError::TooLarge {
                cid: *root,
                limit: max_size,
            });
        }
    }
    if let Some(declared) = declared_root {
        if declared != out.len() as u64 {
            return Err(CidError::Malformed {
                cid: *root,
                reason: format!(
                    "declared file size {declared} but the DAG holds {} bytes",
                    out.len()
                ),
            }
            .into());
        }
    }
    Ok(out.freeze())
}

/// Maps a storage failure on the IPFS path to a [`FetchError`]: content the CID itself makes
/// unreadable is final ([`FetchError::IpfsContent`]); a block that did not match its CID, a
/// missing block, a timeout or a backend failure may pass on retry ([`FetchError::Ipfs`]).
fn ipfs_fetch_error(e: StorageError) -> FetchError {
    match e {
        StorageError::TooLarge { limit, .. } => FetchError::TooLarge { limit, seen: None },
        StorageError::Cid(CidError::Mismatch { .. }) => {
            FetchError::Ipfs(loggable(&e.to_string()).to_string())
        }
        StorageError::Cid(_) => FetchError::IpfsContent(loggable(&e.to_string()).to_string()),
        e => FetchError::Ipfs(loggable(&e.to_string()).to_string()),
    }
}

/// One attempt at a task input: `ipfs://CID` through `storage` (at most
/// `http.limits().max_bytes`, within `timeout`), `https://` (or `http://`) through `http`
/// (its own limits). Errors are [`FetchError`]s, which map to result status codes. Workers call
/// [`fetch_input_with_policy`], which makes the attempts of the pinned policy.
pub async fn fetch_input(
    input: &str,
    storage: &dyn Storage,
    http: &HttpFetcher,
    timeout: Duration,
) -> Result<Bytes, FetchError> {
    let limits = http.limits();
    if input.starts_with("ipfs://") {
        let cid = cid::parse_cid(input)
            .map_err(|e| FetchError::BadInput(loggable(&e.to_string()).to_string()))?;
        let got = tokio::time::timeout(timeout, storage.get(&cid, limits.max_bytes)).await;
        match got {
            Err(_) => Err(FetchError::Timeout(timeout)),
            Ok(Err(e)) => Err(ipfs_fetch_error(e)),
            Ok(Ok(bytes)) => Ok(bytes),
        }
    } else {
        http.fetch(input).await.map(|f| f.body)
    }
}

/// Fetches a task input under the pinned [`FETCH_POLICY`]: up to `attempts` attempts of at most
/// `attempt_timeout` each, pausing `backoff(n)` after a transient failure
/// ([`FetchError::is_transient`]); a final failure ends at once. `http` must be built from the
/// same policy ([`HttpFetcher::for_policy`], which `node::http_fetcher` does). The error returned
/// is the last attempt's; its [`FetchError::status`] is the result status to commit.
pub async fn fetch_input_with_policy(
    input: &str,
    storage: &dyn Storage,
    http: &HttpFetcher,
) -> Result<Bytes, FetchError> {
    fetch_input_with(&FETCH_POLICY, input, storage, http).await
}

/// [`fetch_input_with_policy`] under another policy (tests: shorter deadlines and pauses).
pub async fn fetch_input_with(
    policy: &FetchPolicy,
    input: &str,
    storage: &dyn Storage,
    http: &HttpFetcher,
) -> Result<Bytes, FetchError> {
    let attempts = policy.attempts.max(1);
    let mut attempt = 1;
    loop {
        match fetch_input(input, storage, http, policy.attempt_timeout()).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) if e.is_transient() && attempt < attempts => {
                let pause = policy.backoff(attempt);
                tracing::warn!(
                    target: "maskoracle::storage",
                    input = %loggable(input),
                    attempt,
                    of = attempts,
                    retry_in_ms = pause.as_millis() as u64,
                    error = %e,
                    "input fetch failed; retrying"
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            Err(e) => {
                tracing::warn!(
                    target: "maskoracle::storage",
                    input = %loggable(input),
                    attempt,
                    of = attempts,
                    transient = e.is_transient(),
                    error = %e,
                    "input fetch failed"
                );
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_matches_the_decoder_and_its_documented_values() {
        assert_eq!(
            FETCH_POLICY.max_input_bytes,
            maskoracle_inference::DecodeLimits::V1.max_bytes
        );
        assert_eq!(FETCH_POLICY.max_input_bytes, 32 * 1024 * 1024);
        assert_eq!(FETCH_POLICY.attempt_timeout(), Duration::from_secs(30));
        assert_eq!(FETCH_POLICY.attempts, 3);
        assert_eq!(FETCH_POLICY.max_redirects, 5);
        assert_eq!(FETCH_POLICY.backoff(1), Duration::from_secs(1));
        assert_eq!(FETCH_POLICY.backoff(2), Duration::from_secs(2));
        let limits = FetchLimits::default();
        assert_eq!(limits.max_bytes, FETCH_POLICY.max_input_bytes);
        assert_eq!(limits.timeout, FETCH_POLICY.attempt_timeout());
        assert_eq!(limits.max_redirects, 5);
        assert!(!limits.allow_private_addresses);
        let json = serde_json::to_value(FETCH_POLICY).expect("serialize");
        assert_eq!(json["max_input_bytes"], 33_554_432);
        assert_eq!(json["attempts"], 3);
    }

    #[test]
    fn loggable_escapes_line_breaks_controls_and_ansi() {
        let s = loggable("ipfs://x\n2026-12-01T00:00:00Z  INFO forged line\r\u{1b}[31mred\u{7}\\")
            .to_string();
        assert_eq!(
            s,
            "ipfs://x\\n2026-12-01T00:00:00Z  INFO forged line\\r\\u{1b}[31mred\\u{7}\\\\"
        );
        assert!(!s.chars().any(|c| c.is_control()), "{s:?}");
        assert_eq!(
            loggable("a\u{202e}b\u{200b}c\u{85}").to_string(),
            "a\\u{202e}b\\u{200b}c\\u{85}"
        );
        assert_eq!(
            loggable("https://example.com/a.png").to_string(),
            "https://example.com/a.png"
        );
    }

    #[test]
    fn loggable_truncates_with_a_marker() {
        let long = "é".repeat(LOGGABLE_MAX_CHARS + 50);
        let s = loggable(&long).to_string();
        assert!(s.starts_with(&"é".repeat(LOGGABLE_MAX_CHARS)));
        assert!(s.ends_with("…[+50 chars]"), "{s}");
        assert_eq!(
            loggable(&"a".repeat(LOGGABLE_MAX_CHARS)).to_string().len(),
            LOGGABLE_MAX_CHARS
        );
    }
}
