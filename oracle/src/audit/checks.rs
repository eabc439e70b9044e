//! The named checks of one task. Each looks at the task's events (as the event source gave them)
//! and, where it says so, at the chain's state read with `eth_call` at a given block; each returns
//! a [`Check`]: its name, a verdict, a line saying why, and the evidence (block, transaction,
//! values) a person can look up. What each check trusts is listed in docs/oracle.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolValue;
use serde::Serialize;

use super::draw::{self, Pool};
use super::TaskAudit;
use crate::bindings::hub::TaskHub::TaskHubEvents as H;
use crate::bindings::worker_registry::WorkerRegistry::WorkerRegistryEvents as R;
use crate::chain::Contracts;
use crate::events::{CallbackOutcome, EventLog, OracleEvent, WaitReason};

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Checked, holds.
    Pass,
    /// Checked, does not hold: the audit fails.
    Fail,
    /// Something a person should look at that does not prove a fault (e.g. an `https://` input
    /// that changed since the task).
    Warn,
    /// Does not apply to this task, or was not asked for.
    Skip,
}

/// One piece of evidence: what, where (block, transaction) and the value.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// What the value is.
    pub what: String,
    /// Block it was read at or emitted in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// Transaction that emitted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx: Option<B256>,
    /// The value.
    pub value: String,
}

/// A named check with its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Name (`draw.seed`, `money.balances`, ...).
    pub name: &'static str,
    /// Verdict.
    pub verdict: Verdict,
    /// Why, in one line.
    pub detail: String,
    /// Evidence.
    pub evidence: Vec<Evidence>,
}

/// Every check, in the order they are reported.
pub const CHECKS: &[&str] = &[
    "draw.seed",
    "draw.weights",
    "draw.set",
    "commits",
    "quorum",
    "tolerance",
    "timing.commit",
    "timing.reveal",
    "timing.settlement",
    "result",
    "money.split",
    "money.fee",
    "money.balances",
    "money.slash",
    "callback",
    "availability",
    "recompute",
];

struct Builder {
    name: &'static str,
    fails: Vec<String>,
    warns: Vec<String>,
    evidence: Vec<Evidence>,
}

impl Builder {
    fn new(name: &'static str) -> Self {
        Builder {
            name,
            fails: Vec::new(),
            warns: Vec::new(),
            evidence: Vec::new(),
        }
    }
    fn fail(&mut self, s: impl Into<String>) {
        self.fails.push(s.into());
    }
    fn warn(&mut self, s: impl Into<String>) {
        self.warns.push(s.into());
    }
    fn ev(&mut self, what: impl Into<String>, ev: Option<&EventLog>, value: impl ToString) {
        self.evidence.push(Evidence {
            what: what.into(),
            block: ev.map(|e| e.block),
            tx: ev.map(|e| e.tx_hash),
            value: value.to_string(),
        });
    }
    fn at(&mut self, what: impl Into<String>, block: u64, value: impl ToString) {
        self.evidence.push(Evidence {
            what: what.into(),
            block: Some(block),
            tx: None,
            value: value.to_string(),
        });
    }
    fn done(self, ok: &str) -> Check {
        let (verdict, detail) = if !self.fails.is_empty() {
            (Verdict::Fail, self.fails.join("; "))
        } else if !self.warns.is_empty() {
            (Verdict::Warn, self.warns.join("; "))
        } else {
            (Verdict::Pass, ok.to_owned())
        };
        Check {
            name: self.name,
            verdict,
            detail,
            evidence: self.evidence,
        }
    }
}

/// A check that does not apply.
pub fn skip(name: &'static str, why: impl Into<String>) -> Check {
    Check {
        name,
        verdict: Verdict::Skip,
        detail: why.into(),
        evidence: Vec::new(),
    }
}

/// A check decided elsewhere (recompute, availability).
pub fn decided(
    name: &'static str,
    verdict: Verdict,
    detail: String,
    evidence: Vec<Evidence>,
) -> Check {
    Check {
        name,
        verdict,
        detail,
        evidence,
    }
}

/// Chain state read with `eth_call` (and headers, code, traces) at given blocks, each answer
/// cached: a value is asked for once per run.
pub struct State<'a> {
    c: &'a Contracts,
    blocks: Mutex<HashMap<u64, (B256, u64)>>,
    balances: Mutex<HashMap<(Address, u64), U256>>,
    stakes: Mutex<HashMap<(Address, u64), (U256, bool)>>,
    terms: Mutex<HashMap<(u32, u64), (U256, Address)>>,
    pool_totals: Mutex<HashMap<(u32, u64), U256>>,
    code: Mutex<HashMap<(Address, u64), bool>>,
    /// Whether the endpoint answers `debug_traceTransaction` (None: not tried yet).
    traces: Mutex<Option<bool>>,
    task_stake: U256,
    /// Tolerance rules by model (immutable once registered).
    tolerances: Mutex<HashMap<u32, Option<maskoracle_inference::sketch::Tolerance>>>,
    /// The hub's `SETTLE_GRACE` (seconds).
    settle_grace: u64,
}

fn cached<K: std::hash::Hash + Eq + Clone, V: Clone>(m: &Mutex<HashMap<K, V>>, k: &K) -> Option<V> {
    m.lock().unwrap_or_else(|e| e.into_inner()).get(k).cloned()
}

fn store<K: std::hash::Hash + Eq, V>(m: &Mutex<HashMap<K, V>>, k: K, v: V) {
    m.lock().unwrap_or_else(|e| e.into_inner()).insert(k, v);
}

impl<'a> State<'a> {
    /// Reads through `c`'s provider.
    pub async fn new(c: &'a Contracts) -> anyhow::Result<Self> {
        let task_stake = U256::from(c.workers.taskStake().call().await?);
        let settle_grace = c.hub.SETTLE_GRACE().call().await?.to::<u64>();
        Ok(State {
            c,
            blocks: Mutex::default(),
            balances: Mutex::default(),
            stakes: Mutex::default(),
            terms: Mutex::default(),
            pool_totals: Mutex::default(),
            code: Mutex::default(),
            traces: Mutex::default(),
            tolerances: Mutex::default(),
            settle_grace,
            task_stake,
        })
    }

    /// The registry's `taskStake`.
    pub fn task_stake(&self) -> U256 {
        self.task_stake
    }

    /// The hub's `SETTLE_GRACE`: seconds past the reveal deadline during which a fallback with Q
    /// or more sketches can only be settled.
    pub fn settle_grace(&self) -> u64 {
        self.settle_grace
    }

    /// The model's tolerance rule (`None`: registered without one).
    pub async fn tolerance(
        &self,
        model: u32,
    ) -> anyhow::Result<Option<maskoracle_inference::sketch::Tolerance>> {
        if let Some(v) = cached(&self.tolerances, &model) {
            return Ok(v);
        }
        let r = self.c.models.toleranceOf(model).call().await?;
        let v = r
            .set
            .then(|| crate::worker::tolerant::tolerance_of(&r.tolerance));
        store(&self.tolerances, model, v);
        Ok(v)
    }

    /// Remembers a block's timestamp the logs gave.
    pub fn note_timestamp(&self, block: u64, hash: B256, ts: u64) {
        store(&self.blocks, block, (hash, ts));
    }

