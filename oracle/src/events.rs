//! One typed stream of the protocol's events: every reader of the chain (the worker's follower,
//! the auditor, the devnet's progress display) decodes logs here, into the enums `sol!` generates
//! from the contracts' ABIs, instead of comparing topics by hand.

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEventInterface;

use crate::bindings::{TaskHub, VrfRandomness, WorkerRegistry};

/// A decoded event of one of the protocol's contracts.
#[derive(Debug, Clone)]
pub enum OracleEvent {
    /// An event of the task hub.
    Hub(TaskHub::TaskHubEvents),
    /// An event of the worker registry.
    Registry(WorkerRegistry::WorkerRegistryEvents),
    /// An event of the VRF randomness source.
    Vrf(VrfRandomness::VrfRandomnessEvents),
}

/// An event with where it was emitted.
#[derive(Debug, Clone)]
pub struct EventLog {
    /// The event.
    pub event: OracleEvent,
    /// Emitting contract.
    pub address: Address,
    /// Block number.
    pub block: u64,
    /// Block hash (the reorg check compares it with the canonical chain).
    pub block_hash: B256,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Index of the log in its block.
    pub log_index: u64,
    /// The block's timestamp, when the endpoint sends it with the log (`blockTimestamp`).
    pub timestamp: Option<u64>,
}

/// Why a log could not be read as an event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The log lacks its block number or hash (a pending log; the node asked only for mined ones).
    #[error("log of {address} has no block number or hash (pending?)")]
    Unmined {
        /// Emitting contract.
        address: Address,
    },
}

/// Which contract emitted a log, for decoding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources {
    /// Task hub.
    pub hub: Address,
    /// Worker registry (zero: not read).
    pub registry: Address,
    /// VRF randomness source (zero: not read).
    pub vrf: Address,
}

impl Sources {
    /// The hub, the worker registry and, on a VRF deployment, the VRF randomness source of a
    /// deployment.
    pub fn of(d: &crate::chain::Deployment) -> Self {
        Sources {
            hub: d.task_hub,
            registry: d.worker_registry,
            vrf: if d.randomness == "vrf" {
                d.randomness_source
            } else {
                Address::ZERO
            },
        }
    }

    /// The hub and the worker registry only.
    pub fn hub_and_registry(d: &crate::chain::Deployment) -> Self {
        Sources {
            vrf: Address::ZERO,
            ..Sources::of(d)
        }
    }

    /// The addresses a log filter asks for.
    pub fn addresses(&self) -> Vec<Address> {
        [self.hub, self.registry, self.vrf]
            .into_iter()
            .filter(|a| !a.is_zero())
            .collect()
    }

    /// A log filter over these contracts for `from..=to`.
    pub fn filter(&self, from: u64, to: u64) -> Filter {
        Filter::new()
            .address(self.addresses())
            .from_block(from)
            .to_block(to)
    }

    /// Decodes a log of one of the sources. `Ok(None)`: a log of another contract, a removed
    /// log, or an event the bindings do not know (a newer contract version).
    pub fn decode(&self, log: &Log) -> Result<Option<EventLog>, EventError> {
        if log.removed {
            return Ok(None);
        }
        let address = log.address();
        let event = if address == self.hub {
            TaskHub::TaskHubEvents::decode_log(&log.inner)
                .ok()
                .map(|e| OracleEvent::Hub(e.data))
        } else if address == self.registry && !address.is_zero() {
            WorkerRegistry::WorkerRegistryEvents::decode_log(&log.inner)
                .ok()
                .map(|e| OracleEvent::Registry(e.data))
        } else if address == self.vrf && !address.is_zero() {
            VrfRandomness::VrfRandomnessEvents::decode_log(&log.inner)
                .ok()
                .map(|e| OracleEvent::Vrf(e.data))
        } else {
            None
        };
        let Some(event) = event else {
            return Ok(None);
        };
        let (Some(block), Some(block_hash)) = (log.block_number, log.block_hash) else {
            return Err(EventError::Unmined { address });
        };
        Ok(Some(EventLog {
            event,
            address,
            block,
            block_hash,
            tx_hash: log.transaction_hash.unwrap_or_default(),
            log_index: log.log_index.unwrap_or_default(),
            timestamp: log.block_timestamp,
        }))
    }

