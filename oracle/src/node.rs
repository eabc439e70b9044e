//! What every chain-facing command opens from the resolved configuration: the contracts, the
//! content store, the URL fetcher and, when it signs, the key and the signer task.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::chain::{fallback_provider, Contracts, Deployment, TxSender, TxSettings};
use crate::config::{Config, IpfsBackend};
use crate::storage::{FetchLimits, HttpFetcher, SharedStorage};

/// Opens the content store the configuration names.
pub async fn open_storage(cfg: &Config) -> anyhow::Result<SharedStorage> {
    let timeout = Duration::from_secs(cfg.ipfs.block_timeout_s);
    Ok(match cfg.ipfs.backend {
        IpfsBackend::Kubo => Arc::new(crate::storage::kubo::KuboStorage::new(&cfg.ipfs.kubo_url)?),
        #[cfg(feature = "embedded-ipfs")]
        IpfsBackend::Embedded => {
            let parse = |s: &String| {
                s.parse::<rust_ipfs::Multiaddr>()
                    .with_context(|| format!("bad multiaddr {s:?}"))
            };
            let mut config = crate::storage::embedded::EmbeddedConfig::loopback(cfg.data_dir.join("ipfs"));
            if !cfg.ipfs.listen.is_empty() {
                config.listen = cfg.ipfs.listen.iter().map(parse).collect::<Result<_, _>>()?;
            }
            config.bootstrap = cfg.ipfs.bootstrap.iter().map(parse).collect::<Result<_, _>>()?;
            config.block_timeout = timeout;
            Arc::new(crate::storage::embedded::EmbeddedNode::start(config).await?)
        }
        #[cfg(not(feature = "embedded-ipfs"))]
        IpfsBackend::Embedded => anyhow::bail!(
            "this build has no embedded IPFS node (feature `embedded-ipfs`); set ipfs.backend = \"kubo\""
        ),
    })
}

/// The URL fetcher with the configured limits.
pub fn http_fetcher(cfg: &Config) -> anyhow::Result<HttpFetcher> {
    let limits = FetchLimits {
        max_bytes: cfg.http.max_bytes,
        timeout: Duration::from_secs(cfg.http.timeout_s),
        max_redirects: cfg.http.max_redirects,
        allow_private_addresses: cfg.http.allow_private_addresses,
        ..FetchLimits::default()
    };
    Ok(HttpFetcher::new(limits)?)
}

/// Contracts from the configured deployment record on the configured RPC endpoints (`rpc_url`,
/// then `rpc_fallback_urls`).
pub async fn contracts(cfg: &Config) -> anyhow::Result<Contracts> {
    let deployment = Deployment::load(&cfg.deployment)?;
    let provider = fallback_provider(&cfg.rpc_urls())?;
    Contracts::connect(deployment, provider).await
}

/// The configured key and a signer task for it.
pub fn signer(cfg: &Config, chain_id: u64) -> anyhow::Result<TxSender> {
    let key = crate::keys::load_signer(&cfg.worker, chain_id)?;
    TxSender::spawn_on(
        &cfg.rpc_urls(),
        key,
        TxSettings {
            receipt_timeout: Duration::from_secs(cfg.receipt_timeout_s()),
            max_bumps: cfg.signer.max_fee_raises,
            max_in_flight: cfg.signer.max_in_flight,
            max_fee_gwei: cfg.signer.max_fee_gwei,
            ..TxSettings::default()
        },
    )
}
