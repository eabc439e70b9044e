//! The worker's durable local state: the event cursor and, per task, what the worker committed to.
//!
//! The rule that keeps a crashed worker from being slashed: the digest and the canonical result
//! are written here (and the write transaction committed, which fsyncs) *before* the commit
//! transaction is sent. After a restart the worker finds the record, sees the task in `Revealing`
//! on chain, and reveals from the record without recomputing anything.
//!
//! The file carries a schema version (`schema_version` in the `meta` table). A file without one
//! is version 1 and is upgraded when the daemon opens it; a file of a newer version than this
//! build knows is refused, so an older binary never rewrites records it does not understand.
//!
//! The daemon opens the file in redb's single-writer mode: other processes (`maskoracle worker
//! status`) may open it read-only while the daemon runs, and see its committed transactions.

use std::path::Path;

use redb::{
    Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable,
    TableDefinition,
};
use serde::{Deserialize, Serialize};

/// Small values: the block cursor and the identity of the chain/deployment the state belongs to.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Task records keyed by the 32-byte big-endian task id, JSON-encoded [`TaskRecord`] values.
const TASKS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("tasks");
/// Canonical results keyed by their sha256 (kept so a reveal never needs a recomputation).
const RESULTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("results");

const CURSOR_KEY: &str = "cursor";
const CURSOR_HASH_KEY: &str = "cursor_hash";
const IDENTITY_KEY: &str = "identity";
const SCHEMA_VERSION_KEY: &str = "schema_version";

/// Schema version this build writes and reads. 1: the layout before the version key existed
/// (same tables); 2: the version key itself. Bump it when a table or a record changes in a way
/// an older build would misread.
pub const SCHEMA_VERSION: u32 = 2;

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database file could not be opened, read or written.
    #[error("state database: {0}")]
    Db(#[from] Box<redb::Error>),
    /// A stored value does not decode (written by an incompatible version).
    #[error("state database holds an undecodable {what}: {source}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why it failed.
        source: serde_json::Error,
    },
    /// The file was written by a newer build.
    #[error(
        "state file {path} has schema version {found}; this build reads up to {supported}: \
         run the newer maskoracle, or move the file away to start from chain data"
    )]
    NewerSchema {
        /// The file.
        path: String,
        /// Version stored in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// A read-only open found no state file.
    #[error("no state file at {0}")]
    Missing(String),
    /// The file is held by a process that excludes readers (a daemon of an older build, which
    /// locks the whole file).
    #[error(
        "state file {0} is locked by another process (a worker daemon of an older build locks it \
         whole; query the daemon's metrics endpoint instead: worker status --metrics-url)"
    )]
    Locked(String),
    /// The folder belongs to another chain or deployment.
    #[error("state folder belongs to {found}, not {expected}: use another data_dir")]
    WrongIdentity {
        /// Identity stored in the folder.
        found: String,
        /// Identity of the current configuration.
        expected: String,
    },
}

macro_rules! db_err {
    ($e:expr) => {
        $e.map_err(|e| StateError::Db(Box::new(redb::Error::from(e))))
    };
}

/// Where the worker is with one task. Transitions only move forward, except when the task's
/// request itself was replaced ([`TaskRecord::for_new_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskPhase {
    /// Seen on chain; the worker is drawn and will compute.
    Seen,
    /// Result computed and recorded; the commit transaction may not have been sent yet.
    Computed,
    /// Commit transaction sent (hash recorded); it may or may not be mined.
    CommitSent,
    /// Reveal transaction sent.
    RevealSent,
    /// Nothing left to do for this worker (revealed and settled, lost consensus, or expired).
    Done,
}

