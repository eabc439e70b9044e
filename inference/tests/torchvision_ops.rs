//! The compiled torchvision operators against Python torchvision 0.28's outputs
//! (fixture written by tests/fixtures/make_ops_reference.py).

mod common;

use tch::{IValue, Kind, Tensor};

fn tensor(v: &serde_json::Value, shape: &[i64]) -> Tensor {
    let data: Vec<f32> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    Tensor::from_slice(&data).view(shape)
}

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.flatten(0, -1)).expect("f32")
}

/// Python's outputs were taken with one thread; the compiled `roi_align` splits its regions
/// across libtorch's threads (build.rs), so 2 and 3 threads must give the same bits.
#[test]
fn nms_and_roi_align_match_python_torchvision() {
    maskoracle_inference::ops::ensure_registered();
    for threads in [1, 2, 3] {
        tch::set_num_threads(threads);
        check_against_fixture();
    }
}

fn check_against_fixture() {
    let dir = common::crate_dir().join("tests/fixtures");
    let fx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("torchvision_ops.json")).expect("fixture"))
            .expect("json");
    let i = &fx["inputs"];
    let m =
        tch::CModule::load(dir.join("torchvision_ops.pt")).expect("module calling the ops loads");
    let out = m
        .forward_is(&[
            IValue::Tensor(tensor(&i["boxes"], &[200, 4])),
            IValue::Tensor(tensor(&i["scores"], &[200])),
            IValue::Tensor(tensor(&i["feat"], &[2, 4, 32, 40])),
            IValue::Tensor(tensor(&i["rois"], &[12, 5])),
        ])
        .expect("runs");
    let IValue::Tuple(items) = out else {
        panic!("tuple expected")
    };
    let [IValue::Tensor(keep), IValue::Tensor(pooled), IValue::Tensor(pooled2)] = &items[..] else {
        panic!("three tensors expected")
    };
    let keep: Vec<i64> = Vec::try_from(&keep.to_kind(Kind::Int64)).expect("i64");
    let want: Vec<i64> = fx["keep"]
        .as_array()
        .expect("keep")
        .iter()
        .map(|v| v.as_i64().expect("int"))
        .collect();
    assert!(
        want.len() > 20,
        "the fixture suppresses some but not all boxes"
    );
    assert_eq!(keep, want);
    for (got, key) in [(pooled, "pooled"), (pooled2, "pooled_unaligned")] {
        let shape: Vec<i64> = fx[format!("{key}_shape")]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_i64().expect("int"))
            .collect();
        assert_eq!(got.size(), shape);
        let want: Vec<f32> = fx[key]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("f") as f32)
            .collect();
        // Same C++ kernel, same thread count: bitwise equal (JSON keeps f32 values exactly).
        assert_eq!(floats(got), want, "{key}");
    }
}
