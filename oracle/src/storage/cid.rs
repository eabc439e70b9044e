//! Content identifiers: Kubo-compatible UnixFS import, raw result blocks and block verification.
//!
//! The importer reproduces `ipfs add` for one file with fixed-size chunks and the balanced layout:
//! - [`ImportParams::KUBO_V0`]: Kubo's defaults (CIDv0, dag-pb leaves, 256 KiB chunks, 174 links);
//! - [`ImportParams::KUBO_V1`]: `ipfs add --cid-version=1` (CIDv1, raw leaves).
//!
//! Canonical results are one raw block (CIDv1, codec raw `0x55`, sha2-256), so their CID follows
//! from their sha256 alone: [`raw_cid_from_sha256`].
//!
//! Every block that enters the node from outside goes through [`verify_block`]; the reader
//! ([`decode_dag_pb`], [`UnixfsNode`]) never trusts sizes it has not checked.

use std::collections::HashSet;

use bytes::Bytes;
use cid::multihash::Multihash;
use cid::Cid;
use sha2::{Digest, Sha256};

/// Multicodec of a raw block.
pub const RAW: u64 = 0x55;
/// Multicodec of a dag-pb (MerkleDAG protobuf) block.
pub const DAG_PB: u64 = 0x70;
/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;
/// Multihash code of the identity "hash" (the data is inlined in the CID).
pub const IDENTITY: u64 = 0x00;
/// Kubo's default chunk size (`--chunker=size-262144`).
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;
/// Kubo's default maximum number of links per dag-pb node in the balanced layout.
pub const DEFAULT_MAX_LINKS: usize = 174;
/// Largest block this node accepts from a peer, a gateway or an RPC server (Bitswap's 2 MiB).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;
/// Largest canonical result (the protocol caps it at 1 MiB; one raw block).
pub const MAX_RESULT_SIZE: usize = 1024 * 1024;

/// Errors of CID computation, parsing and verification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidError {
    /// The text is not a CID.
    #[error("invalid CID \"{input}\": {reason}")]
    Invalid {
        /// The text that failed to parse, made safe for logs ([`super::loggable`]).
        input: String,
        /// Why.
        reason: String,
    },
    /// The CID uses a hash function this node does not verify.
    #[error("CID {cid} uses multihash code {code:#x}; only sha2-256 (and identity) are verified")]
    UnsupportedHash {
        /// The CID.
        cid: Cid,
        /// Its multihash code.
        code: u64,
    },
    /// The CID uses a codec this node does not read.
    #[error("CID {cid} has codec {codec:#x}; only raw (0x55) and dag-pb (0x70) are read")]
    UnsupportedCodec {
        /// The CID.
        cid: Cid,
        /// Its codec.
        codec: u64,
    },
    /// The bytes do not hash to the CID.
    #[error("block does not match its CID {cid}")]
    Mismatch {
        /// The CID that was asked for.
        cid: Cid,
    },
    /// A dag-pb or UnixFS structure is malformed.
    #[error("malformed block {cid}: {reason}")]
    Malformed {
        /// The block.
        cid: Cid,
        /// What is wrong.
        reason: String,
    },
    /// Import parameters out of range.
    #[error("invalid import parameters: {0}")]
    Params(String),
}

/// One content-addressed block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Its CID.
    pub cid: Cid,
    /// Its bytes.
    pub data: Bytes,
}

/// Parameters of a UnixFS file import, as `ipfs add` flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportParams {
    /// CID version of the dag-pb nodes (0 or 1).
    pub cid_version: u8,
    /// Store leaves as raw blocks (`--raw-leaves`).
    pub raw_leaves: bool,
    /// Fixed chunk size in bytes (`--chunker=size-N`).
    pub chunk_size: usize,
    /// Maximum links per internal node of the balanced layout.
    pub max_links: usize,
}

impl ImportParams {
    /// `ipfs add` with Kubo's defaults: CIDv0, dag-pb leaves, 256 KiB chunks, balanced, 174 links.
    pub const KUBO_V0: Self = Self {
        cid_version: 0,
        raw_leaves: false,
        chunk_size: DEFAULT_CHUNK_SIZE,
        max_links: DEFAULT_MAX_LINKS,
    };
    /// `ipfs add --cid-version=1` (which implies `--raw-leaves`).
    pub const KUBO_V1: Self = Self {
        cid_version: 1,
        raw_leaves: true,
        chunk_size: DEFAULT_CHUNK_SIZE,
        max_links: DEFAULT_MAX_LINKS,
    };

