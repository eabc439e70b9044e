//! The signer: one task per account that owns its nonces and sends every transaction of the
//! process.
//!
//! Jobs wait in a priority queue ([`TxPriority`]: reveals first, since a missed reveal is
//! slashed; then earliest deadline; then arrival). The dispatcher takes the most urgent job while
//! fewer than `max_in_flight` transactions are unmined, estimates its gas (a revert is returned,
//! decoded, before anything is sent), gives it the next nonce and hands it to a flight task that
//! signs, sends and watches it:
//! - fees are estimated when it is sent; when no receipt comes within `receipt_timeout` the fees
//!   are estimated again and a replacement is sent at the same nonce with max(old + 12.5 %, fresh
//!   estimate) on both the max fee and the tip (geth and reth need at least 10 % on both), never
//!   above `max_fee_gwei`;
//! - after the last raise (or at the cap) it keeps watching and re-broadcasting: a nonce is never
//!   left while a transaction with it may be in the pool. A job whose deadline has passed by then
//!   is given up: a 0-value transfer to the account itself at the same nonce (a cancel, priced
//!   one raise above the last copy, the only price that may exceed the cap) replaces it, and the
//!   job fails with [`TxError::Cancelled`] unless the original is mined first;
//! - a job whose deadline passes while it is still queued fails with [`TxError::Expired`], unsent.
//!
//! Nonces come from a local counter started at the account's pending count. Before each
//! assignment the pending count is read again: when it is ahead (another process used the key)
//! the counter jumps to it; when it is behind and the missing nonces are not in flight (a mined
//! transaction of ours was reorged out, or the pool dropped it), those nonces are taken first. A
//! nonce released unsent (a send that failed) is given to the next job, or filled with a cancel
//! when later nonces are in flight and no job waits. A flight told "nonce too low" with none of its
//! copies mined gives its job back to the queue for a fresh nonce.
//!
//! With `max_in_flight = 1` this is the one-at-a-time signer of before: the next job is only
//! estimated once the previous one is mined.
//!
//! Gas is estimated before a nonce is taken, on whatever state the endpoint estimates against:
//! transactions still in flight may not be in it, so a job that depends on another one (a deposit
//! after its approval) must be submitted after the first is mined, as [`TxSender::deposit`] does.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolInterface;
use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::deployment::Deployment;
use super::revert::decode_revert;
use super::rpc::fallback_provider;
use crate::bindings::{TaskHub, TestToken, WorkerRegistry};

const TARGET: &str = "maskoracle::tx";
/// How often the dispatcher compares the chain's pending count with the nonces it holds, also
/// when every flight slot is taken: a reorg (or a pool) that drops a mined transaction of ours
/// leaves a gap that the later nonces in flight wait behind forever.
const GAP_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Why a transaction did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The call reverts (found by gas estimation, before sending): the decoded error.
    #[error("{label}: reverts with {reason}")]
    Revert {
        /// What the transaction was for.
        label: String,
        /// Decoded error, e.g. `TaskHubNotDrawn(TaskHubNotDrawn { taskId: 3, worker: 0x... })`.
        reason: String,
        /// The raw revert data (decode it with [`TxError::hub_error`] and friends).
        data: Bytes,
    },
    /// Mined but reverted.
    #[error("{label}: mined in block {block} but reverted (tx {hash})")]
    MinedRevert {
        /// What the transaction was for.
        label: String,
        /// Its hash.
        hash: B256,
        /// Its block.
        block: u64,
    },
    /// The RPC endpoint failed repeatedly.
    #[error("{label}: RPC error: {message}")]
    Rpc {
        /// What the transaction was for.
        label: String,
        /// Last error.
        message: String,
    },
    /// Its deadline passed while it was still queued: it was never sent.
    #[error("{label}: its deadline passed before it could be sent")]
    Expired {
        /// What the transaction was for.
        label: String,
    },
    /// Given up after its deadline: a 0-value transfer to the account itself took its nonce.
    #[error("{label}: cancelled at nonce {nonce} after its deadline (cancel tx {hash})")]
    Cancelled {
        /// What the transaction was for.
        label: String,
        /// The nonce the cancel took.
        nonce: u64,
        /// The mined cancel.
        hash: B256,
    },
    /// The signer task is gone (shutdown).
    #[error("the signer task has stopped")]
    Stopped,
}

