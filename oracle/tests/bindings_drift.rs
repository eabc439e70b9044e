//! The node's bindings are generated from the ABIs committed in `oracle/abi/`; this test fails
//! when they differ from the ABIs forge produces for the current contracts (`make test` runs
//! `forge build` first). Fix a failure with `scripts/bindings` and a rebuild.

use std::path::Path;

#[test]
fn committed_abis_match_the_current_forge_artifacts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let mut drifted = Vec::new();
    for (name, committed) in maskoracle::bindings::ABI_FILES {
        let artifact = root
            .join("out")
            .join(format!("{name}.sol"))
            .join(format!("{name}.json"));
        let text = std::fs::read_to_string(&artifact).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `forge build` first (make test does)",
                artifact.display()
            )
        });
        let built: serde_json::Value = serde_json::from_str(&text).expect("artifact JSON");
        let committed: serde_json::Value =
            serde_json::from_str(committed).expect("committed ABI JSON");
        if built["abi"] != committed {
            drifted.push(name);
        }
    }
    assert!(
        drifted.is_empty(),
        "the ABIs of {drifted:?} changed: run scripts/bindings and rebuild the node"
    );
}
