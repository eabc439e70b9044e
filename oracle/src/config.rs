//! One configuration resolver for every `maskoracle` command.
//!
//! Precedence, lowest to highest: built-in defaults, the TOML file (`--config`, or
//! `MASKORACLE_CONFIG`, or `./maskoracle.toml` when present), `MASKORACLE_*` environment variables
//! (nested keys joined with `__`, e.g. `MASKORACLE_WORKER__CONFIRMATIONS=3`), then command-line
//! flags. [`Config::resolve`] is the only place that merges them, so every command sees the same
//! values and `maskoracle config` can print exactly what a command would use.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Environment variable prefix for every setting.
pub const ENV_PREFIX: &str = "MASKORACLE_";
/// Config file read from the working directory when no other is named.
pub const DEFAULT_CONFIG_FILE: &str = "maskoracle.toml";

/// Errors while resolving the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file was named explicitly but does not exist.
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value has the wrong type or an unknown key was given.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// Values parse but contradict each other.
    #[error("invalid configuration: {0}")]
    Inconsistent(String),
}

/// Every setting of the node, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// JSON-RPC endpoint of the chain (HTTP).
    pub rpc_url: String,
    /// Further endpoints of the same chain, tried in turn when `rpc_url` fails (HTTP).
    pub rpc_fallback_urls: Vec<String>,
    /// Deployment record written by `deploy/Deploy.s.sol` (contract addresses, deploy block).
    pub deployment: PathBuf,
    /// Folder for the node's durable state (cursor, task records, model cache, IPFS repo).
    pub data_dir: PathBuf,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// Content storage settings.
    pub ipfs: IpfsConfig,
    /// Limits for `https://` inputs.
    pub http: HttpConfig,
    /// The transaction signer.
    pub signer: SignerConfig,
    /// Format of the log lines on stderr: `text` (default) or `json` (one object per line).
    /// Also `--log-format` and `MASKORACLE_LOG_FORMAT`.
    pub log_format: LogFormat,
}

/// Format of the log lines written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`).
    Json,
}

/// Settings of the transaction signer (see `docs/oracle.md`, "Signer and RPC endpoints").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignerConfig {
    /// Transactions of the account unmined at once (1: one at a time).
    pub max_in_flight: usize,
    /// Highest max fee per gas the signer offers, in gwei (a cancel may go one 12.5 % raise
    /// above).
    pub max_fee_gwei: u64,
    /// Seconds to wait for a receipt before raising the fees; unset: `worker.receipt_timeout_s`.
    pub receipt_timeout_s: Option<u64>,
    /// Fee raises of a stuck transaction before it is only watched (or, past its deadline,
    /// cancelled).
    pub max_fee_raises: u32,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 16,
            max_fee_gwei: 500,
            receipt_timeout_s: None,
            max_fee_raises: 5,
        }
    }
}

