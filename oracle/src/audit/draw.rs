//! The draw, recomputed by the auditor from the protocol's description (docs/protocol.md, "Draw"),
//! without calling the registry's draw view: the pools are rebuilt by replaying the registry's
//! events, and R distinct workers are drawn from a pool's weights with a plain linear scan.
//!
//! - A worker's weight in a model's pool is its bonded stake while it is opted into the model,
//!   else 0. Stake moves with `Staked` (its `newStake`), `UnstakeRequested` (`amount` leaves) and a
//!   slash in `StakesReleased` (`amountEach` per set bit); `OptedIn`/`OptedOut` move the opt-in.
//! - Leaves are numbered in the order workers first get a weight above 0 in the pool, and keep
//!   their number for good (weight 0 when they leave).
//! - Seed: `keccak256(abi.encode(randomness, taskId))`; draw `k` takes
//!   `u = keccak256(abi.encode(seed, k)) mod remaining`, where `remaining` is the pool's weight at
//!   the end of block requestBlock - 1 less the weights already drawn, and picks the first leaf,
//!   in leaf order and skipping drawn leaves, whose running sum of weights exceeds `u`.

use std::collections::{BTreeSet, HashMap};

use alloy::primitives::{keccak256, Address, B256, U256};
use alloy::sol_types::SolValue;

use crate::bindings::worker_registry::WorkerRegistry::WorkerRegistryEvents as R;
use crate::events::{EventLog, OracleEvent};

/// One model's pool at the end of a block: leaves in leaf order with their weights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    /// `(worker, weight)` in leaf order.
    pub leaves: Vec<(Address, U256)>,
    /// The last block at or before the snapshot in which a weight of this pool changed (0: none).
    pub changed_at: u64,
    /// The block at which the auditor reads the registry's state of this pool: any block from
    /// `changed_at` to the snapshot's holds the same weights; the latest one among the tasks that
    /// share them (recent state is what a non-archive endpoint still serves).
    pub read_at: u64,
}

impl Pool {
    /// The sum of the weights.
    pub fn total(&self) -> U256 {
        self.leaves.iter().map(|(_, w)| *w).sum()
    }

    /// The weight of `worker` (0 when it has no leaf).
    pub fn weight_of(&self, worker: Address) -> U256 {
        self.leaves
            .iter()
            .find(|(w, _)| *w == worker)
            .map(|(_, x)| *x)
            .unwrap_or_default()
    }
}

/// The seed of a task from the randomness source's value.
pub fn seed(randomness: B256, task_id: U256) -> B256 {
    keccak256((randomness, task_id).abi_encode())
}

/// Draws up to `count` distinct workers from `pool` with `seed` (fewer only when fewer leaves
/// have weight).
pub fn draw(pool: &[(Address, U256)], seed: B256, count: usize) -> Vec<Address> {
    let mut taken = vec![false; pool.len()];
    let mut remaining: U256 = pool.iter().map(|(_, w)| *w).sum();
    let mut out = Vec::with_capacity(count);
    let seed = U256::from_be_bytes(seed.0);
    while out.len() < count && !remaining.is_zero() {
        let h = keccak256((seed, U256::from(out.len())).abi_encode());
        let u = U256::from_be_bytes(h.0) % remaining;
        let mut run = U256::ZERO;
        let mut pick = None;
        for (i, (_, w)) in pool.iter().enumerate() {
            if taken[i] || w.is_zero() {
                continue;
            }
            run += *w;
            if run > u {
                pick = Some(i);
                break;
            }
        }
        let Some(i) = pick else { break };
        taken[i] = true;
        remaining -= pool[i].1;
        out.push(pool[i].0);
    }
    out
}

/// Something in the registry's events that does not add up while replaying them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayIssue {
    /// Block of the event.
    pub block: u64,
    /// Its transaction.
    pub tx: B256,
    /// What is wrong.
    pub what: String,
}