    /// Reads and decodes every event of the sources in `from..=to`, in chain order, through an
    /// adaptive [`LogReader`](crate::chain::LogReader) (which splits the range as the endpoint
    /// allows: public endpoints refuse large ranges).
    pub async fn read_with<P: Provider + ?Sized>(
        &self,
        reader: &mut crate::chain::LogReader,
        provider: &P,
        from: u64,
        to: u64,
    ) -> anyhow::Result<Vec<EventLog>> {
        let filter = Filter::new().address(self.addresses());
        let mut out = Vec::new();
        for log in reader.logs(provider, &filter, from, to).await? {
            if let Some(e) = self.decode(&log)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Reads and decodes every event of the sources in `from..=to`, in chain order, in ranges of
    /// `chunk` blocks.
    pub async fn read<P: Provider + ?Sized>(
        &self,
        provider: &P,
        from: u64,
        to: u64,
        chunk: u64,
    ) -> anyhow::Result<Vec<EventLog>> {
        let mut out = Vec::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(chunk.max(1) - 1));
            for log in provider.get_logs(&self.filter(start, end)).await? {
                if let Some(e) = self.decode(&log)? {
                    out.push(e);
                }
            }
            start = end + 1;
        }
        Ok(out)
    }
}

impl EventLog {
    /// The task the event is about, for task events of the hub.
    pub fn task_id(&self) -> Option<U256> {
        use TaskHub::TaskHubEvents as E;
        match &self.event {
            OracleEvent::Hub(e) => match e {
                E::TaskRequested(e) => Some(e.taskId),
                E::WorkersDrawn(e) => Some(e.taskId),
                E::Committed(e) => Some(e.taskId),
                E::ConsensusReached(e) => Some(e.taskId),
                E::ResultRecorded(e) => Some(e.taskId),
                E::Revealed(e) => Some(e.taskId),
                E::TaskFinalized(e) => Some(e.taskId),
                E::TaskExpired(e) => Some(e.taskId),
                E::CallbackAttempted(e) => Some(e.taskId),
                E::ReconciliationOpened(e) => Some(e.taskId),
                E::SketchRevealed(e) => Some(e.taskId),
                E::TaskSettledTolerant(e) => Some(e.taskId),
                _ => None,
            },
            _ => None,
        }
    }

    /// The task the event is about, for the task events of every source: the hub's (as
    /// [`EventLog::task_id`]), the registry's stake locks and releases, the VRF source's seed
    /// requests and fulfilments.
    pub fn about_task(&self) -> Option<U256> {
        use VrfRandomness::VrfRandomnessEvents as V;
        use WorkerRegistry::WorkerRegistryEvents as R;
        match &self.event {
            OracleEvent::Registry(R::StakesLocked(e)) => Some(e.taskId),
            OracleEvent::Registry(R::StakesReleased(e)) => Some(e.taskId),
            OracleEvent::Vrf(V::SeedRequested(e)) => Some(e.taskId),
            OracleEvent::Vrf(V::SeedFulfilled(e)) => Some(e.taskId),
            _ => self.task_id(),
        }
    }

    /// Whether the event settles its task (finalized or expired).
    pub fn is_settlement(&self) -> bool {
        matches!(
            &self.event,
            OracleEvent::Hub(
                TaskHub::TaskHubEvents::TaskFinalized(_) | TaskHub::TaskHubEvents::TaskExpired(_)
            )
        )
    }
}