    fn check(&self) -> Result<(), CidError> {
        if self.cid_version > 1 {
            return Err(CidError::Params(format!(
                "unknown CID version {}",
                self.cid_version
            )));
        }
        // CIDv0 with raw leaves is allowed: Kubo then links CIDv1 raw leaves from CIDv0 nodes.
        if self.chunk_size == 0 || self.chunk_size > 1024 * 1024 {
            return Err(CidError::Params(format!(
                "chunk size {} not in 1..=1048576",
                self.chunk_size
            )));
        }
        if self.max_links < 2 {
            return Err(CidError::Params(format!(
                "max links {} below 2",
                self.max_links
            )));
        }
        Ok(())
    }
}

impl Default for ImportParams {
    fn default() -> Self {
        Self::KUBO_V0
    }
}

/// A UnixFS file as blocks: the root CID and every distinct block (the root last).
#[derive(Clone, Debug)]
pub struct Dag {
    /// Root CID (what `ipfs add` prints).
    pub root: Cid,
    /// Distinct blocks, children before parents, root last.
    pub blocks: Vec<Block>,
}

/// sha2-256 multihash of `data`.
pub fn sha256_multihash(data: &[u8]) -> Multihash<64> {
    let digest: [u8; 32] = Sha256::digest(data).into();
    multihash_from_sha256(&digest)
}

fn multihash_from_sha256(digest: &[u8; 32]) -> Multihash<64> {
    // Infallible: a 32-byte digest always fits the 64-byte multihash.
    match Multihash::wrap(SHA2_256, digest) {
        Ok(mh) => mh,
        Err(_) => unreachable!("32 bytes fit a 64-byte multihash"),
    }
}

/// CID of `data` stored as one raw block (CIDv1, raw, sha2-256).
pub fn raw_cid(data: &[u8]) -> Cid {
    Cid::new_v1(RAW, sha256_multihash(data))
}

/// CID of a raw block from its sha256 alone: how anyone derives a result's CID from the chain.
pub fn raw_cid_from_sha256(sha256: &[u8; 32]) -> Cid {
    Cid::new_v1(RAW, multihash_from_sha256(sha256))
}

/// The sha256 inside a CID whose multihash is sha2-256.
pub fn sha256_of_cid(cid: &Cid) -> Option<[u8; 32]> {
    let mh = cid.hash();
    if mh.code() != SHA2_256 {
        return None;
    }
    mh.digest().try_into().ok()
}

/// Parses a CID from text, also accepting `ipfs://CID` and `/ipfs/CID`.
pub fn parse_cid(text: &str) -> Result<Cid, CidError> {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix("ipfs://")
        .or_else(|| trimmed.strip_prefix("/ipfs/"))
        .unwrap_or(trimmed);
    let bare = bare.trim_end_matches('/');
    if bare.contains('/') {
        return Err(CidError::Invalid {
            input: super::loggable(text).to_string(),
            reason: "paths inside a DAG are not supported; give the file's own CID".into(),
        });
    }
    Cid::try_from(bare).map_err(|e| CidError::Invalid {
        input: super::loggable(text).to_string(),
        reason: e.to_string(),
    })
}

/// Checks that `data` is the block named by `cid` (sha2-256 or identity multihash).
pub fn verify_block(cid: &Cid, data: &[u8]) -> Result<(), CidError> {
    let mh = cid.hash();
    let ok = match mh.code() {
        SHA2_256 => Sha256::digest(data).as_slice() == mh.digest(),
        IDENTITY => mh.digest() == data,
        code => return Err(CidError::UnsupportedHash { cid: *cid, code }),
    };
    if ok {
        Ok(())
    } else {
        Err(CidError::Mismatch { cid: *cid })
    }
}

// ---------------------------------------------------------------------------------------------
// Protobuf writing (dag-pb and UnixFS use a handful of proto2 fields).
// ---------------------------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field << 3));
    put_varint(out, v);
}

const UNIXFS_RAW: u64 = 0;
const UNIXFS_FILE: u64 = 2;

