//! Ingestion: follows the hub's events up to the confirmed head, one chunk at a time, and detects
//! reorgs by block hash.
//!
//! - Only blocks at least `confirmations` deep are read (`head - confirmations + 1`).
//! - A chunk is taken only when the hash of its last block is the same before and after its logs
//!   were read: a reorg in between (which changes the last block of any range it touches) makes
//!   the chunk read again, never skipped.
//! - The hash of every block the follower passed (chunk ends, blocks with events) is remembered;
//!   when the cursor's block is no longer canonical the follower walks back to the newest block
//!   whose hash still matches and reports a [`Step::Reorg`] from there (64 blocks back when none
//!   is remembered, e.g. after a restart).
//! - A block that the endpoint cannot return is an error, never a zero hash.

use std::collections::VecDeque;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider};
use anyhow::Context as _;

use crate::chain::LogReader;
use crate::events::{EventLog, Sources};

/// Blocks the cursor moves back when a reorg is detected and no remembered block matches.
pub const REORG_REWIND: u64 = 64;
/// Block hashes remembered for finding the fork point.
const REMEMBERED: usize = 512;

/// One step of the follower.
#[derive(Debug)]
pub enum Step {
    /// Up to date with the confirmed head.
    Idle {
        /// The latest block number.
        head: u64,
    },
    /// The cursor's block was reorganised away: everything after `fork` must be read again (the
    /// executor rewinds the cursor to `fork` and reopens what it had settled after it).
    Reorg {
        /// The newest block still canonical (the new cursor).
        fork: u64,
        /// Its hash.
        fork_hash: B256,
        /// The old cursor.
        was: u64,
    },
    /// The events of `from..=to`, in chain order; the cursor moves to `to` once they are applied.
    Chunk {
        /// First block read.
        from: u64,
        /// Last block read.
        to: u64,
        /// Hash of `to`.
        hash: B256,
        /// The events.
        events: Vec<EventLog>,
        /// The latest block number.
        head: u64,
    },
}

/// The follower (its cursor lives in the state store; the executor passes it in).
pub struct Follower {
    sources: Sources,
    confirmations: u64,
    reader: LogReader,
    floor: u64,
    seen: VecDeque<(u64, B256)>,
}

impl Follower {
    /// A follower of `sources` from `floor` (the deployment block) on.
    pub fn new(sources: Sources, confirmations: u64, chunk: u64, floor: u64) -> Self {
        Self {
            sources,
            confirmations: confirmations.max(1),
            reader: LogReader::new(chunk.max(1)),
            floor,
            seen: VecDeque::new(),
        }
    }

    fn remember(&mut self, block: u64, hash: B256) {
        if self
            .seen
            .back()
            .is_some_and(|(b, h)| *b == block && *h == hash)
        {
            return;
        }
        // Entries past a rewind are stale.
        while self.seen.back().is_some_and(|(b, _)| *b >= block) {
            self.seen.pop_back();
        }
        self.seen.push_back((block, hash));
        if self.seen.len() > REMEMBERED {
            self.seen.pop_front();
        }
    }

    /// The current log range (blocks per `eth_getLogs`) and the refusals seen so far.
    pub fn log_range(&self) -> (u64, u64) {
        (self.reader.chunk(), self.reader.refusals())
    }

    /// The next step from `cursor` (the last block processed, with its hash when known).
    pub async fn step(
        &mut self,
        p: &DynProvider,
        cursor: Option<(u64, Option<B256>)>,
    ) -> anyhow::Result<Step> {
        let head = p.get_block_number().await.context("reading the head")?;
        let start = self.floor.saturating_sub(1);
        let (cursor, cursor_hash) = cursor.unwrap_or((start, None));
        if let Some(stored) = cursor_hash {
            let now = block_hash(p, cursor).await?;
            if now != Some(stored) {
                let (fork, fork_hash) = self.fork_point(p, cursor).await?;
                tracing::warn!(target: "maskoracle::worker", cursor, fork, "reorg: the cursor block is no longer canonical; reading again from the fork");
                return Ok(Step::Reorg {
                    fork,
                    fork_hash,
                    was: cursor,
                });
            }
        }
        let confirmed = head.saturating_sub(self.confirmations - 1);
        if cursor >= confirmed {
            return Ok(Step::Idle { head });
        }
        let from = cursor + 1;
        // One range the endpoint accepts (the reader halves it on a refusal and grows it back).
        let to = confirmed.min(cursor + self.reader.chunk());
        let before = block_hash(p, to)
            .await?
            .with_context(|| format!("block {to} not returned by the endpoint"))?;
        let events = self
            .sources
            .read_with(&mut self.reader, p, from, to)
            .await?;
        let after = block_hash(p, to).await?;
        if after != Some(before)
            || events
                .iter()
                .any(|e| e.block == to && e.block_hash != before)
        {
            // The range changed while it was read: read it again next step.
            tracing::info!(target: "maskoracle::worker", from, to, "the chain changed while reading logs; reading again");
            return Ok(Step::Idle { head });
        }
        for e in &events {
            self.remember(e.block, e.block_hash);
        }
        self.remember(to, before);
        Ok(Step::Chunk {
            from,
            to,
            hash: before,
            events,
            head,
        })
    }

    /// The newest remembered block at or below `cursor` still canonical.
    async fn fork_point(&mut self, p: &DynProvider, cursor: u64) -> anyhow::Result<(u64, B256)> {
        let candidates: Vec<(u64, B256)> = self
            .seen
            .iter()
            .rev()
            .filter(|(b, _)| *b < cursor)
            .copied()
            .collect();
        for (b, h) in candidates {
            if block_hash(p, b).await? == Some(h) {
                while self.seen.back().is_some_and(|(x, _)| *x > b) {
                    self.seen.pop_back();
                }
                return Ok((b, h));
            }
        }
        self.seen.clear();
        let back = cursor
            .saturating_sub(REORG_REWIND)
            .max(self.floor.saturating_sub(1));
        let h = block_hash(p, back)
            .await?
            .with_context(|| format!("block {back} not returned by the endpoint"))?;
        Ok((back, h))
    }
}

/// The hash of block `n` (`None`: the endpoint does not have it).
pub async fn block_hash(p: &DynProvider, n: u64) -> anyhow::Result<Option<B256>> {
    Ok(p.get_block_by_number(BlockNumberOrTag::Number(n))
        .await
        .with_context(|| format!("reading block {n}"))?
        .map(|b| b.header.hash))
}