/// Defines a Rust enum for one of the hub's Solidity enums: `From<u8>` (codes the contracts do
/// not define become `Unknown(code)`), the code back, the Solidity name in words (`Display`,
/// and JSON as that name).
macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vm])* $v,)+
            /// A code this build does not know (a newer contract version).
            Unknown(u8),
        }

        impl From<u8> for $name {
            fn from(code: u8) -> Self {
                match code {
                    $($code => $name::$v,)+
                    other => $name::Unknown(other),
                }
            }
        }

        impl $name {
            /// The Solidity code.
            pub fn code(self) -> u8 {
                match self {
                    $($name::$v => $code,)+
                    $name::Unknown(c) => c,
                }
            }

            /// The Solidity name (`?` for an unknown code).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$v => stringify!($v),)+
                    $name::Unknown(_) => "?",
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.name() == *other
            }
        }
    };
}

code_enum!(
    /// `ITaskHub.TaskStatus`: Requested → Revealing → Finalized, or → Failed (expired, refunded);
    /// Requested → Reconciling (the tolerant fallback) → Finalized or Failed.
    TaskStatus {
        /// Unknown task.
        #[default]
        None = 0,
        /// Waiting for the draw and the commits.
        Requested = 1,
        /// Commits closed with a quorum; its committers reveal.
        Revealing = 2,
        /// Settled: winners paid, the result recorded.
        Finalized = 3,
        /// Expired and refunded.
        Failed = 4,
        /// Commits closed without Q equal hashes on a model with a tolerance: the committers
        /// reveal their sketches, and a settlement on the agreeing set follows.
        Reconciling = 5,
    }
);

impl TaskStatus {
    /// Finalized or Failed: nothing more happens to the task.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Finalized | TaskStatus::Failed)
    }
}

code_enum!(
    /// `ITaskHub.WaitReason`: why a task is where it is (`taskState`, `TaskExpired`).
    WaitReason {
        /// Unknown task.
        #[default]
        None = 0,
        /// The randomness is not available yet.
        SeedPending = 1,
        /// The draw is possible (or done); drawn workers may commit.
        AwaitingCommits = 2,
        /// Fewer workers than R in the pool; expirable at the deadline.
        NotEnoughWorkers = 3,
        /// The randomness will never come: expirable now.
        SeedExpired = 4,
        /// All R committed without Q equal hashes: expirable now.
        NoQuorumPossible = 5,
        /// No Q equal hashes by the commit deadline: expirable now.
        CommitDeadlinePassed = 6,
        /// Commits closed with Q equal hashes: their committers reveal.
        AwaitingReveals = 7,
        /// Finalizable (a reveal) or expirable (none) now.
        RevealDeadlinePassed = 8,
        /// Terminal.
        Done = 9,
        /// The tolerant fallback is open (commits closed without Q equal hashes on a model with
        /// a tolerance): committers reveal their sketches until the reveal deadline.
        AwaitingSketches = 10,
        /// The fallback's reveal deadline passed: settle on the agreeing set, or expire.
        SketchDeadlinePassed = 11,
    }
);

code_enum!(
    /// `ITaskHub.ContributionState`: one drawn worker's progress in one task.
    ContributionState {
        /// Not drawn.
        #[default]
        None = 0,
        /// Drawn, not committed.
        Drawn = 1,
        /// Committed.
        Committed = 2,
        /// Revealed.
        Revealed = 3,
    }
);