/// What the worker knows and has promised about one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Current phase.
    pub phase: TaskPhase,
    /// Block the request was seen in.
    pub request_block: u64,
    /// `keccak256(abi.encode(keccak256(summary), resultSha256))`, once computed.
    pub digest: Option<[u8; 32]>,
    /// sha256 of the canonical result (key into the results table).
    pub result_sha256: Option<[u8; 32]>,
    /// ABI-encoded summary revealed on chain.
    pub summary: Option<Vec<u8>>,
    /// Hash of the last commit transaction sent.
    pub commit_tx: Option<[u8; 32]>,
    /// Hash of the last reveal transaction sent.
    pub reveal_tx: Option<[u8; 32]>,
    /// Human-readable note on the last transition (error names, skip reasons).
    pub note: Option<String>,
    /// The task's model.
    #[serde(default)]
    pub model_id: u32,
    /// The task's input reference (`ipfs://...` or `https://...`).
    #[serde(default)]
    pub input: String,
    /// Whether this worker is one of the task's drawn workers (`None` until known).
    #[serde(default)]
    pub drawn: Option<bool>,
    /// The summary recorded on chain (from `ResultRecorded`), needed by keepers to finalize.
    #[serde(default)]
    pub chain_summary: Option<Vec<u8>>,
    /// Unix milliseconds when the worker first saw the task (for the overhead figures).
    #[serde(default)]
    pub seen_unix_ms: Option<u64>,
    /// Milliseconds spent in inference.
    #[serde(default)]
    pub inference_ms: Option<u64>,
    /// Unix milliseconds when the commit transaction was handed to the RPC.
    #[serde(default)]
    pub commit_sent_unix_ms: Option<u64>,
    /// The request this record belongs to: the task's `requestHash` (zero-padded to 32 bytes) of
    /// the `TaskRequested` log that gave `model_id` and `input`. Everything computed and committed
    /// here is for that request; a commit repeats it. `None` in records written before v2.
    #[serde(default)]
    pub request_hash: Option<[u8; 32]>,
    /// Block of the task's settlement log (`TaskFinalized`/`TaskExpired`) as the follower read it
    /// at the confirmation depth; cleared when a reorg rewinds past it.
    #[serde(default)]
    pub settled_block: Option<u64>,
    /// Unix milliseconds when the record was closed (pruning).
    #[serde(default)]
    pub done_unix_ms: Option<u64>,
    /// The result's encoded sketch: its hash is in the commit's seal, and the tolerant fallback
    /// reveals it. `None` in records written before seal v2.
    #[serde(default)]
    pub sketch: Option<Vec<u8>>,
}

impl TaskRecord {
    /// A record for a task first seen at `request_block`.
    pub fn seen(request_block: u64) -> Self {
        Self {
            phase: TaskPhase::Seen,
            request_block,
            digest: None,
            result_sha256: None,
            summary: None,
            commit_tx: None,
            reveal_tx: None,
            note: None,
            model_id: 0,
            input: String::new(),
            drawn: None,
            chain_summary: None,
            seen_unix_ms: None,
            inference_ms: None,
            commit_sent_unix_ms: None,
            request_hash: None,
            settled_block: None,
            done_unix_ms: None,
            sketch: None,
        }
    }

    /// This record started again for another request at the same task id (a reorg replaced the
    /// request): what was computed or sent for the old one is dropped. The only way a phase moves
    /// back.
    pub fn for_new_request(
        &self,
        request_block: u64,
        model_id: u32,
        input: String,
        request_hash: [u8; 32],
    ) -> Self {
        Self {
            model_id,
            input,
            request_hash: Some(request_hash),
            seen_unix_ms: self.seen_unix_ms,
            note: Some("request replaced (reorg): started again".into()),
            ..Self::seen(request_block)
        }
    }
}

/// The durable store (one redb file under the node's data folder).
pub struct StateStore {
    db: Database,
}

fn builder() -> Builder {
    let mut b = Builder::new();
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    b
}

fn decode_version(v: &[u8]) -> u32 {
    v.try_into().map(u32::from_be_bytes).unwrap_or(u32::MAX)
}

impl StateStore {
    /// Opens (or creates) `path` and checks it belongs to `identity` (e.g. `chainId/hubAddress`).
    /// Writes [`SCHEMA_VERSION`] into a new or version-1 file; refuses a newer one.
    pub fn open(path: &Path, identity: &str) -> Result<Self, StateError> {
        let db = db_err!(builder().create(path))?;
        let store = Self { db };
        let txn = db_err!(store.db.begin_write())?;
        {
            let mut meta = db_err!(txn.open_table(META))?;
            let version = db_err!(meta.get(SCHEMA_VERSION_KEY))?.map(|v| decode_version(v.value()));
            match version {
                Some(found) if found > SCHEMA_VERSION => {
                    return Err(StateError::NewerSchema {
                        path: path.display().to_string(),
                        found,
                        supported: SCHEMA_VERSION,
                    })
                }
                Some(found) if found == SCHEMA_VERSION => {}
                // None: version 1 (or a new file). 1 -> 2 adds only the key itself.
                from => {
                    tracing::info!(
                        target: "maskoracle::state",
                        from = from.unwrap_or(1),
                        to = SCHEMA_VERSION,
                        "state schema upgraded"
                    );
                    db_err!(meta.insert(SCHEMA_VERSION_KEY, &SCHEMA_VERSION.to_be_bytes()[..]))?;
                }
            }
            let found = db_err!(meta.get(IDENTITY_KEY))?
                .map(|v| String::from_utf8_lossy(v.value()).into_owned());
            match found {
                Some(found) if found != identity => {
                    return Err(StateError::WrongIdentity {
                        found,
                        expected: identity.to_owned(),
                    })
                }
                Some(_) => {}
                None => {
                    db_err!(meta.insert(IDENTITY_KEY, identity.as_bytes()))?;
                }
            }
            db_err!(txn.open_table(TASKS))?;
            db_err!(txn.open_table(RESULTS))?;
        }
        db_err!(txn.commit())?;
        Ok(store)
    }

