//! Read path through trustless HTTP gateways: `GET /ipfs/{cid}?format=raw` one block at a time,
//! every block verified against its CID before it is used; the file is assembled by
//! [`super::cat_unixfs`]. Gateways are tried in order; one that serves wrong bytes is reported
//! and the next is tried, and if none serves a valid block the integrity error is returned.
//!
//! [`WithGateways`] puts gateways behind another store as a fallback for reads by CID
//! (`ipfs.gateways`): content addressing makes any gateway as good as a peer, since its bytes
//! are checked against the CID like a peer's.

use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use reqwest::header::ACCEPT;
use tracing::warn;
use url::Url;

use super::cid::{self, MAX_BLOCK_SIZE};
use super::{BlockSource, Cid, CidError, ImportParams, SharedStorage, Storage, StorageError};

const NAME: &str = "gateway";

/// A read-only [`Storage`] over one or more trustless gateways.
#[derive(Clone, Debug)]
pub struct GatewayStorage {
    client: reqwest::Client,
    gateways: Vec<Url>,
    timeout: Duration,
}

impl GatewayStorage {
    /// Gateways by base URL (e.g. `https://trustless-gateway.link`), each block fetch bounded
    /// by `timeout`.
    pub fn new(gateways: &[&str], timeout: Duration) -> Result<Self, StorageError> {
        let gateways = gateways
            .iter()
            .map(|g| Url::parse(g).map_err(|e| StorageError::backend(NAME, format!("{g}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if gateways.is_empty() {
            return Err(StorageError::backend(NAME, "no gateway configured"));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(3))
            .connect_timeout(timeout)
            .build()
            .map_err(|e| StorageError::backend(NAME, e))?;
        Ok(Self {
            client,
            gateways,
            timeout,
        })
    }

    async fn fetch_from(&self, base: &Url, cid: &Cid) -> Result<Bytes, StorageError> {
        let mut url = base.clone();
        url.set_path(&format!("{}/ipfs/{cid}", base.path().trim_end_matches('/')));
        url.set_query(Some("format=raw"));
        let resp = self
            .client
            .get(url)
            .header(ACCEPT, "application/vnd.ipld.raw")
            .send()
            .await
            .map_err(|e| StorageError::backend(NAME, e))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(StorageError::NotFound { cid: *cid });
        }
        if !resp.status().is_success() {
            return Err(StorageError::backend(
                NAME,
                format!("{base}: HTTP {}", resp.status()),
            ));
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StorageError::backend(NAME, e))?;
            if body.len() + chunk.len() > MAX_BLOCK_SIZE {
                return Err(StorageError::backend(
                    NAME,
                    format!("{base}: block {cid} over {MAX_BLOCK_SIZE} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let body = body.freeze();
        cid::verify_block(cid, &body)?;
        Ok(body)
    }
}

#[async_trait]
impl BlockSource for GatewayStorage {
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, StorageError> {
        let mut last = StorageError::NotFound { cid: *cid };
        for base in &self.gateways {
            match tokio::time::timeout(self.timeout, self.fetch_from(base, cid)).await {
                Ok(Ok(block)) => return Ok(block),
                Ok(Err(e)) => {
                    warn!(target: "maskoracle::storage", gateway = %base, %cid, error = %e, "gateway failed");
                    // An integrity failure is the most telling error: keep it over later ones.
                    if !matches!(last, StorageError::Cid(_)) {
                        last = e;
                    }
                }
                Err(_) => {
                    warn!(target: "maskoracle::storage", gateway = %base, %cid, "gateway timed out");
                    if !matches!(last, StorageError::Cid(_)) {
                        last = StorageError::Timeout {
                            cid: *cid,
                            after: self.timeout,
                        };
                    }
                }
            }
        }
        Err(last)
    }
}

#[async_trait]
impl Storage for GatewayStorage {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn put(&self, _data: Bytes, _params: ImportParams) -> Result<Cid, StorageError> {
        Err(StorageError::Unsupported {
            backend: NAME,
            operation: "put",
        })
    }

    async fn put_raw(&self, _data: Bytes) -> Result<Cid, StorageError> {
        Err(StorageError::Unsupported {
            backend: NAME,
            operation: "put_raw",
        })
    }

    async fn pin(&self, _cid: &Cid) -> Result<(), StorageError> {
        Err(StorageError::Unsupported {
            backend: NAME,
            operation: "pin",
        })
    }
}

/// How long a read waits on the primary store alone before asking the gateways too.
pub const DEFAULT_HEDGE_AFTER: Duration = Duration::from_secs(2);

/// A store whose reads fall back to trustless gateways: each block is asked of `primary`; if it
/// has not answered after a short delay (or failed), the gateways are asked as well and the first
/// verified block wins. Writes and pins go to `primary` only.
pub struct WithGateways {
    primary: SharedStorage,
    gateways: GatewayStorage,
    hedge_after: Duration,
}

impl std::fmt::Debug for WithGateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithGateways")
            .field("primary", &self.primary.name())
            .field("gateways", &self.gateways.gateways)
            .finish_non_exhaustive()
    }
}

impl WithGateways {
    /// `primary` with `gateways` as a read fallback, asked after [`DEFAULT_HEDGE_AFTER`].
    pub fn new(primary: SharedStorage, gateways: GatewayStorage) -> Self {
        Self {
            primary,
            gateways,
            hedge_after: DEFAULT_HEDGE_AFTER,
        }
    }

    /// Sets how long a read waits on the primary alone.
    pub fn hedge_after(mut self, delay: Duration) -> Self {
        self.hedge_after = delay;
        self
    }
}

/// The error to report when both sources failed: a block that did not match its CID (a source
/// lied) over anything else, then the gateways' error over the primary's.
fn worse(gateway: StorageError, primary: StorageError) -> StorageError {
    match (&gateway, &primary) {
        (StorageError::Cid(CidError::Mismatch { .. }), _) => gateway,
        (_, StorageError::Cid(CidError::Mismatch { .. })) => primary,
        _ => gateway,
    }
}

#[async_trait]
impl BlockSource for WithGateways {
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, StorageError> {
        let primary = self.primary.get_block(cid);
        tokio::pin!(primary);
        let primary_failed = tokio::select! {
            r = &mut primary => match r {
                Ok(block) => return Ok(block),
                Err(e) => Some(e),
            },
            _ = tokio::time::sleep(self.hedge_after) => None,
        };
        if let Some(pe) = primary_failed {
            return self
                .gateways
                .get_block(cid)
                .await
                .map_err(|ge| worse(ge, pe));
        }
        let gateway = self.gateways.get_block(cid);
        tokio::pin!(gateway);
        tokio::select! {
            r = &mut primary => match r {
                Ok(block) => Ok(block),
                Err(pe) => gateway.await.map_err(|ge| worse(ge, pe)),
            },
            r = &mut gateway => match r {
                Ok(block) => Ok(block),
                Err(ge) => primary.await.map_err(|pe| worse(ge, pe)),
            },
        }
    }
}

#[async_trait]
impl Storage for WithGateways {
    fn name(&self) -> &'static str {
        self.primary.name()
    }

    async fn put(&self, data: Bytes, params: ImportParams) -> Result<Cid, StorageError> {
        self.primary.put(data, params).await
    }

    async fn put_raw(&self, data: Bytes) -> Result<Cid, StorageError> {
        self.primary.put_raw(data).await
    }

    async fn pin(&self, cid: &Cid) -> Result<(), StorageError> {
        self.primary.pin(cid).await
    }
}