code_enum!(
    /// `ITaskHub.CallbackOutcome`: what happened to the consumer callback.
    CallbackOutcome {
        /// Not attempted yet.
        #[default]
        None = 0,
        /// No callback asked, or the requester has no code.
        Skipped = 1,
        /// The callback returned.
        Succeeded = 2,
        /// Reverted, ran out of gas or re-entered (recorded; the settlement stands).
        Failed = 3,
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Bytes, LogData};
    use alloy::sol_types::SolEvent;

    fn log(address: Address, data: LogData, block: Option<u64>) -> Log {
        Log {
            inner: alloy::primitives::Log { address, data },
            block_hash: block.map(|_| B256::repeat_byte(7)),
            block_number: block,
            block_timestamp: None,
            transaction_hash: Some(B256::repeat_byte(1)),
            transaction_index: Some(0),
            log_index: Some(3),
            removed: false,
        }
    }

    fn sources() -> Sources {
        Sources {
            hub: Address::repeat_byte(0x11),
            registry: Address::repeat_byte(0x22),
            vrf: Address::ZERO,
        }
    }

    #[test]
    fn hub_events_decode_with_their_task_and_position() {
        let ev = TaskHub::Revealed {
            taskId: U256::from(9),
            worker: Address::repeat_byte(5),
        };
        let s = sources();
        let l = log(s.hub, ev.encode_log_data(), Some(42));
        let e = s.decode(&l).expect("decodes").expect("a hub event");
        assert_eq!(e.task_id(), Some(U256::from(9)));
        assert_eq!((e.block, e.log_index), (42, 3));
        assert!(matches!(
            e.event,
            OracleEvent::Hub(TaskHub::TaskHubEvents::Revealed(_))
        ));
        assert!(!e.is_settlement());
    }

    #[test]
    fn foreign_removed_unknown_and_pending_logs_are_told_apart() {
        let s = sources();
        let ev = TaskHub::Revealed {
            taskId: U256::from(1),
            worker: Address::ZERO,
        };
        // Same event, another contract: not ours.
        let other = log(Address::repeat_byte(0x99), ev.encode_log_data(), Some(1));
        assert!(s.decode(&other).expect("ok").is_none());
        // Removed by a reorg.
        let mut removed = log(s.hub, ev.encode_log_data(), Some(1));
        removed.removed = true;
        assert!(s.decode(&removed).expect("ok").is_none());
        // An event the bindings do not know.
        let unknown = log(
            s.hub,
            LogData::new_unchecked(vec![B256::repeat_byte(0xee)], Bytes::new()),
            Some(1),
        );
        assert!(s.decode(&unknown).expect("ok").is_none());
        // A pending log is an error, not a silent zero block.
        let pending = log(s.hub, ev.encode_log_data(), None);
        assert!(matches!(
            s.decode(&pending),
            Err(EventError::Unmined { .. })
        ));
    }

    #[test]
    fn registry_stake_events_are_about_their_task_but_not_hub_task_events() {
        let s = sources();
        let ev = WorkerRegistry::StakesLocked {
            taskId: U256::from(4),
            workers: vec![Address::repeat_byte(5)],
            amountEach: U256::from(100),
        };
        let e = s
            .decode(&log(s.registry, ev.encode_log_data(), Some(8)))
            .expect("decodes")
            .expect("a registry event");
        assert_eq!(e.about_task(), Some(U256::from(4)));
        assert_eq!(e.task_id(), None);
    }

    #[test]
    fn state_codes_round_trip_and_read_as_their_solidity_names() {
        for code in 0..=4u8 {
            assert_eq!(TaskStatus::from(code).code(), code);
        }
        assert_eq!(TaskStatus::from(3), TaskStatus::Finalized);
        assert!(TaskStatus::Failed.is_terminal() && !TaskStatus::Revealing.is_terminal());
        assert_eq!(WaitReason::from(6).to_string(), "CommitDeadlinePassed");
        assert_eq!(WaitReason::from(9), WaitReason::Done);
        assert_eq!(ContributionState::from(2), ContributionState::Committed);
        assert_eq!(CallbackOutcome::from(2).name(), "Succeeded");
        // An unknown code is kept, not mapped onto a known state.
        assert_eq!(TaskStatus::from(7), TaskStatus::Unknown(7));
        assert_eq!(TaskStatus::from(7).code(), 7);
        assert_eq!(
            serde_json::to_value(CallbackOutcome::Failed).expect("json"),
            serde_json::json!("Failed")
        );
        assert!(TaskStatus::Finalized == "Finalized");
    }
}