impl TxError {
    /// The decoded revert, if this is one.
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            TxError::Revert { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The raw revert data, if this is a revert found by gas estimation.
    pub fn revert_data(&self) -> Option<&[u8]> {
        match self {
            TxError::Revert { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The revert as one of the hub's errors, if it is one.
    pub fn hub_error(&self) -> Option<TaskHub::TaskHubErrors> {
        self.revert_data()
            .and_then(|d| TaskHub::TaskHubErrors::abi_decode(d).ok())
    }

    /// The revert as one of the worker registry's errors, if it is one.
    pub fn registry_error(&self) -> Option<WorkerRegistry::WorkerRegistryErrors> {
        self.revert_data()
            .and_then(|d| WorkerRegistry::WorkerRegistryErrors::abi_decode(d).ok())
    }
}

impl Mined {
    /// The first event of type `E` in the receipt (e.g. the `TaskRequested` of a request).
    pub fn event<E: alloy::sol_types::SolEvent>(&self) -> anyhow::Result<E> {
        self.receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<E>().ok())
            .map(|l| l.inner.data)
            .with_context(|| format!("no {} event in the receipt of {}", E::SIGNATURE, self.hash))
    }
}

/// A mined, successful transaction.
#[derive(Debug, Clone)]
pub struct Mined {
    /// Transaction hash (of the copy that was mined).
    pub hash: B256,
    /// Block number.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Times the fees were raised before it was mined.
    pub bumps: u32,
    /// Its nonce.
    pub nonce: u64,
    /// The receipt.
    pub receipt: TransactionReceipt,
}

/// How urgent a job is; the queue sends lower values first (then the earliest deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxPriority {
    /// A reveal: missing its window is slashed.
    Reveal,
    /// A commit.
    Commit,
    /// A draw (or anything that starts a task's commit window).
    Draw,
    /// Keeper duties: finalize, expire.
    Keeper,
    /// Everything else (requests, deposits, stake changes).
    Normal,
}

/// One transaction to send.
#[derive(Debug)]
pub struct TxJob {
    /// What it is for (logs and errors).
    pub label: String,
    /// The contract (or account) called.
    pub to: Address,
    /// Calldata.
    pub input: Bytes,
    /// Queue order.
    pub priority: TxPriority,
    /// Unix time (local clock, seconds) after which the job is worthless: not sent once it has
    /// passed, and cancelled when it passes while stuck at its last fee raise.
    pub deadline_unix: Option<u64>,
    /// Fires when the first copy is handed to the RPC endpoint.
    pub sent: Option<oneshot::Sender<()>>,
}

impl TxJob {
    /// A [`TxPriority::Normal`] job without a deadline.
    pub fn new(label: impl Into<String>, to: Address, input: impl Into<Bytes>) -> Self {
        Self {
            label: label.into(),
            to,
            input: input.into(),
            priority: TxPriority::Normal,
            deadline_unix: None,
            sent: None,
        }
    }

    /// With priority `priority`.
    pub fn priority(mut self, priority: TxPriority) -> Self {
        self.priority = priority;
        self
    }

    /// With a deadline (unix seconds).
    pub fn deadline(mut self, deadline_unix: u64) -> Self {
        self.deadline_unix = Some(deadline_unix);
        self
    }

    /// Notifying `sent` when it is first handed to the RPC endpoint.
    pub fn notify(mut self, sent: oneshot::Sender<()>) -> Self {
        self.sent = Some(sent);
        self
    }
}

/// Settings of the signer task.
#[derive(Debug, Clone, Copy)]
pub struct TxSettings {
    /// Time to wait for a receipt before raising the fees.
    pub receipt_timeout: Duration,
    /// Fee raises before it only watches (and, past its deadline, cancels).
    pub max_bumps: u32,
    /// Attempts on RPC transport errors (with a 1 s pause) before giving up.
    pub rpc_retries: u32,
    /// Transactions of the account unmined at once (1: one at a time).
    pub max_in_flight: usize,
    /// Highest max fee per gas sent, in gwei (a cancel may go one raise above).
    pub max_fee_gwei: u64,
    /// Interval of the head poll that wakes the flights to look for receipts.
    pub poll_interval: Duration,
}

impl Default for TxSettings {
    fn default() -> Self {
        Self {
            receipt_timeout: Duration::from_secs(30),
            max_bumps: 5,
            rpc_retries: 30,
            max_in_flight: 16,
            max_fee_gwei: 500,
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// Counters of one signer, for metrics. Read them with [`SignerStats::snapshot`].
#[derive(Debug, Default)]
pub struct SignerStats {
    sent: AtomicU64,
    replaced: AtomicU64,
    mined: AtomicU64,
    mined_reverted: AtomicU64,
    estimate_reverts: AtomicU64,
    expired: AtomicU64,
    cancelled: AtomicU64,
    gas_used: AtomicU64,
    fees_paid_wei: Mutex<u128>,
    queue_len: AtomicU64,
    in_flight: AtomicU64,
    rpc_errors: AtomicU64,
    oldest_queued: Mutex<Option<Instant>>,
}

/// The values of [`SignerStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignerSnapshot {
    /// Transactions handed to the endpoint (first copies and cancels; not replacements).
    pub sent: u64,
    /// Replacements with raised fees.
    pub replaced: u64,
    /// Transactions of ours mined (successful or not, cancels included).
    pub mined: u64,
    /// Of those, reverted.
    pub mined_reverted: u64,
    /// Jobs refused because their gas estimate reverts.
    pub estimate_reverts: u64,
    /// Jobs whose deadline passed while queued.
    pub expired: u64,
    /// Jobs given up and replaced by a mined cancel.
    pub cancelled: u64,
    /// Gas used by mined transactions.
    pub gas_used: u64,
    /// Fees paid by mined transactions, in wei.
    pub fees_paid_wei: u128,
    /// Jobs waiting in the queue.
    pub queue_len: u64,
    /// Transactions sent or being sent, not yet mined.
    pub in_flight: u64,
    /// RPC failures seen (each retried or returned).
    pub rpc_errors: u64,
}

impl SignerStats {
    /// The counters now.
    pub fn snapshot(&self) -> SignerSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SignerSnapshot {
            sent: get(&self.sent),
            replaced: get(&self.replaced),
            mined: get(&self.mined),
            mined_reverted: get(&self.mined_reverted),
            estimate_reverts: get(&self.estimate_reverts),
            expired: get(&self.expired),
            cancelled: get(&self.cancelled),
            gas_used: get(&self.gas_used),
            fees_paid_wei: *self.fees_paid_wei.lock().unwrap_or_else(|e| e.into_inner()),
            queue_len: get(&self.queue_len),
            in_flight: get(&self.in_flight),
            rpc_errors: get(&self.rpc_errors),
        }
    }

    /// How long the oldest queued job has waited (none when the queue is empty): a health check
    /// can flag a signer that stopped taking jobs.
    pub fn oldest_queued_age(&self) -> Option<Duration> {
        self.oldest_queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.elapsed())
    }

    fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }

    fn mined_receipt(&self, receipt: &TransactionReceipt) {
        Self::add(&self.mined, 1);
        if !receipt.status() {
            Self::add(&self.mined_reverted, 1);
        }
        Self::add(&self.gas_used, receipt.gas_used);
        let fee = u128::from(receipt.gas_used).saturating_mul(receipt.effective_gas_price);
        let mut paid = self.fees_paid_wei.lock().unwrap_or_else(|e| e.into_inner());
        *paid = paid.saturating_add(fee);
    }
}

/// A job in the queue, with its reply.
struct Queued {
    job: TxJob,
    reply: Option<oneshot::Sender<Result<Mined, TxError>>>,
    seq: u64,
    enqueued: Instant,
}

impl Queued {
    fn key(&self) -> (TxPriority, u64, u64) {
        (
            self.job.priority,
            self.job.deadline_unix.unwrap_or(u64::MAX),
            self.seq,
        )
    }