    /// The last block whose logs were fully processed, if any.
    pub fn cursor(&self) -> Result<Option<u64>, StateError> {
        read_cursor(&self.db)
    }

    /// The schema version stored in the file (always [`SCHEMA_VERSION`] once opened).
    pub fn schema_version(&self) -> Result<u32, StateError> {
        read_version(&self.db)
    }

    /// Records that every log up to and including `block` was processed.
    pub fn set_cursor(&self, block: u64) -> Result<(), StateError> {
        let txn = db_err!(self.db.begin_write())?;
        {
            let mut meta = db_err!(txn.open_table(META))?;
            db_err!(meta.insert(CURSOR_KEY, &block.to_be_bytes()[..]))?;
        }
        db_err!(txn.commit())
    }

    /// The hash of the cursor block as it was when the cursor was set (reorg detection).
    pub fn cursor_hash(&self) -> Result<Option<[u8; 32]>, StateError> {
        let txn = db_err!(self.db.begin_read())?;
        let meta = db_err!(txn.open_table(META))?;
        let value = db_err!(meta.get(CURSOR_HASH_KEY))?;
        Ok(value.and_then(|v| v.value().try_into().ok()))
    }

    /// Records the cursor and the hash of its block in one transaction.
    pub fn set_cursor_with_hash(&self, block: u64, hash: [u8; 32]) -> Result<(), StateError> {
        let txn = db_err!(self.db.begin_write())?;
        {
            let mut meta = db_err!(txn.open_table(META))?;
            db_err!(meta.insert(CURSOR_KEY, &block.to_be_bytes()[..]))?;
            db_err!(meta.insert(CURSOR_HASH_KEY, &hash[..]))?;
        }
        db_err!(txn.commit())
    }

    /// Every task record, terminal ones included (for `worker status`).
    pub fn all_tasks(&self) -> Result<Vec<([u8; 32], TaskRecord)>, StateError> {
        read_all_tasks(&self.db)
    }

    /// The record of `task_id` (32-byte big-endian), if the worker has one.
    pub fn task(&self, task_id: &[u8; 32]) -> Result<Option<TaskRecord>, StateError> {
        let txn = db_err!(self.db.begin_read())?;
        let tasks = db_err!(txn.open_table(TASKS))?;
        let Some(v) = db_err!(tasks.get(task_id))? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|source| StateError::Corrupt {
                what: "task record",
                source,
            })
    }

    /// Writes `record` and, when given, the canonical result it refers to, in one durable
    /// transaction. Returns when the data is on disk.
    pub fn put_task(
        &self,
        task_id: &[u8; 32],
        record: &TaskRecord,
        canonical: Option<&[u8]>,
    ) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(record).map_err(|source| StateError::Corrupt {
            what: "task record",
            source,
        })?;
        let txn = db_err!(self.db.begin_write())?;
        {
            let mut tasks = db_err!(txn.open_table(TASKS))?;
            db_err!(tasks.insert(task_id, bytes.as_slice()))?;
            if let (Some(result), Some(sha)) = (canonical, record.result_sha256.as_ref()) {
                let mut results = db_err!(txn.open_table(RESULTS))?;
                db_err!(results.insert(sha, result))?;
            }
        }
        db_err!(txn.commit())
    }

    /// The canonical result with this sha256, if stored.
    pub fn result(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StateError> {
        let txn = db_err!(self.db.begin_read())?;
        let results = db_err!(txn.open_table(RESULTS))?;
        Ok(db_err!(results.get(sha256))?.map(|v| v.value().to_vec()))
    }

    /// Deletes the closed records (and their canonical results) closed before `before_unix_ms`.
    /// Returns how many were deleted.
    pub fn prune_done(&self, before_unix_ms: u64) -> Result<usize, StateError> {
        let old: Vec<([u8; 32], Option<[u8; 32]>)> = self
            .all_tasks()?
            .into_iter()
            .filter(|(_, r)| {
                r.phase == TaskPhase::Done && r.done_unix_ms.is_some_and(|t| t < before_unix_ms)
            })
            .map(|(k, r)| (k, r.result_sha256))
            .collect();
        if old.is_empty() {
            return Ok(0);
        }
        let txn = db_err!(self.db.begin_write())?;
        {
            let mut tasks = db_err!(txn.open_table(TASKS))?;
            let mut results = db_err!(txn.open_table(RESULTS))?;
            for (k, sha) in &old {
                db_err!(tasks.remove(k))?;
                if let Some(sha) = sha {
                    db_err!(results.remove(sha))?;
                }
            }
        }
        db_err!(txn.commit())?;
        Ok(old.len())
    }

    /// Every task not yet `Done`, for reconciliation after a restart.
    pub fn open_tasks(&self) -> Result<Vec<([u8; 32], TaskRecord)>, StateError> {
        let mut all = self.all_tasks()?;
        all.retain(|(_, r)| r.phase != TaskPhase::Done);
        Ok(all)
    }
}