/// Settings of `maskoracle worker` and `maskoracle keeper`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Encrypted JSON keystore (Web3 Secret Storage) holding the worker's key.
    pub keystore: Option<PathBuf>,
    /// File holding the keystore's password (never put the password itself in the config).
    pub password_file: Option<PathBuf>,
    /// Index of an anvil dev account to use instead of a keystore; refused unless chain id is 31337.
    pub dev_account: Option<u32>,
    /// Blocks a log must be buried under before the worker acts on it (1: the head itself). A
    /// reorg deeper than this is still detected (by block hash) and handled, at a cost: work
    /// done for a replaced request is dropped.
    pub confirmations: u64,
    /// Milliseconds between polls of the chain head.
    pub poll_interval_ms: u64,
    /// Largest block range asked of `eth_getLogs` in one call while backfilling.
    pub log_chunk_blocks: u64,
    /// Tasks computed at once (each on a blocking thread, never on the async runtime).
    pub max_concurrent_tasks: usize,
    /// libtorch intra-op threads: part of the execution profile, keep it equal across workers.
    pub intra_op_threads: i32,
    /// Seconds to wait for a transaction receipt before bumping its fees.
    pub receipt_timeout_s: u64,
    /// Address of the Prometheus metrics and health endpoint; none to disable.
    pub metrics_listen: Option<SocketAddr>,
    /// Also finalize and expire tasks whose deadlines passed (keeper duty).
    pub keeper: bool,
    /// Test switch: commit a deliberately wrong result (to watch slashing). Refused unless the
    /// chain is the local devnet (chain id 31337).
    pub faulty: bool,
    /// Test switch: perturb the model's raw outputs by this relative noise (of each output's
    /// scale, seeded per worker and task) to emulate another machine, so that honest results
    /// differ slightly and the tolerant fallback settles them. Refused off the devnet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulate_noise: Option<f64>,
    /// Ignored (a warning names it): the attempts are the pinned
    /// `storage::FETCH_POLICY.attempts`, part of the execution profile (docs/storage.md).
    /// Accepted so that older config files still load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch_attempts: Option<u32>,
    /// Drain mode: take no new task; commit what is computed and reveal what is committed.
    pub drain: bool,
    /// Smallest reward per drawn worker (reward / R, in tokens, e.g. "0.01") worth computing for;
    /// a task below it is left alone (never slashed: not committing costs nothing).
    pub min_reward: String,
    /// Seconds a closed task record is kept before it is pruned from the state store.
    pub prune_after_s: u64,
    /// `/health` reports the signer unhealthy below this gas balance of the signing account (wei).
    pub min_gas_balance_wei: u64,
    /// `/health` reports sync unhealthy when the processed cursor lags the head by more blocks.
    pub max_head_lag_blocks: u64,
    /// `/health` reports the signer unhealthy when its oldest queued job waited longer (seconds).
    pub max_signer_job_age_s: u64,
}

/// Which content store the node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpfsBackend {
    /// The IPFS node embedded in the process (repository under `data_dir/ipfs`).
    Embedded,
    /// A Kubo (or Kubo-compatible pinning service) RPC endpoint.
    Kubo,
}

/// Content storage settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpfsConfig {
    /// Store used to publish results and fetch inputs and models.
    pub backend: IpfsBackend,
    /// Kubo RPC URL, for `backend = "kubo"`.
    pub kubo_url: String,
    /// Trustless gateways (base URLs, e.g. `https://trustless-gateway.link`) asked, in order,
    /// for blocks the store does not deliver within 2 s; every block is checked against its CID,
    /// so a gateway that lies is an error, never a result.
    pub gateways: Vec<String>,
    /// Peers the embedded node dials at start and re-dials whenever they are disconnected
    /// (multiaddrs ending with `/p2p/<peer id>`).
    pub bootstrap: Vec<String>,
    /// Addresses the embedded node listens on (multiaddrs). Default `/ip4/0.0.0.0/tcp/4001`, so
    /// that peers can reach the results it publishes; an empty list listens on loopback only, on
    /// a free port (a node that only dials out).
    pub listen: Vec<String>,
    /// Deadline for fetching one block, in seconds. Keep it at or above the fetch policy's
    /// per-attempt deadline (30 s) for inputs to be fetched as the policy intends.
    pub block_timeout_s: u64,
    /// Deadline of one request to the Kubo RPC API (`backend = "kubo"`), in seconds.
    pub kubo_timeout_s: u64,
}

/// Default listen address of the embedded IPFS node: all IPv4 interfaces, IPFS's usual port.
pub const DEFAULT_IPFS_LISTEN: &str = "/ip4/0.0.0.0/tcp/4001";

