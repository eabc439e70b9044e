//! CID test vectors published by Kubo, reproduced by the project's importer.
//!
//! Source of every vector: Kubo's own sharness specification of `ipfs add`,
//! `test/sharness/t0040-add-and-cat.sh` in the ipfs/kubo repository (cited per test below), and,
//! for the empty raw block, the same file's `test_add_cat_raw`. The multi-block files are the ones
//! those tests generate with go-random (`random 5242880 41`, `random 104857600 42`); their SHA-1,
//! which the same tests check, proves the generator here makes the same bytes.

#[path = "support/go_rand.rs"]
mod go_rand;

use maskoracle::storage::cid::{
    self, import, raw_cid, raw_cid_from_sha256, ImportParams, DEFAULT_CHUNK_SIZE,
};
use sha1::Digest as _;

fn cid_of(data: &[u8], params: ImportParams) -> String {
    import(data, &params).expect("imports").root.to_string()
}

fn v0() -> ImportParams {
    ImportParams::KUBO_V0
}

fn v0_raw_leaves() -> ImportParams {
    ImportParams {
        raw_leaves: true,
        ..ImportParams::KUBO_V0
    }
}

fn v1() -> ImportParams {
    ImportParams::KUBO_V1
}

fn v1_pb_leaves() -> ImportParams {
    ImportParams {
        raw_leaves: false,
        ..ImportParams::KUBO_V1
    }
}

// t0040-add-and-cat.sh, "zero length file has correct hash" (CIDv0) and, in test_add_cat_raw,
// the same with --raw-leaves.
#[test]
fn empty_file() {
    assert_eq!(
        cid_of(b"", v0()),
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    );
    assert_eq!(
        cid_of(b"", v0_raw_leaves()),
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    );
}