/// A read-only view of a state file, for `worker status` while the daemon may be running.
pub struct StateReader {
    db: ReadOnlyDatabase,
}

impl StateReader {
    /// Opens `path` read-only (never creates, never upgrades). Works while a daemon of this
    /// build holds the file; refuses a file of a newer schema.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if !path.is_file() {
            return Err(StateError::Missing(path.display().to_string()));
        }
        let db = match builder().open_read_only(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StateError::Locked(path.display().to_string()))
            }
            Err(e) => return Err(StateError::Db(Box::new(redb::Error::from(e)))),
        };
        let reader = Self { db };
        let found = reader.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                path: path.display().to_string(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(reader)
    }

    /// The schema version of the file (1 when it has none).
    pub fn schema_version(&self) -> Result<u32, StateError> {
        read_version(&self.db)
    }

    /// The deployment identity the file belongs to.
    pub fn identity(&self) -> Result<Option<String>, StateError> {
        let txn = db_err!(self.db.begin_read())?;
        let meta = match txn.open_table(META) {
            Ok(m) => m,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(StateError::Db(Box::new(redb::Error::from(e)))),
        };
        let value = db_err!(meta.get(IDENTITY_KEY))?;
        Ok(value.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    /// The last block whose logs were fully processed, if any.
    pub fn cursor(&self) -> Result<Option<u64>, StateError> {
        read_cursor(&self.db)
    }

    /// Every task record.
    pub fn all_tasks(&self) -> Result<Vec<([u8; 32], TaskRecord)>, StateError> {
        read_all_tasks(&self.db)
    }
}

fn read_version(db: &impl ReadableDatabase) -> Result<u32, StateError> {
    let txn = db_err!(db.begin_read())?;
    let meta = match txn.open_table(META) {
        Ok(m) => m,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(1),
        Err(e) => return Err(StateError::Db(Box::new(redb::Error::from(e)))),
    };
    let value = db_err!(meta.get(SCHEMA_VERSION_KEY))?;
    Ok(value.map(|v| decode_version(v.value())).unwrap_or(1))
}

fn read_cursor(db: &impl ReadableDatabase) -> Result<Option<u64>, StateError> {
    let txn = db_err!(db.begin_read())?;
    let meta = db_err!(txn.open_table(META))?;
    let value = db_err!(meta.get(CURSOR_KEY))?;
    Ok(value.and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes)))
}