/// The registry's state rebuilt from its events.
#[derive(Debug, Default)]
pub struct Replay {
    stake: HashMap<Address, U256>,
    opted: HashMap<Address, BTreeSet<u32>>,
    /// Per model: leaves in order, and the last block a weight changed.
    pools: HashMap<u32, (Vec<Address>, u64)>,
    /// What did not add up.
    pub issues: Vec<ReplayIssue>,
}

impl Replay {
    fn weight(&self, w: Address, model: u32) -> U256 {
        if self.opted.get(&w).is_some_and(|s| s.contains(&model)) {
            self.stake.get(&w).copied().unwrap_or_default()
        } else {
            U256::ZERO
        }
    }

    /// Sets the stake (or opt-in, through `f`) of `w` and updates the leaves of its pools.
    fn change(&mut self, w: Address, block: u64, f: impl FnOnce(&mut Self)) {
        let models: BTreeSet<u32> = self.opted.get(&w).cloned().unwrap_or_default();
        let before: Vec<(u32, U256)> = models.iter().map(|m| (*m, self.weight(w, *m))).collect();
        f(self);
        let mut all: BTreeSet<u32> = self.opted.get(&w).cloned().unwrap_or_default();
        all.extend(models);
        for m in all {
            let old = before
                .iter()
                .find(|(bm, _)| *bm == m)
                .map(|(_, x)| *x)
                .unwrap_or_default();
            let new = self.weight(w, m);
            if old == new {
                continue;
            }
            let (leaves, changed) = self.pools.entry(m).or_default();
            if !new.is_zero() && !leaves.contains(&w) {
                leaves.push(w);
            }
            *changed = block;
        }
    }

    /// Applies one event (others are ignored).
    pub fn apply(&mut self, ev: &EventLog) {
        let OracleEvent::Registry(e) = &ev.event else {
            return;
        };
        let issue = |what: String| ReplayIssue {
            block: ev.block,
            tx: ev.tx_hash,
            what,
        };
        match e {
            R::Staked(s) => {
                let old = self.stake.get(&s.worker).copied().unwrap_or_default();
                if old + s.amount != s.newStake {
                    self.issues.push(issue(format!(
                        "Staked: {} had {old}, staked {}, but the event says {}",
                        s.worker, s.amount, s.newStake
                    )));
                }
                let new = s.newStake;
                self.change(s.worker, ev.block, |r| {
                    r.stake.insert(s.worker, new);
                });
            }
            R::UnstakeRequested(s) => {
                let old = self.stake.get(&s.worker).copied().unwrap_or_default();
                let Some(new) = old.checked_sub(s.amount) else {
                    self.issues.push(issue(format!(
                        "UnstakeRequested: {} unstakes {} of {old}",
                        s.worker, s.amount
                    )));
                    return;
                };
                self.change(s.worker, ev.block, |r| {
                    r.stake.insert(s.worker, new);
                });
            }
            R::StakesReleased(s) => {
                for (i, w) in s.workers.iter().enumerate() {
                    if !s.slashMask.bit(i) {
                        continue;
                    }
                    let old = self.stake.get(w).copied().unwrap_or_default();
                    let new = old.saturating_sub(s.amountEach);
                    self.change(*w, ev.block, |r| {
                        r.stake.insert(*w, new);
                    });
                }
            }
            R::OptedIn(o) => self.change(o.worker, ev.block, |r| {
                r.opted.entry(o.worker).or_default().insert(o.modelId);
            }),
            R::OptedOut(o) => self.change(o.worker, ev.block, |r| {
                r.opted.entry(o.worker).or_default().remove(&o.modelId);
            }),
            _ => {}
        }
    }

    /// The pool of `model` now (after the events applied so far).
    pub fn pool(&self, model: u32) -> Pool {
        let Some((leaves, changed_at)) = self.pools.get(&model) else {
            return Pool::default();
        };
        Pool {
            leaves: leaves
                .iter()
                .map(|w| (*w, self.weight(*w, model)))
                .collect(),
            changed_at: *changed_at,
            read_at: *changed_at,
        }
    }