/// UnixFS `Data` message of a file node: Type, Data (if any), filesize, blocksizes (unpacked).
fn unixfs_file(data: Option<&[u8]>, filesize: u64, blocksizes: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + data.map_or(0, <[u8]>::len) + blocksizes.len() * 4);
    put_varint_field(&mut out, 1, UNIXFS_FILE);
    if let Some(d) = data {
        put_bytes_field(&mut out, 2, d);
    }
    put_varint_field(&mut out, 3, filesize);
    for &b in blocksizes {
        put_varint_field(&mut out, 4, b);
    }
    out
}

/// A link of a dag-pb node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PbLink {
    /// Target CID.
    pub cid: Cid,
    /// Link name (empty inside files).
    pub name: String,
    /// Cumulative size of the target's DAG (block bytes of the whole sub-DAG).
    pub tsize: u64,
}

/// Canonical dag-pb encoding: links first (field 2), then data (field 1).
fn encode_dag_pb(links: &[PbLink], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + links.len() * 48 + 8);
    for link in links {
        let mut l = Vec::with_capacity(48);
        put_bytes_field(&mut l, 1, &link.cid.to_bytes());
        put_bytes_field(&mut l, 2, link.name.as_bytes());
        put_varint_field(&mut l, 3, link.tsize);
        put_bytes_field(&mut out, 2, &l);
    }
    put_bytes_field(&mut out, 1, data);
    out
}

// ---------------------------------------------------------------------------------------------
// Import (balanced layout, as Kubo's `ipfs add`).
// ---------------------------------------------------------------------------------------------

/// A finished sub-DAG: its CID, the file bytes under it, and its cumulative block size.
#[derive(Clone, Copy)]
struct Child {
    cid: Cid,
    filesize: u64,
    tsize: u64,
}

struct Builder<'a> {
    params: ImportParams,
    chunks: std::slice::Chunks<'a, u8>,
    pending: Option<&'a [u8]>,
    blocks: Vec<Block>,
    seen: HashSet<Cid>,
}

impl<'a> Builder<'a> {
    fn node_cid(&self, codec: u64, bytes: &[u8]) -> Cid {
        let mh = sha256_multihash(bytes);
        if codec == DAG_PB && self.params.cid_version == 0 {
            Cid::new_v0(mh).unwrap_or_else(|_| Cid::new_v1(codec, mh))
        } else {
            Cid::new_v1(codec, mh)
        }
    }

    fn store(&mut self, cid: Cid, bytes: Vec<u8>) {
        if self.seen.insert(cid) {
            self.blocks.push(Block {
                cid,
                data: Bytes::from(bytes),
            });
        }
    }

    fn done(&mut self) -> bool {
        if self.pending.is_none() {
            self.pending = self.chunks.next();
        }
        self.pending.is_none()
    }

    fn leaf(&mut self, chunk: &[u8]) -> Child {
        if self.params.raw_leaves {
            let cid = Cid::new_v1(RAW, sha256_multihash(chunk));
            self.store(cid, chunk.to_vec());
            Child {
                cid,
                filesize: chunk.len() as u64,
                tsize: chunk.len() as u64,
            }
        } else {
            // An empty leaf (the empty file) has no Data field at all, as Kubo writes it.
            let inline = (!chunk.is_empty()).then_some(chunk);
            let bytes = encode_dag_pb(&[], &unixfs_file(inline, chunk.len() as u64, &[]));
            let cid = self.node_cid(DAG_PB, &bytes);
            let tsize = bytes.len() as u64;
            self.store(cid, bytes);
            Child {
                cid,
                filesize: chunk.len() as u64,
                tsize,
            }
        }
    }

    fn next_leaf(&mut self) -> Option<Child> {
        if self.done() {
            return None;
        }
        let chunk = self.pending.take()?;
        Some(self.leaf(chunk))
    }

    fn internal(&mut self, children: &[Child]) -> Child {
        let links: Vec<PbLink> = children
            .iter()
            .map(|c| PbLink {
                cid: c.cid,
                name: String::new(),
                tsize: c.tsize,
            })
            .collect();
        let sizes: Vec<u64> = children.iter().map(|c| c.filesize).collect();
        let filesize = sizes.iter().sum();
        let bytes = encode_dag_pb(&links, &unixfs_file(None, filesize, &sizes));
        let tsize = bytes.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
        let cid = self.node_cid(DAG_PB, &bytes);
        self.store(cid, bytes);
        Child {
            cid,
            filesize,
            tsize,
        }
    }

