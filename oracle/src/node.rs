//! What every chain-facing command opens from the resolved configuration: the contracts, the
//! content store, the URL fetcher and, when it signs, the key and the signer task.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::chain::{fallback_provider, Contracts, Deployment, TxSender, TxSettings};
use crate::config::{Config, IpfsBackend};
use crate::storage::{HttpFetcher, SharedStorage, FETCH_POLICY};

/// Opens the content store the configuration names: the embedded node (listening on
/// `ipfs.listen`, dialling `ipfs.bootstrap`) or Kubo (each request bounded by
/// `ipfs.kubo_timeout_s`), with `ipfs.gateways`, when any, as a verified read fallback.
pub async fn open_storage(cfg: &Config) -> anyhow::Result<SharedStorage> {
    let timeout = Duration::from_secs(cfg.ipfs.block_timeout_s);
    // Which store a command talks to, said before it talks to it (a wrong MASKORACLE_IPFS__*
    // setting shows here instead of as content nobody else can fetch).
    match cfg.ipfs.backend {
        IpfsBackend::Kubo => tracing::info!(
            target: "maskoracle::storage",
            "content store: the Kubo RPC API at {}",
            cfg.ipfs.kubo_url
        ),
        IpfsBackend::Embedded => tracing::info!(
            target: "maskoracle::storage",
            "content store: the embedded IPFS node of this process (repository {})",
            cfg.data_dir.join("ipfs").display()
        ),
    }
    let primary: SharedStorage = match cfg.ipfs.backend {
        IpfsBackend::Kubo => Arc::new(crate::storage::kubo::KuboStorage::with_timeout(
            &cfg.ipfs.kubo_url,
            Duration::from_secs(cfg.ipfs.kubo_timeout_s),
        )?),
        #[cfg(feature = "embedded-ipfs")]
        IpfsBackend::Embedded => {
            let parse = |s: &String| {
                s.parse::<rust_ipfs::Multiaddr>()
                    .with_context(|| format!("bad multiaddr {s:?}"))
            };
            let mut config =
                crate::storage::embedded::EmbeddedConfig::loopback(cfg.data_dir.join("ipfs"));
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
    };
    if cfg.ipfs.gateways.is_empty() {
        return Ok(primary);
    }
    let gateways: Vec<&str> = cfg.ipfs.gateways.iter().map(String::as_str).collect();
    let gateways = crate::storage::gateway::GatewayStorage::new(&gateways, timeout)
        .context("ipfs.gateways")?;
    Ok(Arc::new(crate::storage::WithGateways::new(
        primary, gateways,
    )))
}

/// The URL fetcher of the pinned fetch policy (`storage::FETCH_POLICY`); only
/// `http.allow_private_addresses` comes from the configuration.
pub fn http_fetcher(cfg: &Config) -> anyhow::Result<HttpFetcher> {
    Ok(HttpFetcher::for_policy(
        &FETCH_POLICY,
        cfg.http.allow_private_addresses,
    )?)
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