/// Settings of `https://` inputs. The limits themselves (size, deadline, redirects, attempts)
/// are the pinned `storage::FETCH_POLICY`, not settings: they decide canonical results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Ignored (a warning names it): `FETCH_POLICY.max_input_bytes`. Accepted so that older
    /// config files still load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Ignored (a warning names it): `FETCH_POLICY.attempt_timeout_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Ignored (a warning names it): `FETCH_POLICY.max_redirects`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_redirects: Option<usize>,
    /// Accept URLs on loopback and private addresses (tests and private deployments only: on a
    /// shared network it makes this worker's results differ from everyone else's for such URLs).
    pub allow_private_addresses: bool,
}

impl Config {
    /// Keys that are accepted but no longer have any effect, because what they set is part of
    /// the execution profile (`storage::FETCH_POLICY`); present ones are named in a warning.
    pub fn ignored_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.http.max_bytes.is_some() {
            keys.push("http.max_bytes");
        }
        if self.http.timeout_s.is_some() {
            keys.push("http.timeout_s");
        }
        if self.http.max_redirects.is_some() {
            keys.push("http.max_redirects");
        }
        if self.worker.fetch_attempts.is_some() {
            keys.push("worker.fetch_attempts");
        }
        keys
    }

    fn warn_ignored_keys(&self) {
        for key in self.ignored_keys() {
            tracing::warn!(
                target: "maskoracle::config",
                key,
                "setting ignored: input fetch limits are the pinned fetch policy of the execution profile (docs/storage.md, \"Fetch policy\")"
            );
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rpc_url: "http://127.0.0.1:8545".into(),
            rpc_fallback_urls: Vec::new(),
            deployment: PathBuf::from("deploy/records/31337.json"),
            data_dir: PathBuf::from(".maskoracle"),
            worker: WorkerConfig::default(),
            ipfs: IpfsConfig::default(),
            http: HttpConfig::default(),
            signer: SignerConfig::default(),
            log_format: LogFormat::Text,
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            keystore: None,
            password_file: None,
            dev_account: None,
            confirmations: 3,
            poll_interval_ms: 500,
            log_chunk_blocks: 2_000,
            max_concurrent_tasks: 1,
            intra_op_threads: 2,
            receipt_timeout_s: 30,
            metrics_listen: None,
            keeper: true,
            faulty: false,
            emulate_noise: None,
            fetch_attempts: None,
            drain: false,
            min_reward: "0".into(),
            prune_after_s: 7 * 24 * 3600,
            // 0.01 ETH: a few hundred commit/reveal transactions at devnet-like gas prices.
            min_gas_balance_wei: 10_000_000_000_000_000,
            max_head_lag_blocks: 64,
            max_signer_job_age_s: 300,
        }
    }
}

impl Default for IpfsConfig {
    fn default() -> Self {
        Self {
            backend: IpfsBackend::Embedded,
            kubo_url: "http://127.0.0.1:5001".into(),
            gateways: Vec::new(),
            bootstrap: Vec::new(),
            listen: vec![DEFAULT_IPFS_LISTEN.into()],
            block_timeout_s: 30,
            kubo_timeout_s: 60,
        }
    }
}

