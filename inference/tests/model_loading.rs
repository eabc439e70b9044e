//! Model directories: manifest, sha256 check, torchvision operators, both output kinds.

mod common;

use maskoracle_inference::{Model, ModelError, Segmenter, Status};

#[test]
fn scripted_maskrcnn_loads_and_runs_with_compiled_torchvision_ops() {
    let model = Model::load(common::tiny_instance()).expect("tiny Mask R-CNN loads");
    let seg = Segmenter::new(model);
    let photo =
        std::fs::read(common::crate_dir().join("tests/data/photos/chelsea.png")).expect("photo");
    let s = seg.segment(&photo);
    assert_eq!(s.result.status, Status::Ok, "{:?}", s.error);
    assert_eq!((s.result.width, s.result.height), (320, 213));
    // The random model with score threshold 0 reports detections: nms and roi_align ran.
    assert!(!s.result.detections.is_empty());
    // Repeated runs in one process give the same bytes.
    assert_eq!(seg.segment(&photo).result.encode(), s.result.encode());
    let overlay = seg.overlay(&s).expect("overlay");
    assert_eq!(overlay.dimensions(), (320, 213));
    assert_ne!(
        overlay.as_raw(),
        s.working.as_ref().expect("working").as_raw()
    );
}

#[test]
fn semantic_model_runs_through_connected_components() {
    let seg = Segmenter::new(Model::load(common::tiny_semantic()).expect("loads"));
    let photo =
        std::fs::read(common::crate_dir().join("tests/data/photos/coffee.png")).expect("photo");
    let s = seg.segment(&photo);
    assert_eq!(s.result.status, Status::Ok, "{:?}", s.error);
    for d in &s.result.detections {
        assert!((1..4).contains(&d.label));
        assert!(d.mask.area >= maskoracle_inference::postprocess::SEMANTIC_MIN_AREA);
    }
}

#[test]
fn model_file_with_wrong_sha256_is_refused() {
    let dir = std::env::temp_dir().join(format!("mo-badsha-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    std::fs::copy(
        common::tiny_semantic().join("manifest.json"),
        dir.join("manifest.json"),
    )
    .expect("copy");
    let mut pt = std::fs::read(common::tiny_semantic().join("model.pt")).expect("read");
    let last = pt.len() - 1;
    pt[last] ^= 1;
    std::fs::write(dir.join("model.pt"), pt).expect("write");
    let err = Model::load(&dir).expect_err("refused");
    assert!(matches!(err, ModelError::Sha256Mismatch { .. }), "{err}");
    std::fs::write(dir.join("manifest.json"), b"{\"format\": 2}").expect("write");
    assert!(matches!(
        Model::load(&dir).expect_err("refused"),
        ModelError::Manifest { .. }
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn model_loads_from_the_pt_path_too() {
    let m = Model::load(common::tiny_semantic().join("model.pt")).expect("loads");
    assert_eq!(m.manifest().name, "tiny-semantic");
}

#[test]
fn warm_up_leaves_results_unchanged() {
    let scene = std::fs::read(common::scenes_dir().join("scene_9001_0000.png")).expect("scene");
    let cold = Segmenter::new(Model::load(common::shipped_instance()).expect("loads"));
    let warmed = Segmenter::new(Model::load(common::shipped_instance()).expect("loads"));
    warmed.warm_up().expect("warm-up runs");
    let a = cold.segment(&scene);
    let b = warmed.segment(&scene);
    assert_eq!(a.result.status, Status::Ok, "{:?}", a.error);
    assert!(!a.result.detections.is_empty());
    assert_eq!(a.result.encode(), b.result.encode());
    // And the cold one, now past its own profiling runs, still agrees.
    cold.segment(&scene);
    assert_eq!(cold.segment(&scene).result.encode(), a.result.encode());
}