fn read_all_tasks(db: &impl ReadableDatabase) -> Result<Vec<([u8; 32], TaskRecord)>, StateError> {
    let txn = db_err!(db.begin_read())?;
    let tasks = db_err!(txn.open_table(TASKS))?;
    let mut out = Vec::new();
    for entry in db_err!(tasks.iter())? {
        let (k, v) = db_err!(entry)?;
        let record: TaskRecord =
            serde_json::from_slice(v.value()).map_err(|source| StateError::Corrupt {
                what: "task record",
                source,
            })?;
        out.push((*k.value(), record));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[31] = n;
        k
    }

    #[test]
    fn records_and_cursor_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        {
            let s = StateStore::open(&path, "31337/0xhub").expect("open");
            assert_eq!(s.cursor().expect("cursor"), None);
            s.set_cursor(41).expect("cursor");
            let mut r = TaskRecord::seen(40);
            r.phase = TaskPhase::Computed;
            r.digest = Some([7; 32]);
            r.result_sha256 = Some([9; 32]);
            s.put_task(&id(1), &r, Some(b"canonical bytes"))
                .expect("put");
            s.put_task(
                &id(2),
                &TaskRecord {
                    phase: TaskPhase::Done,
                    ..TaskRecord::seen(40)
                },
                None,
            )
            .expect("put");
        }
        let s = StateStore::open(&path, "31337/0xhub").expect("reopen");
        assert_eq!(s.cursor().expect("cursor"), Some(41));
        let r = s.task(&id(1)).expect("read").expect("present");
        assert_eq!((r.phase, r.digest), (TaskPhase::Computed, Some([7; 32])));
        assert_eq!(
            s.result(&[9; 32]).expect("read").as_deref(),
            Some(&b"canonical bytes"[..])
        );
        let open: Vec<_> = s
            .open_tasks()
            .expect("list")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(open, vec![id(1)], "done tasks are not reconciled again");
        assert!(s.task(&id(3)).expect("read").is_none());
    }

    #[test]
    fn folder_of_another_deployment_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        drop(StateStore::open(&path, "31337/0xaaa").expect("open"));
        let err = StateStore::open(&path, "1/0xbbb").err().expect("refused");
        assert!(matches!(err, StateError::WrongIdentity { .. }), "{err}");
    }

    #[test]
    fn a_file_without_a_version_is_version_1_and_upgraded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        // A version-1 file: the same tables, no version key (as older builds wrote it).
        {
            let db = Database::create(&path).expect("create");
            let txn = db.begin_write().expect("write");
            {
                let mut meta = txn.open_table(META).expect("meta");
                meta.insert(IDENTITY_KEY, &b"31337/0xhub"[..])
                    .expect("identity");
                meta.insert(CURSOR_KEY, &9u64.to_be_bytes()[..])
                    .expect("cursor");
                let mut tasks = txn.open_table(TASKS).expect("tasks");
                let r = serde_json::to_vec(&TaskRecord::seen(8)).expect("json");
                tasks.insert(&id(5), r.as_slice()).expect("task");
            }
            txn.commit().expect("commit");
        }
        assert_eq!(
            StateReader::open(&path)
                .expect("read-only")
                .schema_version()
                .expect("version"),
            1
        );
        let s = StateStore::open(&path, "31337/0xhub").expect("upgrades");
        assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(s.cursor().expect("cursor"), Some(9), "data kept");
        assert_eq!(s.all_tasks().expect("tasks").len(), 1, "records kept");
    }

    #[test]
    fn a_newer_schema_is_refused_by_both_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        {
            let s = StateStore::open(&path, "31337/0xhub").expect("open");
            let txn = s.db.begin_write().expect("write");
            {
                let mut meta = txn.open_table(META).expect("meta");
                meta.insert(SCHEMA_VERSION_KEY, &(SCHEMA_VERSION + 1).to_be_bytes()[..])
                    .expect("version");
            }
            txn.commit().expect("commit");
        }
        let err = StateStore::open(&path, "31337/0xhub")
            .err()
            .expect("refused");
        assert!(
            matches!(err, StateError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
        assert!(err.to_string().contains("newer maskoracle"), "{err}");
        let err = StateReader::open(&path).err().expect("refused read-only");
        assert!(matches!(err, StateError::NewerSchema { .. }), "{err}");
    }

    #[test]
    fn read_only_open_of_a_missing_file_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = StateReader::open(&dir.path().join("none.redb"))
            .err()
            .expect("missing");
        assert!(matches!(err, StateError::Missing(_)), "{err}");
    }

    #[test]
    fn phases_are_ordered_forward() {
        assert!(TaskPhase::Seen < TaskPhase::Computed);
        assert!(TaskPhase::Computed < TaskPhase::CommitSent);
        assert!(TaskPhase::CommitSent < TaskPhase::RevealSent);
        assert!(TaskPhase::RevealSent < TaskPhase::Done);
    }
}