    /// Hash and timestamp of block `n`.
    pub async fn block(&self, n: u64) -> anyhow::Result<(B256, u64)> {
        if let Some(v) = cached(&self.blocks, &n) {
            return Ok(v);
        }
        let b = self
            .c
            .provider
            .get_block_by_number(n.into())
            .await?
            .ok_or_else(|| anyhow::anyhow!("block {n} not found"))?;
        let v = (b.header.hash, b.header.timestamp);
        store(&self.blocks, n, v);
        Ok(v)
    }

    /// Timestamp of the block of `ev`.
    pub async fn time_of(&self, ev: &EventLog) -> anyhow::Result<u64> {
        match ev.timestamp {
            Some(t) => Ok(t),
            None => Ok(self.block(ev.block).await?.1),
        }
    }

    /// The hub balance of `a` at the end of block `n`.
    pub async fn balance(&self, a: Address, n: u64) -> anyhow::Result<U256> {
        if let Some(v) = cached(&self.balances, &(a, n)) {
            return Ok(v);
        }
        let v = self
            .c
            .hub
            .balanceOf(a)
            .block(BlockId::number(n))
            .call()
            .await?;
        store(&self.balances, (a, n), v);
        Ok(v)
    }

    /// `(stake, opted into model)` of `w` at the end of block `n` (`model` 0: opt-in not asked).
    pub async fn stake(&self, w: Address, model: u32, n: u64) -> anyhow::Result<(U256, bool)> {
        let key = (w, n ^ (u64::from(model) << 48));
        if let Some(v) = cached(&self.stakes, &key) {
            return Ok(v);
        }
        let info = self
            .c
            .workers
            .workerInfo(w)
            .block(BlockId::number(n))
            .call()
            .await?;
        let opted = if model == 0 {
            false
        } else {
            self.c
                .workers
                .isOptedIn(w, model)
                .block(BlockId::number(n))
                .call()
                .await?
        };
        let v = (U256::from(info.stake), opted);
        store(&self.stakes, key, v);
        Ok(v)
    }

    /// `(fee, publisher)` of `model` at the end of block `n`.
    pub async fn terms(&self, model: u32, n: u64) -> anyhow::Result<(U256, Address)> {
        if let Some(v) = cached(&self.terms, &(model, n)) {
            return Ok(v);
        }
        let m = self
            .c
            .models
            .model(model)
            .block(BlockId::number(n))
            .call()
            .await?;
        let v = (U256::from(m.fee), m.publisher);
        store(&self.terms, (model, n), v);
        Ok(v)
    }

    /// The registry's pool weight of `model` at the end of block `at` (its history view).
    pub async fn pool_total(&self, model: u32, at: u64) -> anyhow::Result<U256> {
        if let Some(v) = cached(&self.pool_totals, &(model, at)) {
            return Ok(v);
        }
        let v = self
            .c
            .workers
            .poolWeightAt(model, U256::from(at))
            .call()
            .await?;
        store(&self.pool_totals, (model, at), v);
        Ok(v)
    }

    /// Whether `a` has code at the end of block `n`.
    pub async fn has_code(&self, a: Address, n: u64) -> anyhow::Result<bool> {
        if let Some(v) = cached(&self.code, &(a, n)) {
            return Ok(v);
        }
        let code = self
            .c
            .provider
            .get_code_at(a)
            .block_id(BlockId::number(n))
            .await?;
        let v = !code.is_empty();
        store(&self.code, (a, n), v);
        Ok(v)
    }

    /// The calls from the hub to `target` in transaction `tx`: `(gas given, reverted)` each, from
    /// `debug_traceTransaction`'s call tracer. `None`: the endpoint has no tracer.
    pub async fn callback_calls(
        &self,
        tx: B256,
        target: Address,
    ) -> anyhow::Result<Option<Vec<(u64, bool)>>> {
        if *self.traces.lock().unwrap_or_else(|e| e.into_inner()) == Some(false) {
            return Ok(None);
        }
        let r: Result<serde_json::Value, _> = self
            .c
            .provider
            .raw_request(
                "debug_traceTransaction".into(),
                (tx, serde_json::json!({"tracer": "callTracer"})),
            )
            .await;
        let v = match r {
            Ok(v) => {
                *self.traces.lock().unwrap_or_else(|e| e.into_inner()) = Some(true);
                v
            }
            Err(e) => {
                tracing::debug!(target: "maskoracle::audit", error = %e, "no call tracer");
                *self.traces.lock().unwrap_or_else(|e| e.into_inner()) = Some(false);
                return Ok(None);
            }
        };
        let hub = self.c.deployment.task_hub;
        let mut out = Vec::new();
        fn walk(v: &serde_json::Value, hub: Address, target: Address, out: &mut Vec<(u64, bool)>) {
            let addr = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_str())
                    .and_then(|s| s.parse::<Address>().ok())
            };
            if addr("from") == Some(hub)
                && addr("to") == Some(target)
                && v.get("type").and_then(|t| t.as_str()) == Some("CALL")
            {
                let gas = v
                    .get("gas")
                    .and_then(|g| g.as_str())
                    .and_then(|g| u64::from_str_radix(g.trim_start_matches("0x"), 16).ok())
                    .unwrap_or_default();
                out.push((gas, v.get("error").is_some()));
            }
            if let Some(calls) = v.get("calls").and_then(|c| c.as_array()) {
                for c in calls {
                    walk(c, hub, target, out);
                }
            }
        }
        walk(&v, hub, target, &mut out);
        Ok(Some(out))
    }
}

/// Balance and stake changes per (account, block), rebuilt from every event read.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Hub balance: (credits, debits).
    pub hub: HashMap<(Address, u64), (U256, U256)>,
    /// Registry stake: (added, removed).
    pub stake: HashMap<(Address, u64), (U256, U256)>,
}

impl Ledger {
    fn credit(&mut self, a: Address, b: u64, v: U256) {
        self.hub.entry((a, b)).or_default().0 += v;
    }
    fn debit(&mut self, a: Address, b: u64, v: U256) {
        self.hub.entry((a, b)).or_default().1 += v;
    }