impl Config {
    /// Resolves defaults, file, environment and `overrides` (flags, as a partial tree of the same
    /// shape; absent keys leave lower layers untouched).
    ///
    /// `file`: an explicitly named config file (must exist); `None` reads `MASKORACLE_CONFIG` or,
    /// failing that, `./maskoracle.toml` if it exists.
    pub fn resolve(file: Option<&Path>, overrides: impl Serialize) -> Result<Self, ConfigError> {
        let named = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("MASKORACLE_CONFIG").map(PathBuf::from));
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match named {
            Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path)),
            Some(path) => fig = fig.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                fig = fig.merge(Toml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        let config: Config = fig
            .merge(Env::prefixed(ENV_PREFIX).filter(is_config_key).split("__"))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        config.warn_ignored_keys();
        Ok(config)
    }

    /// Top-level keys of [`Config`]: other `MASKORACLE_*` variables (the toolchain's, `MASKORACLE_LOG`)
    /// are not configuration and are left alone.
    const KEYS: [&'static str; 9] = [
        "rpc_url",
        "rpc_fallback_urls",
        "deployment",
        "data_dir",
        "worker",
        "ipfs",
        "http",
        "signer",
        "log_format",
    ];

    fn validate(&self) -> Result<(), ConfigError> {
        let w = &self.worker;
        if w.keystore.is_some() && w.dev_account.is_some() {
            return Err(ConfigError::Inconsistent(
                "worker.keystore and worker.dev_account are exclusive".into(),
            ));
        }
        if w.max_concurrent_tasks == 0 || w.intra_op_threads < 1 || w.log_chunk_blocks == 0 {
            return Err(ConfigError::Inconsistent(
                "worker.max_concurrent_tasks, worker.intra_op_threads and worker.log_chunk_blocks must be >= 1".into(),
            ));
        }
        if self.signer.max_in_flight == 0 || self.signer.max_fee_gwei == 0 {
            return Err(ConfigError::Inconsistent(
                "signer.max_in_flight and signer.max_fee_gwei must be >= 1".into(),
            ));
        }
        Ok(())
    }

    /// The RPC endpoints in the order they are tried: `rpc_url`, then `rpc_fallback_urls`.
    pub fn rpc_urls(&self) -> Vec<String> {
        crate::chain::endpoint_list(&self.rpc_url, &self.rpc_fallback_urls)
    }

    /// Seconds to wait for a receipt: `signer.receipt_timeout_s`, else `worker.receipt_timeout_s`.
    pub fn receipt_timeout_s(&self) -> u64 {
        self.signer
            .receipt_timeout_s
            .unwrap_or(self.worker.receipt_timeout_s)
    }
}

fn is_config_key(key: &figment::value::UncasedStr) -> bool {
    let key = key.as_str().to_ascii_lowercase();
    let top = key.split("__").next().unwrap_or_default();
    Config::KEYS.contains(&top)
        && (top == key || ["worker", "ipfs", "http", "signer"].contains(&top))
}