    /// Replays `events` (chain order) and snapshots, for each `(key, model, block)` asked for, the
    /// pool of `model` at the end of `block`.
    pub fn snapshots<K: Clone + Eq + std::hash::Hash>(
        events: &[EventLog],
        mut wanted: Vec<(K, u32, u64)>,
    ) -> (HashMap<K, Pool>, Vec<ReplayIssue>) {
        wanted.sort_by_key(|(_, _, b)| *b);
        let mut r = Replay::default();
        let mut out = HashMap::new();
        let mut next = 0;
        for ev in events {
            while next < wanted.len() && wanted[next].2 < ev.block {
                let (k, m, _) = wanted[next].clone();
                out.insert(k, r.pool(m));
                next += 1;
            }
            r.apply(ev);
        }
        for (k, m, _) in wanted.into_iter().skip(next) {
            out.insert(k, r.pool(m));
        }
        (out, r.issues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    /// The Fenwick walk of `SortitionTree.find` with exclusions, transcribed, as a reference for
    /// the linear scan on small pools.
    fn fenwick_draw(pool: &[(Address, U256)], seed: B256, count: usize) -> Vec<Address> {
        let n = pool.len();
        let mut cap = 1;
        while cap < n {
            cap <<= 1;
        }
        // node i holds the sum of leaves (i - lowbit(i), i], 1-based.
        let node = |i: usize| -> U256 {
            let low = i & i.wrapping_neg();
            ((i - low + 1)..=i).map(|j| pool[j - 1].1).sum()
        };
        let mut excluded: Vec<(usize, U256)> = Vec::new();
        let mut out = Vec::new();
        let mut remaining: U256 = pool.iter().map(|(_, w)| *w).sum();
        let s = U256::from_be_bytes(seed.0);
        while out.len() < count && !remaining.is_zero() {
            let mut u = U256::from_be_bytes(keccak256((s, U256::from(out.len())).abi_encode()).0)
                % remaining;
            let mut pos = 0usize;
            let mut step = cap >> 1;
            if cap == 1 {
                step = 0;
            }
            while step != 0 {
                let next = pos + step;
                if next <= n {
                    let mut v = node(next);
                    for (e, w) in &excluded {
                        if *e > pos && *e <= next {
                            v -= *w;
                        }
                    }
                    if v <= u {
                        pos = next;
                        u -= v;
                    }
                }
                step >>= 1;
            }
            let idx = pos + 1;
            let w = pool[idx - 1].1;
            excluded.push((idx, w));
            remaining -= w;
            out.push(pool[idx - 1].0);
        }
        out
    }

    #[test]
    fn the_linear_scan_draws_what_the_fenwick_walk_draws() {
        for seed_byte in 0..40u8 {
            let pool: Vec<(Address, U256)> = (1..=7u8)
                .map(|i| {
                    let w = if i == 3 {
                        0
                    } else {
                        u64::from(i) * 100 + u64::from(seed_byte)
                    };
                    (a(i), U256::from(w))
                })
                .collect();
            let seed = keccak256([seed_byte]);
            for count in [1, 3, 5, 6] {
                assert_eq!(
                    draw(&pool, seed, count),
                    fenwick_draw(&pool, seed, count),
                    "seed {seed_byte} count {count}"
                );
            }
        }
    }

    #[test]
    fn no_worker_is_drawn_twice_and_zero_weights_never() {
        let pool = vec![
            (a(1), U256::from(5)),
            (a(2), U256::ZERO),
            (a(3), U256::from(1)),
        ];
        let got = draw(&pool, B256::repeat_byte(9), 3);
        assert_eq!(got.len(), 2);
        assert!(!got.contains(&a(2)));
        assert_ne!(got[0], got[1]);
    }
}