    /// Fills a node of `depth` (1 = its children are leaves), starting from `first` if given.
    fn fill(&mut self, first: Option<Child>, depth: usize) -> Child {
        let mut children: Vec<Child> = first.into_iter().collect();
        while children.len() < self.params.max_links && !self.done() {
            let child = if depth == 1 {
                self.next_leaf()
            } else {
                Some(self.fill(None, depth - 1))
            };
            match child {
                Some(c) => children.push(c),
                None => break,
            }
        }
        self.internal(&children)
    }
}

/// Imports `data` as one UnixFS file, exactly as `ipfs add` with the same parameters would.
pub fn import(data: &[u8], params: &ImportParams) -> Result<Dag, CidError> {
    params.check()?;
    let mut b = Builder {
        params: *params,
        chunks: data.chunks(params.chunk_size),
        pending: None,
        blocks: Vec::new(),
        seen: HashSet::new(),
    };
    let mut root = match b.next_leaf() {
        Some(leaf) => leaf,
        // An empty file is one empty leaf (a raw empty block with raw leaves).
        None => b.leaf(&[]),
    };
    let mut depth = 1;
    while !b.done() {
        root = b.fill(Some(root), depth);
        depth += 1;
    }
    // Move the root block last (it is already last unless it was deduplicated earlier).
    if let Some(pos) = b.blocks.iter().position(|blk| blk.cid == root.cid) {
        let blk = b.blocks.remove(pos);
        b.blocks.push(blk);
    }
    Ok(Dag {
        root: root.cid,
        blocks: b.blocks,
    })
}

// ---------------------------------------------------------------------------------------------
// Reading dag-pb / UnixFS.
// ---------------------------------------------------------------------------------------------

struct PbReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> PbReader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn skip(&mut self, wire: u64) -> Option<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => {
                self.pos = self.pos.checked_add(8).filter(|&p| p <= self.buf.len())?;
                Some(())
            }
            2 => self.bytes().map(|_| ()),
            5 => {
                self.pos = self.pos.checked_add(4).filter(|&p| p <= self.buf.len())?;
                Some(())
            }
            _ => None,
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// A decoded dag-pb node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PbNode {
    /// Links in order.
    pub links: Vec<PbLink>,
    /// The `Data` field (UnixFS metadata for UnixFS nodes).
    pub data: Option<Vec<u8>>,
}

/// Decodes a dag-pb block (`cid` is only used in error messages).
pub fn decode_dag_pb(cid: &Cid, bytes: &[u8]) -> Result<PbNode, CidError> {
    let bad = |reason: &str| CidError::Malformed {
        cid: *cid,
        reason: reason.to_owned(),
    };
    let mut r = PbReader { buf: bytes, pos: 0 };
    let mut node = PbNode {
        links: Vec::new(),
        data: None,
    };
    while !r.done() {
        let key = r.varint().ok_or_else(|| bad("truncated field key"))?;
        match (key >> 3, key & 7) {
            (1, 2) => node.data = Some(r.bytes().ok_or_else(|| bad("truncated Data"))?.to_vec()),
            (2, 2) => {
                let raw = r.bytes().ok_or_else(|| bad("truncated link"))?;
                let mut lr = PbReader { buf: raw, pos: 0 };
                let mut hash = None;
                let mut name = String::new();
                let mut tsize = 0;
                while !lr.done() {
                    let k = lr.varint().ok_or_else(|| bad("truncated link key"))?;
                    match (k >> 3, k & 7) {
                        (1, 2) => hash = Some(lr.bytes().ok_or_else(|| bad("truncated Hash"))?),
                        (2, 2) => {
                            let n = lr.bytes().ok_or_else(|| bad("truncated Name"))?;
                            name = String::from_utf8(n.to_vec())
                                .map_err(|_| bad("link name is not UTF-8"))?;
                        }
                        (3, 0) => tsize = lr.varint().ok_or_else(|| bad("truncated Tsize"))?,
                        (_, w) => lr.skip(w).ok_or_else(|| bad("bad link field"))?,
                    }
                }
                let hash = hash.ok_or_else(|| bad("link without Hash"))?;
                let target = Cid::try_from(hash).map_err(|e| bad(&format!("link CID: {e}")))?;
                node.links.push(PbLink {
                    cid: target,
                    name,
                    tsize,
                });
            }
            (_, w) => r.skip(w).ok_or_else(|| bad("bad field"))?,
        }
    }
    Ok(node)
}