    fn expired(&self) -> bool {
        self.job.deadline_unix.is_some_and(|d| unix_now() > d)
    }

    fn answer(&mut self, result: Result<Mined, TxError>) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        if let Err(e) = &result {
            tracing::warn!(target: TARGET, label = %self.job.label, error = %e, "transaction failed");
        }
        let _ = reply.send(result);
    }
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    /// Reversed: the max-heap pops the smallest key (most urgent) first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.key().cmp(&self.key())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Handle on the signer task. Cheap to clone.
#[derive(Clone)]
pub struct TxSender {
    jobs: mpsc::Sender<Queued>,
    address: Address,
    stats: Arc<SignerStats>,
    seq: Arc<AtomicU64>,
}

impl TxSender {
    /// Starts the signer task for `signer` on `url`.
    pub fn spawn(
        url: &str,
        signer: PrivateKeySigner,
        settings: TxSettings,
    ) -> anyhow::Result<Self> {
        Self::spawn_on(&[url], signer, settings)
    }

    /// Starts the signer task for `signer` on the endpoints `urls` (the first is the primary, the
    /// others are tried when it fails; see [`super::rpc::fallback_client`]).
    pub fn spawn_on<S: AsRef<str>>(
        urls: &[S],
        signer: PrivateKeySigner,
        settings: TxSettings,
    ) -> anyhow::Result<Self> {
        let provider = fallback_provider(urls)?;
        Ok(Self::spawn_with_provider(provider, signer, settings))
    }