    /// The ledger of `events`; `tasks` gives each settled task's requester and reward.
    pub fn of(events: &[EventLog], tasks: &HashMap<U256, (Address, U256)>) -> Ledger {
        let mut l = Ledger::default();
        for ev in events {
            let b = ev.block;
            match &ev.event {
                OracleEvent::Hub(H::Deposited(e)) => l.credit(e.account, b, e.amount),
                OracleEvent::Hub(H::Withdrawn(e)) => l.debit(e.account, b, e.amount),
                OracleEvent::Hub(H::TaskRequested(e)) => l.debit(
                    e.requester,
                    b,
                    U256::from(e.task.reward) + U256::from(e.task.fee),
                ),
                OracleEvent::Hub(H::TaskFinalized(e)) => {
                    let reward = tasks.get(&e.taskId).map(|t| t.1).unwrap_or_default();
                    for (w, v) in finalized_credits(
                        &e.winners,
                        reward,
                        e.rewardEach,
                        e.slashShareEach,
                        e.slashed,
                    ) {
                        l.credit(w, b, v);
                    }
                    if !e.fee.is_zero() {
                        l.credit(e.publisher, b, e.fee);
                    }
                }
                OracleEvent::Hub(H::TaskExpired(e)) => {
                    if let Some((req, _)) = tasks.get(&e.taskId) {
                        l.credit(*req, b, e.refund);
                    }
                }
                OracleEvent::Registry(R::Staked(e)) => {
                    l.stake.entry((e.worker, b)).or_default().0 += e.amount
                }
                OracleEvent::Registry(R::UnstakeRequested(e)) => {
                    l.stake.entry((e.worker, b)).or_default().1 += e.amount
                }
                OracleEvent::Registry(R::StakesReleased(e)) => {
                    for (i, w) in e.workers.iter().enumerate() {
                        if e.slashMask.bit(i) {
                            l.stake.entry((*w, b)).or_default().1 += e.amountEach;
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }
}

/// What a finalization credits each winner, from the event's own values: `rewardEach +
/// slashShareEach` each, and what the split leaves of `reward + slashed` to the first.
pub fn finalized_credits(
    winners: &[Address],
    reward: U256,
    reward_each: U256,
    slash_each: U256,
    slashed: U256,
) -> Vec<(Address, U256)> {
    let n = U256::from(winners.len());
    let each = reward_each + slash_each;
    let rest = (reward + slashed).saturating_sub(each * n);
    winners
        .iter()
        .enumerate()
        .map(|(i, w)| (*w, if i == 0 { each + rest } else { each }))
        .collect()
}

/// What every check of a task needs besides its events.
pub struct Context<'a> {
    /// Chain state.
    pub state: &'a State<'a>,
    /// The pool of the task's model at the end of block requestBlock - 1, replayed from events.
    pub pool: Option<&'a Pool>,
    /// Problems the replay found (they concern every draw after them).
    pub replay_issues: &'a [draw::ReplayIssue],
    /// Balance and stake changes of every event read.
    pub ledger: &'a Ledger,
    /// The randomness source kind (`blockhash` or `vrf`).
    pub randomness: &'a str,
    /// VRF words by task (VRF deployments).
    pub vrf_words: &'a HashMap<U256, (B256, EventLog)>,
    /// The head block.
    pub head: u64,
}

fn find<'e, T>(
    evs: &'e [EventLog],
    f: impl Fn(&'e OracleEvent) -> Option<T>,
) -> Option<(&'e EventLog, T)> {
    evs.iter().find_map(|e| f(&e.event).map(|v| (e, v)))
}

fn all<'e, T>(
    evs: &'e [EventLog],
    f: impl Fn(&'e OracleEvent) -> Option<T>,
) -> Vec<(&'e EventLog, T)> {
    evs.iter()
        .filter_map(|e| f(&e.event).map(|v| (e, v)))
        .collect()
}

fn pos(e: &EventLog) -> (u64, u64) {
    (e.block, e.log_index)
}

/// Runs the chain checks of `t` (all but availability and recompute).
pub async fn run(t: &TaskAudit, cx: &Context<'_>) -> Vec<Check> {
    let evs = &t.events;
    let mut out = Vec::new();
    macro_rules! guard {
        ($name:literal, $e:expr) => {
            match $e.await {
                Ok(c) => out.push(c),
                // Not verified is not a proof of a fault: a warning (an endpoint that prunes old
                // state cannot answer `eth_call` at past blocks; use an archive node).
                Err(e) => out.push(Check {
                    name: $name,
                    verdict: Verdict::Warn,
                    detail: format!("not verified: could not read the chain: {e:#}"),
                    evidence: Vec::new(),
                }),
            }
        };
    }
    guard!("draw.seed", draw_seed(t, evs, cx));
    guard!("draw.weights", draw_weights(t, evs, cx));
    guard!("draw.set", draw_set(t, evs, cx));
    out.push(commits(t, evs, cx));
    out.push(quorum(t, evs));
    guard!("tolerance", tolerance(t, evs, cx));
    guard!("timing.commit", timing_commit(t, evs, cx));
    guard!("timing.reveal", timing_reveal(t, evs, cx));
    guard!("timing.settlement", timing_settlement(t, evs, cx));
    out.push(result(t, evs));
    out.push(money_split(t, evs));
    guard!("money.fee", money_fee(t, evs, cx));
    guard!("money.balances", money_balances(t, evs, cx));
    guard!("money.slash", money_slash(t, evs, cx));
    guard!("callback", callback(t, evs, cx));
    out
}

fn drawn_event(evs: &[EventLog]) -> Option<(&EventLog, (B256, Vec<Address>))> {
    find(evs, |e| match e {
        OracleEvent::Hub(H::WorkersDrawn(d)) => Some((d.seed, d.workers.clone())),
        _ => None,
    })
}

fn request_event(evs: &[EventLog]) -> Option<&EventLog> {
    find(evs, |e| {
        matches!(e, OracleEvent::Hub(H::TaskRequested(_))).then_some(())
    })
    .map(|x| x.0)
}

/// The task's seed from the chain's randomness (the seed block's hash, or the VRF word).
async fn derived_seed(t: &TaskAudit, cx: &Context<'_>) -> anyhow::Result<Option<B256>> {
    let raw = if cx.randomness == "vrf" {
        match cx.vrf_words.get(&t.task_id) {
            Some((w, _)) => *w,
            None => return Ok(None),
        }
    } else {
        cx.state.block(t.request_block + 1).await?.0
    };
    Ok(Some(draw::seed(raw, t.task_id)))
}

async fn draw_seed(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    let mut b = Builder::new("draw.seed");
    let Some((dev, (seed, _))) = drawn_event(evs) else {
        return Ok(skip("draw.seed", "not drawn"));
    };
    let raw = if cx.randomness == "vrf" {
        match cx.vrf_words.get(&t.task_id) {
            Some((w, ev)) => {
                b.ev("VRF word (SeedFulfilled)", Some(ev), w);
                *w
            }
            None => {
                b.fail("no SeedFulfilled event for the task");
                return Ok(b.done(""));
            }
        }
    } else {
        let seed_block = t.request_block + 1;
        let (hash, _) = cx.state.block(seed_block).await?;
        b.at(
            "hash of the seed block (request block + 1)",
            seed_block,
            hash,
        );
        if dev.block > seed_block + 256 {
            b.fail(format!(
                "drawn in block {}, past the seed block's 256-block horizon",
                dev.block
            ));
        }
        hash
    };
    let want = draw::seed(raw, t.task_id);
    b.ev("seed in WorkersDrawn", Some(dev), seed);
    b.ev(
        "seed re-derived: keccak256(abi.encode(randomness, taskId))",
        None,
        want,
    );
    if want != seed {
        b.fail(format!(
            "WorkersDrawn says seed {seed}, the chain's randomness gives {want}"
        ));
    }
    Ok(b.done("the seed re-derived from the chain's randomness matches WorkersDrawn"))
}

async fn draw_weights(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    let mut b = Builder::new("draw.weights");
    let Some((_, (_, drawn))) = drawn_event(evs) else {
        return Ok(skip("draw.weights", "not drawn"));
    };
    let Some(pool) = cx.pool else {
        return Ok(skip("draw.weights", "no pool replayed"));
    };
    let at = t.request_block.saturating_sub(1);
    for i in cx.replay_issues.iter().filter(|i| i.block <= at) {
        b.evidence.push(Evidence {
            what: "registry event that does not add up".into(),
            block: Some(i.block),
            tx: Some(i.tx),
            value: i.what.clone(),
        });
        b.fail(format!(
            "registry events do not add up before the request: {}",
            i.what
        ));
    }
    let chain_total = cx.state.pool_total(t.model_id, at).await?;
    b.at(
        "pool weight replayed from registry events",
        at,
        pool.total(),
    );
    b.at("pool weight on chain (poolWeightAt)", at, chain_total);
    if chain_total != pool.total() {
        b.fail(format!(
            "replayed pool weight {} at block {at}, the registry says {chain_total}",
            pool.total()
        ));
    }
    // Each leaf's weight against the registry's stake and opt-in at a block between the pool's
    // last change before the request and requestBlock - 1 (the same state when every change
    // emits an event, which the pool total at requestBlock - 1 confirms).
    let k = pool.read_at;
    for (w, weight) in &pool.leaves {
        let (stake, opted) = cx.state.stake(*w, t.model_id, k).await?;
        let chain = if opted { stake } else { U256::ZERO };
        if chain != *weight {
            b.at(
                format!("weight of {w}: replayed / on chain"),
                k,
                format!("{weight} / {chain}"),
            );
            b.fail(format!(
                "{w}: replayed weight {weight}, the registry held {chain} at block {k}"
            ));
        }
    }
    for w in &drawn {
        if pool.weight_of(*w).is_zero() {
            b.fail(format!(
                "{w} was drawn but had no weight in the pool at block {at}"
            ));
        }
    }
    b.at(
        "leaves (workers with weight)",
        at,
        pool.leaves.iter().filter(|(_, x)| !x.is_zero()).count(),
    );
    Ok(b.done(&format!(
        "the frozen weights at block {at} (replayed) agree with the registry; every drawn worker was eligible"
    )))
}

async fn draw_set(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    let mut b = Builder::new("draw.set");
    let Some((dev, (_, drawn))) = drawn_event(evs) else {
        return Ok(skip("draw.set", "not drawn"));
    };
    let Some(pool) = cx.pool else {
        return Ok(skip("draw.set", "no pool replayed"));
    };
    let Some(seed) = derived_seed(t, cx).await? else {
        return Ok(skip(
            "draw.set",
            "no randomness for the task (see draw.seed)",
        ));
    };
    // Leaf order from the replay, each leaf's weight from the registry's state (draw.weights
    // checks that the two agree); the seed re-derived from the chain's randomness (draw.seed
    // checks the event's): each lie shows in one check.
    let mut leaves = Vec::with_capacity(pool.leaves.len());
    for (w, _) in &pool.leaves {
        let (stake, opted) = cx.state.stake(*w, t.model_id, pool.read_at).await?;
        leaves.push((*w, if opted { stake } else { U256::ZERO }));
    }
    let got = draw::draw(&leaves, seed, usize::from(t.replication));
    b.ev(
        "drawn (WorkersDrawn, slot order)",
        Some(dev),
        format!("{drawn:?}"),
    );
    b.ev("seed re-derived from the chain's randomness", None, seed);
    b.ev(
        "recomputed from the frozen weights and the seed",
        None,
        format!("{got:?}"),
    );
    if got != drawn {
        b.fail("the recomputed draw differs from WorkersDrawn");
    }
    Ok(b.done("the draw recomputed from the frozen weights and the seed matches WorkersDrawn"))
}

fn commits(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> Check {
    let mut b = Builder::new("commits");
    let cs = all(evs, |e| match e {
        OracleEvent::Hub(H::Committed(c)) => Some((c.worker, c.resultHash)),
        _ => None,
    });
    if cs.is_empty() {
        return skip("commits", "no commit");
    }
    let drawn = drawn_event(evs).map(|(_, (_, d))| d).unwrap_or_default();
    let locks = all(evs, |e| match e {
        OracleEvent::Registry(R::StakesLocked(l)) => Some((l.workers.clone(), l.amountEach)),
        _ => None,
    });
    let mut seen = HashSet::new();
    for (ev, (w, h)) in &cs {
        b.ev(format!("commit by {w}"), Some(ev), h);
        if !drawn.contains(w) {
            b.fail(format!("{w} committed but was not drawn"));
        }
        if !seen.insert(*w) {
            b.fail(format!("{w} committed twice"));
        }
        let lock = locks
            .iter()
            .find(|(l, (ws, _))| l.tx_hash == ev.tx_hash && ws.contains(w));
        match lock {
            None => b.fail(format!("no stake locked for {w}'s commit")),
            Some((_, (_, each))) if *each != cx.state.task_stake() => b.fail(format!(
                "{w}: {each} locked, the task stake is {}",
                cx.state.task_stake()
            )),
            _ => {}
        }
    }
    for (ev, (ws, _)) in &locks {
        for w in ws {
            if !cs
                .iter()
                .any(|(c, (cw, _))| cw == w && c.tx_hash == ev.tx_hash)
            {
                b.ev("stake locked without a commit", Some(ev), w);
                b.fail(format!("stake locked for {w} without its commit"));
            }
        }
    }
    if cs.len() > usize::from(t.replication) {
        b.fail(format!("{} commits for R = {}", cs.len(), t.replication));
    }
    b.done(&format!(
        "{} commits, each by a drawn worker, once, with its stake locked",
        cs.len()
    ))
}

/// The drawn workers' commits in chain order.
fn drawn_commits(evs: &[EventLog]) -> Vec<(&EventLog, (Address, B256))> {
    let drawn = drawn_event(evs).map(|(_, (_, d))| d).unwrap_or_default();
    all(evs, |e| match e {
        OracleEvent::Hub(H::Committed(c)) if drawn.contains(&c.worker) => {
            Some((c.worker, c.resultHash))
        }
        _ => None,
    })
}

fn hash_counts(cs: &[(&EventLog, (Address, B256))]) -> BTreeMap<B256, usize> {
    let mut m = BTreeMap::new();
    for (_, (_, h)) in cs {
        *m.entry(*h).or_default() += 1;
    }
    m
}

fn quorum(t: &TaskAudit, evs: &[EventLog]) -> Check {
    if t.reconciliation {
        return skip(
            "quorum",
            "no Q equal hashes: the tolerant fallback decided (see tolerance)",
        );
    }
    let mut b = Builder::new("quorum");
    let cs = drawn_commits(evs);
    let counts = hash_counts(&cs);
    let consensus = find(evs, |e| match e {
        OracleEvent::Hub(H::ConsensusReached(c)) => Some(c.resultHash),
        _ => None,
    });
    let finalized = find(evs, |e| match e {
        OracleEvent::Hub(H::TaskFinalized(f)) => Some(f.winners.clone()),
        _ => None,
    });
    let reveals = all(evs, |e| match e {
        OracleEvent::Hub(H::Revealed(r)) => Some(r.worker),
        _ => None,
    });
    let q = usize::from(t.quorum);
    let Some((cev, h)) = consensus else {
        if finalized.is_some() {
            b.fail("finalized without ConsensusReached");
        }
        if let Some((h, n)) = counts.iter().find(|(_, n)| **n >= q) {
            b.ev(
                "hash with a quorum but no ConsensusReached",
                None,
                format!("{h} x{n}"),
            );
        }
        return if finalized.is_some() {
            b.done("")
        } else {
            skip("quorum", "no consensus")
        };
    };
    let backing = counts.get(&h).copied().unwrap_or_default();
    b.ev("consensus hash (ConsensusReached)", Some(cev), h);
    b.ev(
        "drawn workers' commits of it",
        None,
        format!("{backing} (Q = {q})"),
    );
    if backing < q {
        b.fail(format!(
            "only {backing} commits back the consensus hash, Q = {q}"
        ));
    }
    for (ev, w) in &reveals {
        if !cs.iter().any(|(_, (cw, ch))| cw == w && *ch == h) {
            b.ev(
                "revealer without a commit of the consensus hash",
                Some(ev),
                w,
            );
            b.fail(format!(
                "{w} revealed but did not commit the consensus hash"
            ));
        }
    }
    if let Some((fev, winners)) = finalized {
        let mut a: Vec<Address> = winners.clone();
        let mut r: Vec<Address> = reveals.iter().map(|(_, w)| *w).collect();
        a.sort();
        r.sort();
        if a != r {
            b.ev("winners (TaskFinalized)", Some(fev), format!("{winners:?}"));
            b.fail(format!("winners {winners:?} are not the revealers {r:?}"));
        }
    }
    b.done(&format!(
        "{backing} of {} commits back the consensus hash (Q = {q})",
        cs.len()
    ))
}

/// The tolerant fallback, rebuilt: the fallback opened only without Q equal hashes on a model
/// with a tolerance; every revealed sketch's summary hash and sha256 reproduce the hash its
/// worker committed; the members are exactly the revealed workers whose sketch agrees with the
/// representative's under the model's rule (recomputed here with the Rust rule, held equal to
/// the contracts' by shared vectors), at least Q of them; the slashed outliers are exactly
/// those agreeing with no member; the recorded result is the representative's. A warning when
/// the representative is not the keepers' choice (most agreeing workers, then the lowest
/// sha256): the hub lets the settler choose, so that is not a fault.
async fn tolerance(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    use crate::worker::tolerant;
    if !t.reconciliation && t.tolerant.is_none() {
        // The exact path: with a consensus no sketch has a place (revealSketch is refused then).
        if t.consensus.is_none() {
            return Ok(skip("tolerance", "no consensus and no tolerant fallback"));
        }
        let mut b = Builder::new("tolerance");
        if !t.sketches.is_empty() {
            b.fail(format!(
                "{} sketch(es) revealed although the commits reached a consensus",
                t.sketches.len()
            ));
        }
        return Ok(b.done("the exact path: Q equal hashes, no fallback opened, no sketch revealed"));
    }
    let mut b = Builder::new("tolerance");
    let opened = find(evs, |e| {
        matches!(e, OracleEvent::Hub(H::ReconciliationOpened(_))).then_some(())
    });
    match opened {
        Some((ev, ())) => b.ev("fallback opened (ReconciliationOpened)", Some(ev), ""),
        None => b.fail("settled by the fallback without ReconciliationOpened"),
    }
    let cs = drawn_commits(evs);
    let q = usize::from(t.quorum);
    if let Some((h, n)) = hash_counts(&cs).into_iter().find(|(_, n)| *n >= q) {
        b.fail(format!(
            "the fallback opened although {h} had {n} commits (Q = {q})"
        ));
    }
    let Some(tol) = cx.state.tolerance(t.model_id).await? else {
        b.fail(format!("model {} has no tolerance rule", t.model_id));
        return Ok(b.done(""));
    };
    // Each sketch reveal opens its worker's commit.
    for s in &t.sketches {
        let committed = cs
            .iter()
            .find(|(_, (w, _))| *w == s.worker)
            .map(|(_, (_, h))| *h);
        let digest = alloy::primitives::keccak256((s.summary_hash, s.result_sha256).abi_encode());
        let h = maskoracle_inference::summary::result_hash(t.task_id, digest);
        if committed != Some(h) {
            b.fail(format!(
                "{}'s revealed summary hash and sha256 give {h}, it committed {committed:?}",
                s.worker
            ));
        }
    }
    b.ev("sketches revealed", None, t.sketches.len());
    let Some(out) = &t.tolerant else {
        return Ok(b.done(&format!(
            "the fallback is open or expired: {} sketch(es) revealed, none settled",
            t.sketches.len()
        )));
    };
    // The hub's openings: the revealed contributions in slot order.
    let revealed: Vec<tolerant::Revealed> = t
        .drawn
        .iter()
        .filter_map(|w| t.sketches.iter().find(|s| s.worker == *w).cloned())
        .collect();
    let Some(rep) = revealed.iter().position(|r| r.worker == out.representative) else {
        b.fail(format!(
            "the representative {} revealed no sketch",
            out.representative
        ));
        return Ok(b.done(""));
    };
    let all = tolerant::candidates(&revealed, &tol, 1);
    let Some(named) = all.iter().find(|c| c.index == rep) else {
        b.fail("the representative's sketch does not parse");
        return Ok(b.done(""));
    };
    let members: Vec<Address> = named.members.iter().map(|&i| revealed[i].worker).collect();
    let mut want = members.clone();
    let mut got = out.members.clone();
    want.sort();
    got.sort();
    b.ev(
        "representative (TaskSettledTolerant)",
        None,
        out.representative,
    );
    b.ev("members recomputed", None, format!("{members:?}"));
    if want != got {
        b.fail(format!(
            "the hub paid {:?}; the workers agreeing with the representative are {members:?}",
            out.members
        ));
    }
    if members.len() < q {
        b.fail(format!("{} members, Q = {q}", members.len()));
    }
    let mut outliers: Vec<Address> = tolerant::slashed_outliers(&revealed, &named.members, &tol)
        .into_iter()
        .map(|i| revealed[i].worker)
        .collect();
    let mut slashed = out.slashed_outliers.clone();
    outliers.sort();
    slashed.sort();
    if outliers != slashed {
        b.fail(format!(
            "outliers slashed {slashed:?}; those agreeing with no member are {outliers:?}"
        ));
    }
    let r = &revealed[rep];
    if t.result_sha256 != Some(r.result_sha256) {
        b.fail(format!(
            "recorded sha256 {:?}, the representative revealed {}",
            t.result_sha256, r.result_sha256
        ));
    }
    if t.summary.as_deref().map(alloy::primitives::keccak256) != Some(r.summary_hash) {
        b.fail("the recorded summary is not the representative's");
    }
    if let Some(best) = tolerant::candidates(&revealed, &tol, q).first() {
        if best.index != rep {
            b.warn(format!(
                "the settler named {} ({} members); the keepers' rule names {} ({} members)",
                r.worker,
                members.len(),
                revealed[best.index].worker,
                best.members.len()
            ));
        }
    }
    Ok(b.done(&format!(
        "{} of {} revealed sketches agree with the representative's within the model's tolerance (Q = {q}); {} outlier(s) slashed on evidence",
        members.len(),
        revealed.len(),
        outliers.len()
    )))
}

async fn timing_commit(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    let mut b = Builder::new("timing.commit");
    let cs = all(evs, |e| {
        matches!(e, OracleEvent::Hub(H::Committed(_))).then_some(())
    });
    if cs.is_empty() {
        return Ok(skip("timing.commit", "no commit"));
    }
    b.ev(
        "commit deadline (TaskRequested)",
        request_event(evs),
        t.commit_deadline,
    );
    for (ev, ()) in &cs {
        let ts = cx.state.time_of(ev).await?;
        if ts > t.commit_deadline {
            b.ev("late commit", Some(ev), ts);
            b.fail(format!(
                "commit in block {} at {ts}, after the commit deadline {}",
                ev.block, t.commit_deadline
            ));
        }
        if ev.block <= t.request_block {
            b.fail(format!(
                "commit in block {}, not after the request",
                ev.block
            ));
        }
    }
    Ok(b.done(&format!("{} commits before the commit deadline", cs.len())))
}

/// When commits closed: the R-th drawn commit's position, if all R committed.
fn all_committed_at(t: &TaskAudit, evs: &[EventLog]) -> Option<(u64, u64)> {
    let cs = drawn_commits(evs);
    let r = usize::from(t.replication);
    (cs.len() >= r).then(|| pos(cs[r - 1].0))
}

async fn timing_reveal(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    let mut b = Builder::new("timing.reveal");
    // Reveals of the result and, in the tolerant fallback, of sketches: the same windows.
    let rs = all(evs, |e| match e {
        OracleEvent::Hub(H::Revealed(r)) => Some(r.worker),
        OracleEvent::Hub(H::SketchRevealed(r)) => Some(r.worker),
        _ => None,
    });
    if rs.is_empty() {
        return Ok(skip("timing.reveal", "no reveal"));
    }
    b.ev(
        "reveal deadline (TaskRequested)",
        request_event(evs),
        t.reveal_deadline,
    );
    let closed = all_committed_at(t, evs);
    for (ev, w) in &rs {
        let ts = cx.state.time_of(ev).await?;
        if ts > t.reveal_deadline {
            b.ev(format!("late reveal by {w}"), Some(ev), ts);
            b.fail(format!(
                "{w} revealed at {ts}, after the reveal deadline {}",
                t.reveal_deadline
            ));
        }
        let open = closed.is_some_and(|c| c < pos(ev)) || ts > t.commit_deadline;
        if !open {
            b.ev(
                format!("reveal by {w} while commits were open"),
                Some(ev),
                ts,
            );
            b.fail(format!("{w} revealed while commits were still open"));
        }
    }
    Ok(b.done(&format!(
        "{} reveals after commits closed and before the reveal deadline",
        rs.len()
    )))
}

async fn timing_settlement(
    t: &TaskAudit,
    evs: &[EventLog],
    cx: &Context<'_>,
) -> anyhow::Result<Check> {
    let mut b = Builder::new("timing.settlement");
    let reveals: Vec<&EventLog> = all(evs, |e| {
        matches!(e, OracleEvent::Hub(H::Revealed(_))).then_some(())
    })
    .into_iter()
    .map(|x| x.0)
    .collect();
    if let Some((fev, ())) = find(evs, |e| {
        matches!(e, OracleEvent::Hub(H::TaskFinalized(_))).then_some(())
    }) {
        let ts = cx.state.time_of(fev).await?;
        b.ev("finalized", Some(fev), ts);
        if t.tolerant.is_some() {
            // settleTolerant: once every committer revealed its sketch, or after the deadline.
            let sketches = t.sketches.len();
            let commits = drawn_commits(evs).len();
            if sketches < commits && ts <= t.reveal_deadline {
                b.fail(format!(
                    "settled at {ts} with {sketches} of {commits} sketches revealed, before the reveal deadline {}",
                    t.reveal_deadline
                ));
            }
            return Ok(b.done(if sketches == commits {
                "settled within tolerance once every committer had revealed its sketch"
            } else {
                "settled within tolerance after the reveal deadline"
            }));
        }
        let consensus = find(evs, |e| match e {
            OracleEvent::Hub(H::ConsensusReached(c)) => Some(c.resultHash),
            _ => None,
        })
        .map(|x| x.1);
        let winning: Vec<Address> = consensus
            .map(|h| {
                drawn_commits(evs)
                    .iter()
                    .filter(|(_, (_, ch))| *ch == h)
                    .map(|(_, (w, _))| *w)
                    .collect()
            })
            .unwrap_or_default();
        let before: Vec<&&EventLog> = reveals.iter().filter(|r| pos(r) < pos(fev)).collect();
        let revealed: Vec<Address> = all(evs, |e| match e {
            OracleEvent::Hub(H::Revealed(r)) => Some(r.worker),
            _ => None,
        })
        .into_iter()
        .filter(|(e, _)| pos(e) < pos(fev))
        .map(|(_, w)| w)
        .collect();
        let in_reveal = before.last().is_some_and(|r| r.tx_hash == fev.tx_hash);
        if in_reveal {
            // Settled by the reveal of the last committer of the winning hash.
            let waiting: Vec<&Address> = winning.iter().filter(|w| !revealed.contains(w)).collect();
            if !waiting.is_empty() {
                b.fail(format!(
                    "finalized in a reveal while {waiting:?} (committed the winning hash) had not revealed"
                ));
            }
        } else {
            // Settled by finalize(): only after the reveal deadline, with a reveal.
            if ts <= t.reveal_deadline {
                b.fail(format!(
                    "finalize() at {ts}, not after the reveal deadline {}",
                    t.reveal_deadline
                ));
            }
            if before.is_empty() {
                b.fail("finalize() with no reveal");
            }
        }
        return Ok(b.done(if in_reveal {
            "finalized in the last winning committer's reveal"
        } else {
            "finalized by finalize() after the reveal deadline"
        }));
    }
    let Some((xev, (reason, _))) = find(evs, |e| match e {
        OracleEvent::Hub(H::TaskExpired(x)) => Some((WaitReason::from(x.reason), x.refund)),
        _ => None,
    }) else {
        return Ok(skip("timing.settlement", "not settled"));
    };
    let ts = cx.state.time_of(xev).await?;
    b.ev("expired", Some(xev), format!("{reason} at {ts}"));
    let cs = drawn_commits(evs);
    let counts = hash_counts(&cs);
    let has_quorum = counts.values().any(|n| *n >= usize::from(t.quorum));
    let drawn = drawn_event(evs).is_some();
    match reason {
        WaitReason::SeedExpired => {
            if cx.randomness != "blockhash" || drawn || xev.block <= t.request_block + 1 + 256 {
                b.fail(format!(
                    "SeedExpired in block {} (request {}, drawn {drawn})",
                    xev.block, t.request_block
                ));
            }
        }
        WaitReason::NoQuorumPossible => {
            if cs.len() < usize::from(t.replication) || has_quorum {
                b.fail(format!(
                    "NoQuorumPossible with {} commits, quorum {has_quorum}",
                    cs.len()
                ));
            }
        }
        WaitReason::CommitDeadlinePassed => {
            if ts <= t.commit_deadline || has_quorum {
                b.fail(format!(
                    "CommitDeadlinePassed at {ts} (deadline {}), quorum {has_quorum}",
                    t.commit_deadline
                ));
            }
        }
        WaitReason::RevealDeadlinePassed => {
            if ts <= t.reveal_deadline || !reveals.is_empty() || !has_quorum {
                b.fail(format!(
                    "RevealDeadlinePassed at {ts} (deadline {}), {} reveals",
                    t.reveal_deadline,
                    reveals.len()
                ));
            }
        }
        WaitReason::SketchDeadlinePassed => {
            // The fallback expires after its deadline with fewer than Q sketches, or after the
            // settlement grace with any number (no representative reached Q).
            let grace = cx.state.settle_grace();
            let sketches = t.sketches.len();
            if ts <= t.reveal_deadline
                || (sketches >= usize::from(t.quorum) && ts <= t.reveal_deadline + grace)
            {
                b.fail(format!(
                    "SketchDeadlinePassed at {ts} (deadline {}, grace {grace} s) with {sketches} sketches, Q = {}",
                    t.reveal_deadline, t.quorum
                ));
            }
        }
        other => b.fail(format!(
            "expired with reason {other}, which allows no expiry"
        )),
    }
    Ok(b.done(&format!("expiry allowed: {reason}")))
}

fn result(t: &TaskAudit, evs: &[EventLog]) -> Check {
    let mut b = Builder::new("result");
    let recs = all(evs, |e| match e {
        OracleEvent::Hub(H::ResultRecorded(r)) => {
            Some((r.resultSha256, r.status, r.summary.clone()))
        }
        _ => None,
    });
    let consensus = find(evs, |e| match e {
        OracleEvent::Hub(H::ConsensusReached(c)) => Some(c.resultHash),
        _ => None,
    });
    let Some((rev, (sha, status, summary))) = recs.first().cloned() else {
        if t.settlement.as_ref().is_some_and(|s| s.finalized) {
            b.fail("finalized without a recorded result");
            return b.done("");
        }
        return skip("result", "no result recorded");
    };
    if recs.len() > 1 {
        b.fail(format!("{} ResultRecorded events", recs.len()));
    }
    b.ev("resultSha256 (ResultRecorded)", Some(rev), sha);
    let digest = maskoracle_inference::summary::digest(&summary, &sha.0);
    let h = maskoracle_inference::summary::result_hash(t.task_id, digest);
    b.ev("resultHash(taskId, digest(summary, sha256))", None, h);
    match (consensus, &t.tolerant) {
        (Some((_, c)), _) if c == h => {}
        (Some((_, c)), _) => b.fail(format!(
            "the revealed summary and result give {h}, the consensus is {c}"
        )),
        (None, Some(o)) => {
            // The fallback delivers the representative's result: it reproduces the hash the
            // representative committed.
            let committed = drawn_commits(evs)
                .into_iter()
                .find(|(_, (w, _))| *w == o.representative)
                .map(|(_, (_, c))| c);
            if committed != Some(h) {
                b.fail(format!(
                    "the recorded summary and result give {h}, the representative committed {committed:?}"
                ));
            }
        }
        (None, None) => b.fail("a result recorded without consensus"),
    }
    // abi.encode(Summary): the tuple's offset, then the status word.
    let first = summary.get(63).copied();
    if first != Some(status) || status > 5 {
        b.fail(format!(
            "status {status} in the event, {first:?} in the summary"
        ));
    }
    b.done(if t.tolerant.is_some() {
        "the recorded summary and result sha256 reproduce the representative's committed hash"
    } else {
        "the revealed summary and result sha256 reproduce the consensus hash"
    })
}

fn money_split(t: &TaskAudit, evs: &[EventLog]) -> Check {
    let mut b = Builder::new("money.split");
    if let Some((fev, f)) = find(evs, |e| match e {
        OracleEvent::Hub(H::TaskFinalized(f)) => Some(f.clone()),
        _ => None,
    }) {
        let n = U256::from(f.winners.len());
        b.ev(
            "reward, fee escrowed (TaskRequested)",
            request_event(evs),
            format!("{} + {}", t.reward, t.escrow_fee),
        );
        b.ev(
            "rewardEach, slashShareEach, slashed, fee (TaskFinalized)",
            Some(fev),
            format!(
                "{} {} {} {}",
                f.rewardEach, f.slashShareEach, f.slashed, f.fee
            ),
        );
        if n.is_zero() {
            b.fail("finalized with no winner");
            return b.done("");
        }
        if f.rewardEach != t.reward / n {
            b.fail(format!(
                "rewardEach {} but reward {} / {n} winners",
                f.rewardEach, t.reward
            ));
        }
        if f.slashShareEach != f.slashed / n {
            b.fail(format!(
                "slashShareEach {} but slashed {} / {n}",
                f.slashShareEach, f.slashed
            ));
        }
        if f.fee != t.escrow_fee {
            b.fail(format!("fee paid {} but {} escrowed", f.fee, t.escrow_fee));
        }
        let credits: U256 = finalized_credits(
            &f.winners,
            t.reward,
            f.rewardEach,
            f.slashShareEach,
            f.slashed,
        )
        .iter()
        .map(|(_, v)| *v)
        .sum::<U256>()
            + f.fee;
        if credits != t.reward + t.escrow_fee + f.slashed {
            b.fail(format!(
                "credits {credits} != reward {} + fee {} + slashed {}",
                t.reward, t.escrow_fee, f.slashed
            ));
        }
        return b.done(
            "reward and slashed stake split evenly (remainders to the first), fee as escrowed",
        );
    }
    if let Some((xev, refund)) = find(evs, |e| match e {
        OracleEvent::Hub(H::TaskExpired(x)) => Some(x.refund),
        _ => None,
    }) {
        b.ev("refund (TaskExpired)", Some(xev), refund);
        if refund != t.reward + t.escrow_fee {
            b.fail(format!(
                "refund {refund} != reward {} + fee {}",
                t.reward, t.escrow_fee
            ));
        }
        return b.done("reward and fee refunded in full");
    }
    skip("money.split", "not settled")
}

async fn money_fee(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    let mut b = Builder::new("money.fee");
    let Some(rev) = request_event(evs) else {
        return Ok(skip("money.fee", "no request"));
    };
    let before = t.request_block.saturating_sub(1);
    let (fee_before, _) = cx.state.terms(t.model_id, before).await?;
    let (fee_at, publisher) = cx.state.terms(t.model_id, t.request_block).await?;
    b.ev("fee escrowed (TaskRequested)", Some(rev), t.escrow_fee);
    b.at("model fee on chain before the request", before, fee_before);
    if t.escrow_fee != fee_before {
        if t.escrow_fee == fee_at {
            b.at(
                "model fee changed in the request block to",
                t.request_block,
                fee_at,
            );
        } else {
            b.fail(format!(
                "{} escrowed, the model's fee was {fee_before} (block {before}) / {fee_at} (block {})",
                t.escrow_fee, t.request_block
            ));
        }
    }
    if let Some((fev, (paid_to, fee))) = find(evs, |e| match e {
        OracleEvent::Hub(H::TaskFinalized(f)) => Some((f.publisher, f.fee)),
        _ => None,
    }) {
        b.at("model publisher at the request", t.request_block, publisher);
        b.ev(
            "fee paid to (TaskFinalized)",
            Some(fev),
            format!("{paid_to} +{fee}"),
        );
        if paid_to != publisher {
            b.fail(format!(
                "the fee went to {paid_to}, the model's publisher at the request was {publisher}"
            ));
        }
    }
    Ok(b.done("the fee is the model's at the request and went to its publisher"))
}

async fn money_balances(
    t: &TaskAudit,
    evs: &[EventLog],
    cx: &Context<'_>,
) -> anyhow::Result<Check> {
    let mut b = Builder::new("money.balances");
    let mut points: Vec<(Address, u64)> = Vec::new();
    if let Some(rev) = request_event(evs) {
        points.push((t.requester, rev.block));
    }
    let settle = evs.iter().find(|e| e.is_settlement());
    if let Some(sev) = settle {
        for a in t.credits.keys() {
            points.push((*a, sev.block));
        }
    }
    if points.is_empty() {
        return Ok(skip("money.balances", "nothing moved"));
    }
    points.sort();
    points.dedup();
    for (a, blk) in points {
        let before = cx.state.balance(a, blk.saturating_sub(1)).await?;
        let after = cx.state.balance(a, blk).await?;
        let (plus, minus) = cx.ledger.hub.get(&(a, blk)).copied().unwrap_or_default();
        let expected = before + plus;
        let ok = expected.checked_sub(minus) == Some(after);
        b.at(
            format!("hub balance of {a}: before, after (events: +{plus} -{minus})"),
            blk,
            format!("{before} -> {after}"),
        );
        if !ok {
            b.fail(format!(
                "{a} in block {blk}: the events move its balance by +{plus} -{minus}, the chain by {before} -> {after}"
            ));
        }
    }
    Ok(b.done("every balance change the events claim is on chain (balanceOf before and after)"))
}

async fn money_slash(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    let mut b = Builder::new("money.slash");
    let Some(s) = &t.settlement else {
        return Ok(skip("money.slash", "not settled"));
    };
    let cs = drawn_commits(evs);
    let reveals: Vec<Address> = all(evs, |e| match e {
        OracleEvent::Hub(H::Revealed(r)) => Some(r.worker),
        _ => None,
    })
    .into_iter()
    .map(|x| x.1)
    .collect();
    let committers: Vec<Address> = cs.iter().map(|(_, (w, _))| *w).collect();
    let mut expected: Vec<Address> = if t.reconciliation {
        // The fallback slashes committers that revealed no sketch, and outliers on evidence
        // (the tolerance check recomputes which).
        let mut e: Vec<Address> = committers
            .iter()
            .filter(|w| !t.sketches.iter().any(|s| s.worker == **w))
            .copied()
            .collect();
        if let Some(o) = &t.tolerant {
            e.extend(o.slashed_outliers.iter().copied());
        }
        e
    } else if s.finalized {
        committers
            .iter()
            .filter(|w| !reveals.contains(w))
            .copied()
            .collect()
    } else {
        let quorum = t.consensus.is_some()
            || hash_counts(&cs)
                .values()
                .any(|n| *n >= usize::from(t.quorum));
        if quorum {
            committers.clone()
        } else {
            Vec::new()
        }
    };
    expected.sort();
    expected.dedup();
    let released = find(evs, |e| match e {
        OracleEvent::Registry(R::StakesReleased(r)) => Some(r.clone()),
        _ => None,
    });
    let mut slashed: Vec<Address> = Vec::new();
    if let Some((rev, r)) = &released {
        slashed = r
            .workers
            .iter()
            .enumerate()
            .filter(|(i, _)| r.slashMask.bit(*i))
            .map(|(_, w)| *w)
            .collect();
        b.ev(
            "released / slashed (StakesReleased)",
            Some(rev),
            format!("{:?} / {slashed:?}, {} each", r.workers, r.amountEach),
        );
        let mut rel = r.workers.clone();
        rel.sort();
        let mut com = committers.clone();
        com.sort();
        if rel != com {
            b.fail(format!(
                "released {:?}, the committers are {com:?}",
                r.workers
            ));
        }
        if r.amountEach != cx.state.task_stake() {
            b.fail(format!(
                "{} released each, the task stake is {}",
                r.amountEach,
                cx.state.task_stake()
            ));
        }
        // Against the registry's stake: each slashed worker's stake fell by what the events say.
        for w in &slashed {
            let (before, _) = cx.state.stake(*w, 0, rev.block.saturating_sub(1)).await?;
            let (after, _) = cx.state.stake(*w, 0, rev.block).await?;
            let (plus, minus) = cx
                .ledger
                .stake
                .get(&(*w, rev.block))
                .copied()
                .unwrap_or_default();
            b.at(
                format!("stake of {w}: before -> after"),
                rev.block,
                format!("{before} -> {after}"),
            );
            if (before + plus).checked_sub(minus) != Some(after) {
                b.fail(format!(
                    "{w}: the events take {minus} (add {plus}) from its stake in block {}, the registry went {before} -> {after}",
                    rev.block
                ));
            }
        }
    } else if !committers.is_empty() {
        b.fail("committers' stakes were never released");
    }
    slashed.sort();
    if slashed != expected {
        b.fail(format!(
            "slashed {slashed:?}, the protocol slashes {expected:?}"
        ));
    }
    if s.slashed != U256::from(slashed.len()) * cx.state.task_stake() {
        b.fail(format!(
            "the settlement says {} slashed, {} workers x {}",
            s.slashed,
            slashed.len(),
            cx.state.task_stake()
        ));
    }
    Ok(b.done(&format!(
        "{} slashed, as the protocol says, and the registry's stakes moved so",
        slashed.len()
    )))
}

async fn callback(t: &TaskAudit, evs: &[EventLog], cx: &Context<'_>) -> anyhow::Result<Check> {
    let mut b = Builder::new("callback");
    let settle = evs.iter().find(|e| e.is_settlement());
    let cb = find(evs, |e| match e {
        OracleEvent::Hub(H::CallbackAttempted(c)) => {
            Some((c.target, CallbackOutcome::from(c.outcome)))
        }
        _ => None,
    });
    let Some(sev) = settle else {
        return Ok(skip("callback", "not settled"));
    };
    let Some((cev, (target, outcome))) = cb else {
        b.fail("settled but no CallbackAttempted");
        return Ok(b.done(""));
    };
    b.ev("outcome (CallbackAttempted)", Some(cev), outcome);
    if cev.tx_hash != sev.tx_hash {
        b.fail("the callback outcome is not in the settlement's transaction");
    }
    if target != t.requester {
        b.fail(format!("called {target}, the requester is {}", t.requester));
    }
    let code = cx
        .state
        .has_code(t.requester, sev.block.saturating_sub(1))
        .await?;
    b.at(
        "callback gas limit (TaskRequested); requester has code",
        sev.block,
        format!("{}; {code}", t.callback_gas_limit),
    );
    let ts = cx.state.time_of(sev).await?;
    let skip_expected = t.callback_gas_limit == 0 || !code;
    match outcome {
        CallbackOutcome::Skipped => {
            let grace = ts > t.reveal_deadline + 86_400;
            if !skip_expected && !grace {
                b.fail("Skipped, but a gas limit was asked and the requester has code (and the grace period had not begun)");
            }
        }
        CallbackOutcome::Succeeded | CallbackOutcome::Failed => {
            if skip_expected {
                b.fail(format!(
                    "{outcome}, but the Skipped rule applies (gas limit 0 or no code)"
                ));
            } else {
                match cx.state.callback_calls(sev.tx_hash, t.requester).await? {
                    None => b.warn("the endpoint has no debug_traceTransaction: the gas forwarded is not checked"),
                    Some(calls) => {
                        b.ev("calls from the hub to the requester (gas, reverted)", Some(sev), format!("{calls:?}"));
                        match calls.as_slice() {
                            [(gas, reverted)] => {
                                if *gas != t.callback_gas_limit {
                                    b.fail(format!("{gas} gas forwarded, the request asked {}", t.callback_gas_limit));
                                }
                                if *reverted != (outcome == CallbackOutcome::Failed) {
                                    b.fail(format!("the call {} but the outcome says {outcome}", if *reverted { "reverted" } else { "returned" }));
                                }
                            }
                            other => b.fail(format!("{} calls to the requester in the settlement", other.len())),
                        }
                    }
                }
            }
        }
        other => b.fail(format!("outcome {other}")),
    }
    Ok(b.done(&format!("{outcome} as the rule says, with the gas asked")))
}