#[cfg(test)]
// figment's Jail closures return figment::Error by value; its size is the library's choice.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[derive(Serialize, Default)]
    struct Flags {
        #[serde(skip_serializing_if = "Option::is_none")]
        rpc_url: Option<String>,
    }

    fn resolve_in_jail(flags: Flags) -> Result<Config, ConfigError> {
        Config::resolve(None, flags)
    }

    #[test]
    fn defaults_apply_without_file_env_or_flags() {
        Jail::expect_with(|jail| {
            // The toolchain's own MASKORACLE_* variables are not configuration keys.
            jail.set_env("MASKORACLE_TOOLS_VENV", "/opt/venv");
            jail.set_env("MASKORACLE_LOG", "debug");
            let c = resolve_in_jail(Flags::default()).expect("resolves");
            assert_eq!(c, Config::default());
            Ok(())
        });
    }

    #[test]
    fn file_then_env_then_flags_take_precedence_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "rpc_url = \"http://file:1\"\n[worker]\nconfirmations = 4\npoll_interval_ms = 900\n",
            )?;
            let c = resolve_in_jail(Flags::default()).expect("file");
            assert_eq!(
                (
                    c.rpc_url.as_str(),
                    c.worker.confirmations,
                    c.worker.poll_interval_ms
                ),
                ("http://file:1", 4, 900)
            );

            jail.set_env("MASKORACLE_RPC_URL", "http://env:2");
            jail.set_env("MASKORACLE_WORKER__CONFIRMATIONS", "7");
            let c = resolve_in_jail(Flags::default()).expect("env");
            assert_eq!(
                (
                    c.rpc_url.as_str(),
                    c.worker.confirmations,
                    c.worker.poll_interval_ms
                ),
                ("http://env:2", 7, 900)
            );

            let c = resolve_in_jail(Flags {
                rpc_url: Some("http://flag:3".into()),
            })
            .expect("flags");
            assert_eq!(c.rpc_url, "http://flag:3");
            assert_eq!(c.worker.confirmations, 7);
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_file_is_an_error_naming_the_key() {
        Jail::expect_with(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[worker]\nconfirmatons = 4\n")?;
            let err = resolve_in_jail(Flags::default()).expect_err("typo must fail");
            assert!(err.to_string().contains("confirmatons"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn named_file_must_exist() {
        Jail::expect_with(|_| {
            let err = Config::resolve(Some(Path::new("nope.toml")), Flags::default())
                .expect_err("missing");
            assert!(matches!(err, ConfigError::MissingFile(_)));
            Ok(())
        });
    }

    #[test]
    fn the_signer_section_and_fallback_urls_resolve_and_the_worker_timeout_still_counts() {
        Jail::expect_with(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "rpc_fallback_urls = [\"http://b:1\"]\n[worker]\nreceipt_timeout_s = 12\n[signer]\nmax_in_flight = 4\n",
            )?;
            let c = resolve_in_jail(Flags::default()).expect("file");
            assert_eq!(c.signer.max_in_flight, 4);
            assert_eq!(c.signer.max_fee_gwei, 500);
            assert_eq!(
                c.receipt_timeout_s(),
                12,
                "worker.receipt_timeout_s still applies"
            );
            assert_eq!(c.rpc_urls(), ["http://127.0.0.1:8545", "http://b:1"]);
            jail.set_env("MASKORACLE_SIGNER__RECEIPT_TIMEOUT_S", "7");
            let c = resolve_in_jail(Flags::default()).expect("env");
            assert_eq!(c.receipt_timeout_s(), 7, "signer.receipt_timeout_s wins");
            Ok(())
        });
    }

    #[test]
    fn log_format_and_drain_come_from_file_and_env() {
        Jail::expect_with(|jail| {
            let c = resolve_in_jail(Flags::default()).expect("defaults");
            assert_eq!((c.log_format, c.worker.drain), (LogFormat::Text, false));
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "log_format = \"json\"\n[worker]\ndrain = true\n",
            )?;
            let c = resolve_in_jail(Flags::default()).expect("file");
            assert_eq!((c.log_format, c.worker.drain), (LogFormat::Json, true));
            jail.set_env("MASKORACLE_LOG_FORMAT", "text");
            jail.set_env("MASKORACLE_WORKER__DRAIN", "false");
            let c = resolve_in_jail(Flags::default()).expect("env");
            assert_eq!((c.log_format, c.worker.drain), (LogFormat::Text, false));
            jail.set_env("MASKORACLE_LOG_FORMAT", "yaml");
            let err = resolve_in_jail(Flags::default()).expect_err("unknown format");
            assert!(err.to_string().contains("yaml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn old_fetch_limit_keys_still_load_but_are_ignored() {
        Jail::expect_with(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "[worker]\nfetch_attempts = 7\n[http]\nmax_bytes = 1024\ntimeout_s = 5\nmax_redirects = 1\n",
            )?;
            let c = resolve_in_jail(Flags::default()).expect("old keys load");
            assert_eq!(
                c.ignored_keys(),
                [
                    "http.max_bytes",
                    "http.timeout_s",
                    "http.max_redirects",
                    "worker.fetch_attempts"
                ]
            );
            assert!(Config::default().ignored_keys().is_empty());
            Ok(())
        });
    }

    #[test]
    fn keystore_and_dev_account_are_exclusive() {
        Jail::expect_with(|jail| {
            jail.set_env("MASKORACLE_WORKER__KEYSTORE", "/k.json");
            jail.set_env("MASKORACLE_WORKER__DEV_ACCOUNT", "1");
            let err = resolve_in_jail(Flags::default()).expect_err("exclusive");
            assert!(matches!(err, ConfigError::Inconsistent(_)));
            Ok(())
        });
    }
}