// t0040-add-and-cat.sh, "ipfs add output looks good" (hello.txt) and "ipfs add with multiple
// files output looks good" (hello2.txt), "'ipfs add -q' output looks good" (venus.txt, Jupiter),
// "'ipfs add' output looks good" (Neptune/Pluton, no trailing newline), --stdin-name ("IPFS").
#[test]
fn small_files_cidv0() {
    let cases: [(&[u8], &str); 6] = [
        (
            b"Hello Worlds!\n",
            "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH",
        ),
        (
            b"Helloo Worlds!\n",
            "Qmf35k66MZNW2GijohUmXQEWKZU4cCGTCwK6idfnt152wJ",
        ),
        (
            b"Hello Venus!\n",
            "QmU5kp3BH3B8tnWUU2Pikdb2maksBNkb92FHRr56hyghh4",
        ),
        (
            b"Hello Jupiter!\n",
            "QmUnvPcBctVTAcJpigv6KMqDvmDewksPWrNVoy1E1WP5fh",
        ),
        (
            b"Hello Neptune!\nHello Pluton!",
            "QmZDhWpi8NvKrekaYYhxKCdNVGWsFFe1CREnAjP1QbPaB3",
        ),
        (b"IPFS\n", "QmdFyxZXsFiP4csgfM5uPu99AvFiKH62CSPDw5TP92nr7w"),
    ];
    for (data, expected) in cases {
        assert_eq!(
            cid_of(data, v0()),
            expected,
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
}

// t0040-add-and-cat.sh, add_directory with --raw-leaves / --cid-version=1 (mars.txt, venus.txt
// are single raw blocks) and with --cid-version=1 --raw-leaves=false (dag-pb leaves, CIDv1).
#[test]
fn small_files_cidv1() {
    assert_eq!(
        cid_of(b"Hello Mars!\n", v1()),
        "bafkreibmlvvgdyihetgocpof6xk64kjjzdeq2e4c7hqs3krdheosk4tgj4"
    );
    assert_eq!(
        cid_of(b"Hello Venus!\n", v0_raw_leaves()),
        "bafkreihfsphazrk2ilejpekyltjeh5k4yvwgjuwg26ueafohqioeo3sdca"
    );
    assert_eq!(
        cid_of(b"Hello Mars!\n", v1_pb_leaves()),
        "bafybeiawta2ntdmsy24aro35w3homzl4ak7svr3si7l7gesvq4erglyye4"
    );
    assert_eq!(
        cid_of(b"Hello Venus!\n", v1_pb_leaves()),
        "bafybeicvkvhs2fr75ynebtdjqpgm4g2fc63abqbmysupwpmcjl4gx7mzrm"
    );
    // "ipfs add --cid-base=base32 output looks good": a CIDv0 dag-pb node printed as CIDv1.
    let v0_root = import(b"base32 test\n", &v0()).expect("imports").root;
    let as_v1 = maskoracle::storage::Cid::new_v1(cid::DAG_PB, *v0_root.hash());
    assert_eq!(
        as_v1.to_string(),
        "bafybeibyosqxljd2eptb4ebbtvk7pb4aoxzqa6ttdsflty6rsslz5y6i34"
    );
}

fn sha1_multihash_hex(data: &[u8]) -> String {
    let digest = sha1::Sha1::digest(data);
    // multihash: code 0x11 (sha1), length 0x14, digest — as `multihash -a=sha1 -e=hex` prints.
    let mut out = String::from("1114");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

// t0040-add-and-cat.sh, test_add_cat_5MB: `random 5242880 41`, SHA-1 multihash
// 11145620fb92eb5a49c9986b5c6844efda37e471660e; 20 chunks under one root.
#[test]
fn multi_block_5mb() {
    let data = go_rand::go_random_bytes(5_242_880, 41);
    assert_eq!(
        sha1_multihash_hex(&data),
        "11145620fb92eb5a49c9986b5c6844efda37e471660e",
        "generator does not reproduce go-random"
    );
    assert_eq!(
        cid_of(&data, v0()),
        "QmSr7FqYkxYWGoSfy8ZiaMWQ5vosb18DQGCzjwEQnVHkTb"
    );
    assert_eq!(
        cid_of(&data, v0_raw_leaves()),
        "QmbdLHCmdi48eM8T7D67oXjA1S2Puo8eMfngdHhdPukFd6"
    );
    assert_eq!(
        cid_of(&data, v1()),
        "bafybeigfnx3tka2rf5ovv2slb7ymrt4zbwa3ryeqibe6fipyt5vgsrli3u"
    );
    assert_eq!(
        cid_of(&data, v1_pb_leaves()),
        "bafybeieyifrgpjn3yengthr7qaj72ozm2aq3wm53srgeprc43w67qpvfqa"
    );
    let dag = import(&data, &v0()).expect("imports");
    assert_eq!(dag.blocks.len(), 5_242_880 / DEFAULT_CHUNK_SIZE + 1);
}

// t0040-add-and-cat.sh, test_add_cat_expensive: `random 104857600 42`, SHA-1 multihash
// 1114885b197b01e0f7ff584458dc236cb9477d2e736d; 400 chunks, so two levels of 174-link nodes.
#[test]
fn multi_block_100mb_two_levels() {
    let data = go_rand::go_random_bytes(104_857_600, 42);
    assert_eq!(
        sha1_multihash_hex(&data),
        "1114885b197b01e0f7ff584458dc236cb9477d2e736d"
    );
    assert_eq!(
        cid_of(&data, v0()),
        "QmU9SWAPPmNEKZB8umYMmjYvN7VyHqABNvdA6GUi4MMEz3"
    );
    assert_eq!(
        cid_of(&data, v1()),
        "bafybeidkj5ecbhrqmzrcee2rw7qwsx24z3364qya3fnp2ktkg2tnsrewhi"
    );
}

// Results: one raw block, CIDv1 raw sha2-256, derivable from the sha256 alone.
#[test]
fn result_cid_follows_from_sha256() {
    let result = b"canonical result bytes".to_vec();
    let sha: [u8; 32] = sha2::Sha256::digest(&result).into();
    let from_sha = raw_cid_from_sha256(&sha);
    assert_eq!(from_sha, raw_cid(&result));
    assert_eq!(from_sha.codec(), cid::RAW);
    assert_eq!(from_sha.version(), ::cid::Version::V1);
    assert_eq!(cid::sha256_of_cid(&from_sha), Some(sha));
    // The raw CID of the empty block is Kubo's (test_add_cat_raw above).
    assert_eq!(
        raw_cid_from_sha256(&sha2::Sha256::digest(b"").into()).to_string(),
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    );
}

#[test]
fn parse_cid_accepts_uri_forms_and_refuses_garbage() {
    let text = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";
    let c = cid::parse_cid(text).expect("bare");
    assert_eq!(cid::parse_cid(&format!("ipfs://{text}")).expect("uri"), c);
    assert_eq!(cid::parse_cid(&format!("/ipfs/{text}")).expect("path"), c);
    assert!(cid::parse_cid("ipfs://not-a-cid").is_err());
    assert!(cid::parse_cid(&format!("ipfs://{text}/sub/path")).is_err());
}