    /// Starts the signer task for `signer` on `provider` (a provider without a wallet: the task
    /// signs itself).
    pub fn spawn_with_provider(
        provider: DynProvider,
        signer: PrivateKeySigner,
        settings: TxSettings,
    ) -> Self {
        let address = signer.address();
        let stats = Arc::new(SignerStats::default());
        let (jobs, rx) = mpsc::channel(1024);
        let settings = TxSettings {
            max_in_flight: settings.max_in_flight.max(1),
            ..settings
        };
        let core = Arc::new(Core {
            provider,
            wallet: EthereumWallet::from(signer),
            address,
            settings,
            stats: stats.clone(),
        });
        tokio::spawn(dispatcher(core, rx));
        Self {
            jobs,
            address,
            stats,
            seq: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The signing account.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The signer's counters.
    pub fn stats(&self) -> Arc<SignerStats> {
        self.stats.clone()
    }

    /// How long the oldest queued job has waited (none when the queue is empty).
    pub fn oldest_queued_age(&self) -> Option<Duration> {
        self.stats.oldest_queued_age()
    }

    /// Queues `job` and waits until it is mined (or fails: a revert found by estimation, a
    /// mined revert, [`TxError::Expired`], [`TxError::Cancelled`], an RPC failure).
    pub async fn submit(&self, job: TxJob) -> Result<Mined, TxError> {
        let (reply, rx) = oneshot::channel();
        let queued = Queued {
            job,
            reply: Some(reply),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            enqueued: Instant::now(),
        };
        self.jobs.send(queued).await.map_err(|_| TxError::Stopped)?;
        rx.await.map_err(|_| TxError::Stopped)?
    }

    /// Approves the hub for `amount` of the token and deposits it to `account`'s hub balance
    /// (the caller's own, or a consumer contract's). Returns the two mined transactions.
    pub async fn deposit(
        &self,
        d: &Deployment,
        account: Address,
        amount: U256,
    ) -> Result<(Mined, Mined), TxError> {
        use alloy::sol_types::SolCall;
        let approve = TestToken::approveCall {
            spender: d.task_hub,
            value: amount,
        };
        let approved = self.send("approve", d.token, approve.abi_encode()).await?;
        let deposit = TaskHub::depositCall { account, amount };
        let deposited = self
            .send("deposit", d.task_hub, deposit.abi_encode())
            .await?;
        Ok((approved, deposited))
    }

    /// Sends a call to `to` ([`TxPriority::Normal`], no deadline) and waits until it is mined.
    pub async fn send(
        &self,
        label: impl Into<String>,
        to: Address,
        input: impl Into<Bytes>,
    ) -> Result<Mined, TxError> {
        self.send_notify(label, to, input, None).await
    }

    /// Like [`send`](Self::send); `sent` fires when the transaction is handed to the RPC.
    pub async fn send_notify(
        &self,
        label: impl Into<String>,
        to: Address,
        input: impl Into<Bytes>,
        sent: Option<oneshot::Sender<()>>,
    ) -> Result<Mined, TxError> {
        let mut job = TxJob::new(label, to, input);
        job.sent = sent;
        self.submit(job).await
    }
}

/// What the dispatcher and its flights share.
struct Core {
    provider: DynProvider,
    wallet: EthereumWallet,
    address: Address,
    settings: TxSettings,
    stats: Arc<SignerStats>,
}

fn is_transport(e: &alloy::transports::TransportError) -> bool {
    e.is_transport_error() || e.as_error_resp().is_none()
}

fn revert_of(e: &alloy::transports::TransportError) -> Option<Bytes> {
    e.as_error_resp().and_then(|p| p.as_revert_data())
}

impl Core {
    fn rpc_error(&self) {
        SignerStats::add(&self.stats.rpc_errors, 1);
    }

    /// Runs `call` until it succeeds, retrying transport failures `rpc_retries` times.
    async fn retry<T, F, Fut>(
        &self,
        what: &str,
        mut call: F,
    ) -> Result<T, alloy::transports::TransportError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::IntoFuture<Output = Result<T, alloy::transports::TransportError>>,
    {
        let mut tries = 0;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    self.rpc_error();
                    if is_transport(&e) && tries < self.settings.rpc_retries {
                        tries += 1;
                        tracing::warn!(target: TARGET, what, error = %e, "RPC unavailable; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    fn cap_wei(&self) -> u128 {
        u128::from(self.settings.max_fee_gwei).saturating_mul(1_000_000_000)
    }

    /// Fresh fees, capped.
    async fn fresh_fees(&self) -> Result<Fees, alloy::transports::TransportError> {
        let est = self
            .retry("fee estimate", || self.provider.estimate_eip1559_fees())
            .await?;
        Ok(Fees {
            max_fee: est.max_fee_per_gas,
            tip: est.max_priority_fee_per_gas,
        }
        .capped(self.cap_wei()))
    }
}

/// Fees of one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fees {
    max_fee: u128,
    tip: u128,
}

impl Fees {
    fn capped(self, cap: u128) -> Self {
        let max_fee = self.max_fee.min(cap);
        Self {
            max_fee,
            tip: self.tip.min(max_fee),
        }
    }

    /// One raise: + 12.5 % (and at least 1 wei) on both.
    fn raised(self) -> Self {
        Self {
            max_fee: self.max_fee.saturating_add(self.max_fee / 8 + 1),
            tip: self.tip.saturating_add(self.tip / 8 + 1),
        }
    }

    /// Whether the pool accepts `self` as a replacement of `old` (>= 10 % more on both).
    fn replaces(self, old: Fees) -> bool {
        self.max_fee >= old.max_fee.saturating_add(old.max_fee / 10)
            && self.tip >= old.tip.saturating_add(old.tip / 10)
    }
}

/// The replacement fees of a stuck copy at `old`: max(old + 12.5 %, fresh) on each, capped.
/// `None` when the cap leaves no room for a valid replacement.
pub(crate) fn replacement_fees(
    old_max: u128,
    old_tip: u128,
    fresh_max: u128,
    fresh_tip: u128,
    cap: u128,
) -> Option<(u128, u128)> {
    let old = Fees {
        max_fee: old_max,
        tip: old_tip,
    };
    let raised = old.raised();
    let next = Fees {
        max_fee: raised.max_fee.max(fresh_max),
        tip: raised.tip.max(fresh_tip),
    }
    .capped(cap);
    next.replaces(old).then_some((next.max_fee, next.tip))
}

/// How a flight ended, for the dispatcher's nonce book-keeping.
struct Landed {
    nonce: u64,
    /// Nothing was ever sent at this nonce: it is free again.
    unsent: bool,
    /// The nonce was taken by another transaction: the job goes back to the queue.
    requeue: Option<Queued>,
}

/// Nonce book-keeping of the dispatcher.
#[derive(Debug, Default)]
struct Nonces {
    next: Option<u64>,
    free: BTreeSet<u64>,
    held: BTreeSet<u64>,
}

impl Nonces {
    /// The nonce for the next job, given the account's pending count on the chain.
    fn assign(&mut self, pending: u64) -> u64 {
        let mut next = self.next.unwrap_or(pending);
        if pending > next {
            tracing::info!(target: TARGET, local = next, chain = pending, "the account's nonce moved ahead (another sender?): following the chain");
            next = pending;
        }
        self.free.retain(|&n| n >= pending);
        if pending < next {
            // Missing from the pool and not in flight: reorged out, or dropped by the pool.
            let gap_end = next.min(pending.saturating_add(1024));
            for n in pending..gap_end {
                if !self.held.contains(&n) && self.free.insert(n) {
                    tracing::warn!(target: TARGET, nonce = n, chain = pending, "a nonce of ours is no longer pending (reorg or dropped): taken again");
                }
            }
        }
        let nonce = match self.free.pop_first() {
            Some(n) => n,
            None => {
                let n = next;
                next += 1;
                n
            }
        };
        self.next = Some(next);
        self.held.insert(nonce);
        nonce
    }
}

async fn dispatcher(core: Arc<Core>, mut rx: mpsc::Receiver<Queued>) {
    let chain_id = loop {
        match core.provider.get_chain_id().await {
            Ok(id) => break id,
            Err(e) => {
                core.rpc_error();
                tracing::warn!(target: TARGET, error = %e, "asking the chain id; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let (head_tx, head_rx) = watch::channel(0u64);
    tokio::spawn(head_poller(core.clone(), head_tx));
    let mut heap: BinaryHeap<Queued> = BinaryHeap::new();
    let mut nonces = Nonces::default();
    let mut flights: JoinSet<Landed> = JoinSet::new();
    let mut open = true;
    let mut last_gap_check = Instant::now();
    loop {
        if nonces.next.is_some() && last_gap_check.elapsed() >= GAP_CHECK_EVERY {
            last_gap_check = Instant::now();
            let pending = core
                .provider
                .get_transaction_count(core.address)
                .pending()
                .await;
            if let Ok(p) = pending {
                let next = nonces.next.unwrap_or(p);
                let gaps: Vec<u64> = (p..next.min(p.saturating_add(1024)))
                    .filter(|n| !nonces.held.contains(n))
                    .collect();
                // A gap matters only when something of ours waits behind it.
                let behind = gaps
                    .first()
                    .is_some_and(|g| nonces.held.range(g..).next().is_some());
                if behind {
                    for n in gaps {
                        nonces.free.remove(&n);
                        nonces.held.insert(n);
                        tracing::warn!(target: TARGET, nonce = n, chain = p, "a nonce of ours is no longer pending (reorg or dropped) and later ones wait behind it: filled");
                        // A queued job takes it when there is one; otherwise a 0-value filler.
                        let mut dispatched = false;
                        while let Some(mut q) = heap.pop() {
                            if let Some(gas) = estimate(&core, &mut q).await {
                                flights.spawn(flight(
                                    core.clone(),
                                    head_rx.clone(),
                                    chain_id,
                                    q,
                                    n,
                                    Some(gas),
                                ));
                                dispatched = true;
                                break;
                            }
                        }
                        if !dispatched {
                            let filler = Queued {
                                job: TxJob::new("nonce filler", core.address, Bytes::new()),
                                reply: None,
                                seq: u64::MAX,
                                enqueued: Instant::now(),
                            };
                            flights.spawn(flight(
                                core.clone(),
                                head_rx.clone(),
                                chain_id,
                                filler,
                                n,
                                None,
                            ));
                        }
                    }
                }
            }
        }
        // Drop the queued jobs whose deadline passed.
        if heap.iter().any(Queued::expired) {
            let (gone, keep): (Vec<_>, Vec<_>) = heap.drain().partition(Queued::expired);
            heap.extend(keep);
            for mut q in gone {
                SignerStats::add(&core.stats.expired, 1);
                let label = q.job.label.clone();
                q.answer(Err(TxError::Expired { label }));
            }
        }
        while flights.len() < core.settings.max_in_flight {
            let Some(mut q) = heap.pop() else { break };
            let Some(gas) = estimate(&core, &mut q).await else {
                continue;
            };
            let pending = match core
                .retry("pending nonce", || {
                    core.provider.get_transaction_count(core.address).pending()
                })
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    let label = q.job.label.clone();
                    q.answer(Err(TxError::Rpc {
                        label,
                        message: e.to_string(),
                    }));
                    continue;
                }
            };
            let nonce = nonces.assign(pending);
            tracing::debug!(target: TARGET, label = %q.job.label, nonce, priority = ?q.job.priority, "dispatched");
            flights.spawn(flight(
                core.clone(),
                head_rx.clone(),
                chain_id,
                q,
                nonce,
                Some(gas),
            ));
        }
        core.stats
            .queue_len
            .store(heap.len() as u64, Ordering::Relaxed);
        core.stats
            .in_flight
            .store(flights.len() as u64, Ordering::Relaxed);
        *core
            .stats
            .oldest_queued
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = heap.iter().map(|q| q.enqueued).min();
        if !open && heap.is_empty() && flights.is_empty() {
            break;
        }
        tokio::select! {
            msg = rx.recv(), if open => match msg {
                Some(q) => heap.push(q),
                None => open = false,
            },
            Some(landed) = flights.join_next(), if !flights.is_empty() => {
                let landed = match landed {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(target: TARGET, error = %e, "a transaction flight panicked");
                        continue;
                    }
                };
                nonces.held.remove(&landed.nonce);
                if let Some(q) = landed.requeue {
                    heap.push(q);
                } else if landed.unsent {
                    let later_in_flight = nonces.held.range(landed.nonce..).next().is_some();
                    if heap.is_empty() && later_in_flight {
                        // No job to take the nonce and later ones wait behind it: fill it.
                        tracing::warn!(target: TARGET, nonce = landed.nonce, "filling an unsent nonce with a cancel");
                        nonces.held.insert(landed.nonce);
                        let filler = Queued {
                            job: TxJob::new("nonce filler", core.address, Bytes::new()),
                            reply: None,
                            seq: u64::MAX,
                            enqueued: Instant::now(),
                        };
                        flights.spawn(flight(core.clone(), head_rx.clone(), chain_id, filler, landed.nonce, None));
                    } else {
                        nonces.free.insert(landed.nonce);
                    }
                }
            },
            _ = tokio::time::sleep(Duration::from_millis(200)), if !heap.is_empty() || !flights.is_empty() => {}
        }
    }
    tracing::debug!(target: TARGET, "signer stopped");
}

/// The head number, polled, so that flights look for receipts once per new block.
async fn head_poller(core: Arc<Core>, head: watch::Sender<u64>) {
    while !head.is_closed() {
        match core.provider.get_block_number().await {
            Ok(n) => {
                head.send_if_modified(|h| {
                    let changed = *h != n;
                    *h = n;
                    changed
                });
            }
            Err(e) => {
                core.rpc_error();
                tracing::debug!(target: TARGET, error = %e, "head poll failed");
            }
        }
        tokio::time::sleep(core.settings.poll_interval).await;
    }
}

/// The gas estimate of a queued job, or `None` when it was answered (revert, RPC failure).
async fn estimate(core: &Core, q: &mut Queued) -> Option<u64> {
    let req = TransactionRequest::default()
        .with_from(core.address)
        .with_to(q.job.to)
        .with_input(q.job.input.clone());
    match core
        .retry("gas estimate", || core.provider.estimate_gas(req.clone()))
        .await
    {
        Ok(g) => Some(g),
        Err(e) => {
            let label = q.job.label.clone();
            if let Some(data) = revert_of(&e) {
                SignerStats::add(&core.stats.estimate_reverts, 1);
                q.answer(Err(TxError::Revert {
                    label,
                    reason: decode_revert(&data),
                    data,
                }));
            } else {
                q.answer(Err(TxError::Rpc {
                    label,
                    message: e.to_string(),
                }));
            }
            None
        }
    }
}

/// One copy sent at the flight's nonce.
struct Copy {
    hash: B256,
    raw: Bytes,
    cancel: bool,
}

enum SendOutcome {
    /// The endpoint took it (or already had it).
    Accepted,
    /// "nonce too low": the nonce is used, by one of our copies or by another transaction.
    NonceUsed,
    /// Refused for another reason.
    Refused(alloy::transports::TransportError),
}

fn classify_send(e: &alloy::transports::TransportError) -> Option<SendOutcome> {
    let msg = e.to_string().to_ascii_lowercase();
    if msg.contains("nonce too low") || msg.contains("nonce is too low") {
        return Some(SendOutcome::NonceUsed);
    }
    if msg.contains("already known")
        || msg.contains("already imported")
        || msg.contains("known transaction")
        || msg.contains("underpriced")
    {
        return Some(SendOutcome::Accepted);
    }
    None
}

/// Signs, sends and watches one job at `nonce` until a copy is mined. `gas: None` marks a
/// filler: a cancel from the start.
async fn flight(
    core: Arc<Core>,
    mut head: watch::Receiver<u64>,
    chain_id: u64,
    mut q: Queued,
    nonce: u64,
    gas: Option<u64>,
) -> Landed {
    let label = q.job.label.clone();
    let rpc_err = |message: String| TxError::Rpc {
        label: label.clone(),
        message,
    };
    let mut fees = match core.fresh_fees().await {
        Ok(f) => f,
        Err(e) => {
            q.answer(Err(rpc_err(e.to_string())));
            return Landed {
                nonce,
                unsent: true,
                requeue: None,
            };
        }
    };
    let mut copies: Vec<Copy> = Vec::new();
    let mut bumps = 0u32;
    let mut cancelling = gas.is_none();
    let mut next = match sign(&core, chain_id, &q.job, nonce, gas, fees).await {
        Ok(c) => c,
        Err(e) => {
            q.answer(Err(rpc_err(format!("signing: {e}"))));
            return Landed {
                nonce,
                unsent: true,
                requeue: None,
            };
        }
    };
    loop {
        // Send `next` (a first copy, a replacement or a re-broadcast).
        if !copies.iter().any(|c| c.hash == next.hash) {
            let outcome = match core
                .retry("send", || core.provider.send_raw_transaction(&next.raw))
                .await
            {
                Ok(_) => SendOutcome::Accepted,
                Err(e) => classify_send(&e).unwrap_or(SendOutcome::Refused(e)),
            };
            match outcome {
                SendOutcome::Accepted => {
                    if copies.is_empty() || next.cancel {
                        SignerStats::add(&core.stats.sent, 1);
                    } else {
                        SignerStats::add(&core.stats.replaced, 1);
                    }
                    tracing::debug!(target: TARGET, %label, hash = %next.hash, nonce, max_fee = fees.max_fee, cancel = next.cancel, "sent");
                    copies.push(Copy {
                        hash: next.hash,
                        raw: next.raw.clone(),
                        cancel: next.cancel,
                    });
                    if let Some(s) = q.job.sent.take() {
                        let _ = s.send(());
                    }
                }
                SendOutcome::NonceUsed => {
                    if let Some(landed) =
                        look_for_receipts(&core, &mut q, &copies, nonce, bumps).await
                    {
                        return landed;
                    }
                    if copies.is_empty() {
                        tracing::warn!(target: TARGET, %label, nonce, "nonce already used by another transaction: queued again");
                        return Landed {
                            nonce,
                            unsent: false,
                            requeue: Some(q),
                        };
                    }
                    // One of our copies is mined and its receipt not yet served: keep watching.
                }
                SendOutcome::Refused(e) if is_transport(&e) => {
                    // The endpoint may have taken it before failing: watch it like a sent copy
                    // (it is re-broadcast when no receipt comes).
                    tracing::warn!(target: TARGET, %label, nonce, error = %e, "send failed at the transport; watching it as possibly sent");
                    copies.push(Copy {
                        hash: next.hash,
                        raw: next.raw.clone(),
                        cancel: next.cancel,
                    });
                }
                SendOutcome::Refused(e) => {
                    if copies.is_empty() {
                        let err = match revert_of(&e) {
                            Some(data) => TxError::Revert {
                                label: label.clone(),
                                reason: decode_revert(&data),
                                data,
                            },
                            None => rpc_err(e.to_string()),
                        };
                        q.answer(Err(err));
                        return Landed {
                            nonce,
                            unsent: true,
                            requeue: None,
                        };
                    }
                    tracing::warn!(target: TARGET, %label, nonce, error = %e, "replacement refused; watching the copies sent");
                }
            }
        }
        // Watch for a receipt of any copy until the timeout.
        let until = tokio::time::Instant::now() + core.settings.receipt_timeout;
        let mut foreign_checks = 0;
        loop {
            if let Some(landed) = look_for_receipts(&core, &mut q, &copies, nonce, bumps).await {
                return landed;
            }
            // Someone else used the nonce (another process with the same key).
            if let Ok(latest) = core
                .provider
                .get_transaction_count(core.address)
                .latest()
                .await
            {
                if latest > nonce {
                    foreign_checks += 1;
                    if foreign_checks >= 3 {
                        if copies.is_empty() {
                            return Landed {
                                nonce,
                                unsent: false,
                                requeue: Some(q),
                            };
                        }
                        q.answer(Err(rpc_err(format!(
                            "nonce {nonce} consumed by another transaction"
                        ))));
                        return Landed {
                            nonce,
                            unsent: false,
                            requeue: None,
                        };
                    }
                }
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                break;
            }
            let wait = (until - now).min(Duration::from_secs(2));
            let _ = tokio::time::timeout(wait, head.changed()).await;
        }
        // Stuck: raise, cancel, or re-broadcast.
        let past_deadline = q.job.deadline_unix.is_some_and(|d| unix_now() > d);
        let fresh = match core.fresh_fees().await {
            Ok(f) => f,
            Err(_) => fees,
        };
        let raise = replacement_fees(
            fees.max_fee,
            fees.tip,
            fresh.max_fee,
            fresh.tip,
            core.cap_wei(),
        )
        .map(|(max_fee, tip)| Fees { max_fee, tip });
        let can_raise = bumps < core.settings.max_bumps && raise.is_some();
        let rebuilt = if !cancelling && can_raise {
            bumps += 1;
            fees = raise.unwrap_or(fees);
            tracing::warn!(target: TARGET, %label, nonce, bumps, max_fee = fees.max_fee, tip = fees.tip, "stuck; replacing with higher fees");
            sign(&core, chain_id, &q.job, nonce, gas, fees).await
        } else if !cancelling && past_deadline {
            cancelling = true;
            fees = fees.raised();
            tracing::warn!(target: TARGET, %label, nonce, max_fee = fees.max_fee, "past its deadline at the last fee raise; cancelling");
            sign(&core, chain_id, &q.job, nonce, None, fees).await
        } else {
            // Nothing more to raise: keep the nonce, re-broadcast the latest copy.
            if let Some(last) = copies.last() {
                if let Err(e) = core.provider.send_raw_transaction(&last.raw).await {
                    if classify_send(&e).is_none() {
                        tracing::debug!(target: TARGET, %label, nonce, error = %e, "re-broadcast refused");
                    }
                }
            }
            continue;
        };
        match rebuilt {
            Ok(c) => next = c,
            Err(e) => {
                tracing::error!(target: TARGET, %label, nonce, error = %e, "signing a replacement failed")
            }
        }
    }
}

/// Signs the job (or, with `gas: None`, a cancel: 0 to the account itself) at `nonce`.
async fn sign(
    core: &Core,
    chain_id: u64,
    job: &TxJob,
    nonce: u64,
    gas: Option<u64>,
    fees: Fees,
) -> anyhow::Result<Copy> {
    let base = match gas {
        Some(gas) => TransactionRequest::default()
            .with_to(job.to)
            .with_input(job.input.clone())
            .with_gas_limit(super::gas_limit(gas)),
        None => TransactionRequest::default()
            .with_to(core.address)
            .with_value(U256::ZERO)
            .with_gas_limit(21_000),
    };
    let req = base
        .with_from(core.address)
        .with_nonce(nonce)
        .with_chain_id(chain_id)
        .with_max_fee_per_gas(fees.max_fee)
        .with_max_priority_fee_per_gas(fees.tip);
    let envelope =
        <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(req, &core.wallet)
            .await
            .context("signing")?;
    Ok(Copy {
        hash: *envelope.tx_hash(),
        raw: envelope.encoded_2718().into(),
        cancel: gas.is_none(),
    })
}

/// Answers the job when one of its copies is mined.
async fn look_for_receipts(
    core: &Core,
    q: &mut Queued,
    copies: &[Copy],
    nonce: u64,
    bumps: u32,
) -> Option<Landed> {
    for c in copies {
        let receipt = match core.provider.get_transaction_receipt(c.hash).await {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(_) => {
                core.rpc_error();
                continue;
            }
        };
        core.stats.mined_receipt(&receipt);
        let block = receipt.block_number.unwrap_or_default();
        let label = q.job.label.clone();
        let result = if c.cancel {
            if q.reply.is_some() {
                SignerStats::add(&core.stats.cancelled, 1);
            }
            Err(TxError::Cancelled {
                label,
                nonce,
                hash: c.hash,
            })
        } else if !receipt.status() {
            Err(TxError::MinedRevert {
                label,
                hash: c.hash,
                block,
            })
        } else {
            Ok(Mined {
                hash: c.hash,
                block,
                gas_used: receipt.gas_used,
                bumps,
                nonce,
                receipt,
            })
        };
        q.answer(result);
        return Some(Landed {
            nonce,
            unsent: false,
            requeue: None,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(priority: TxPriority, deadline: Option<u64>, seq: u64) -> Queued {
        let mut job = TxJob::new(format!("{seq}"), Address::ZERO, Bytes::new()).priority(priority);
        job.deadline_unix = deadline;
        Queued {
            job,
            reply: None,
            seq,
            enqueued: Instant::now(),
        }
    }

    #[test]
    fn the_queue_pops_reveals_first_then_the_earliest_deadline_then_arrival() {
        let mut heap = BinaryHeap::new();
        heap.push(queued(TxPriority::Normal, None, 0));
        heap.push(queued(TxPriority::Commit, Some(50), 1));
        heap.push(queued(TxPriority::Commit, Some(20), 2));
        heap.push(queued(TxPriority::Reveal, None, 3));
        heap.push(queued(TxPriority::Normal, None, 4));
        heap.push(queued(TxPriority::Keeper, Some(1), 5));
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|q| q.seq)).collect();
        assert_eq!(order, [3, 2, 1, 5, 0, 4]);
    }

    #[test]
    fn a_replacement_raises_both_fees_by_at_least_the_pool_rule_and_respects_the_cap() {
        // Raised by 12.5 % when the fresh estimate is lower.
        let (max, tip) = replacement_fees(1_000, 100, 500, 50, 10_000).expect("room");
        assert_eq!((max, tip), (1_126, 113));
        // The fresh estimate wins when higher.
        assert_eq!(
            replacement_fees(1_000, 100, 5_000, 400, 10_000),
            Some((5_000, 400))
        );
        // Capped, still >= 10 %: accepted.
        assert_eq!(
            replacement_fees(1_000, 100, 0, 0, 1_100),
            Some((1_100, 113))
        );
        // The cap leaves under 10 %: no replacement.
        assert_eq!(replacement_fees(1_000, 100, 0, 0, 1_050), None);
    }

    #[test]
    fn nonces_count_up_follow_the_chain_and_refill_gaps() {
        let mut n = Nonces::default();
        assert_eq!(n.assign(5), 5);
        assert_eq!(n.assign(5), 6);
        assert_eq!(n.assign(6), 7);
        // Another sender moved the account ahead.
        assert_eq!(n.assign(20), 20);
        n.held.clear();
        n.held.insert(21);
        // 20 was mined and reorged out (pending 20 again, 21 still in flight): 20 first, then 22.
        n.next = Some(22);
        assert_eq!(n.assign(20), 20);
        assert_eq!(n.assign(20), 22);
    }
}