/// The UnixFS metadata of a file node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnixfsNode {
    /// UnixFS type (0 raw, 1 directory, 2 file, 3 metadata, 4 symlink, 5 HAMT shard).
    pub kind: u64,
    /// Inline data.
    pub data: Vec<u8>,
    /// Declared file size.
    pub filesize: Option<u64>,
    /// Declared sizes of the children, in link order.
    pub blocksizes: Vec<u64>,
}

impl UnixfsNode {
    /// Decodes UnixFS `Data` (`cid` is only used in error messages).
    pub fn decode(cid: &Cid, bytes: &[u8]) -> Result<Self, CidError> {
        let bad = |reason: &str| CidError::Malformed {
            cid: *cid,
            reason: reason.to_owned(),
        };
        let mut r = PbReader { buf: bytes, pos: 0 };
        let mut n = UnixfsNode::default();
        let mut has_type = false;
        while !r.done() {
            let key = r.varint().ok_or_else(|| bad("truncated UnixFS key"))?;
            match (key >> 3, key & 7) {
                (1, 0) => {
                    n.kind = r.varint().ok_or_else(|| bad("truncated Type"))?;
                    has_type = true;
                }
                (2, 2) => n.data = r.bytes().ok_or_else(|| bad("truncated Data"))?.to_vec(),
                (3, 0) => n.filesize = Some(r.varint().ok_or_else(|| bad("truncated size"))?),
                (4, 0) => n
                    .blocksizes
                    .push(r.varint().ok_or_else(|| bad("truncated blocksize"))?),
                (4, 2) => {
                    // Packed encoding: accepted on read.
                    let packed = r.bytes().ok_or_else(|| bad("truncated blocksizes"))?;
                    let mut pr = PbReader {
                        buf: packed,
                        pos: 0,
                    };
                    while !pr.done() {
                        n.blocksizes
                            .push(pr.varint().ok_or_else(|| bad("bad packed blocksize"))?);
                    }
                }
                (_, w) => r.skip(w).ok_or_else(|| bad("bad UnixFS field"))?,
            }
        }
        if !has_type {
            return Err(bad("UnixFS Data without Type"));
        }
        Ok(n)
    }

    /// Whether the node holds file content (file or raw).
    pub fn is_file(&self) -> bool {
        self.kind == UNIXFS_FILE || self.kind == UNIXFS_RAW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_known_cidv0() {
        let dag = import(b"", &ImportParams::KUBO_V0).expect("imports");
        assert_eq!(
            dag.root.to_string(),
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        );
        assert_eq!(dag.blocks.len(), 1);
    }

    #[test]
    fn verify_rejects_flipped_byte() {
        let data = b"result bytes".to_vec();
        let cid = raw_cid(&data);
        assert!(verify_block(&cid, &data).is_ok());
        let mut bad = data.clone();
        bad[0] ^= 1;
        assert_eq!(verify_block(&cid, &bad), Err(CidError::Mismatch { cid }));
    }

    #[test]
    fn decode_round_trips_internal_node() {
        let data = vec![7u8; 3 * 1000];
        let params = ImportParams {
            chunk_size: 1000,
            ..ImportParams::KUBO_V0
        };
        let dag = import(&data, &params).expect("imports");
        let root = dag.blocks.last().expect("root");
        let node = decode_dag_pb(&root.cid, &root.data).expect("decodes");
        // Identical chunks are one block, linked three times.
        assert_eq!(node.links.len(), 3);
        assert_eq!(dag.blocks.len(), 2);
        let fs = UnixfsNode::decode(&root.cid, node.data.as_deref().unwrap_or_default())
            .expect("unixfs");
        assert_eq!(fs.filesize, Some(3000));
        assert_eq!(fs.blocksizes, vec![1000, 1000, 1000]);
    }

    #[test]
    fn malformed_pb_is_an_error_not_a_panic() {
        let cid = raw_cid(b"x");
        for bytes in [
            &[0x12u8, 0x05, 0x0a][..],
            &[0xff; 12][..],
            &[0x0a, 0x80][..],
        ] {
            assert!(decode_dag_pb(&cid, bytes).is_err());
        }
    }

    #[test]
    fn bad_params_are_refused() {
        let p = ImportParams {
            chunk_size: 0,
            ..ImportParams::KUBO_V0
        };
        assert!(matches!(import(b"x", &p), Err(CidError::Params(_))));
    }
}
