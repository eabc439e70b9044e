//! Build script of `maskoracle-inference`.
//!
//! 1. Embeds an rpath to libtorch so binaries and tests run without `LD_LIBRARY_PATH`.
//! 2. Compiles torchvision's `nms` and `roi_align` CPU kernels (upstream C++, BSD-3-Clause) from
//!    `$MASKORACLE_TORCHVISION_SRC` (written by `scripts/setup`) together with this crate's schema
//!    file `csrc/torchvision_ops.cpp`, and links them whole-archive so that their static
//!    `TORCH_LIBRARY` registrations run when the process starts: a scripted torchvision
//!    Mask R-CNN then loads with `tch::CModule::load`.
//! 3. One change to upstream's `roi_align` forward kernel, applied here to a copy in `OUT_DIR`:
//!    its loop over regions (upstream comments that it "can be parallelized") runs under
//!    `at::parallel_for`. Each region's output is computed by the same code from the same
//!    inputs whichever thread runs it, so results are bit-identical to upstream's serial loop
//!    at any thread count (`tests/torchvision_ops.rs`, `tests/determinism.rs`).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=MASKORACLE_TORCHVISION_SRC");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=csrc/torchvision_ops.cpp");
    println!("cargo:rerun-if-changed=csrc/profile.cpp");
    println!("cargo:rerun-if-changed=csrc/inference_mode.cpp");

    let libtorch = PathBuf::from(
        std::env::var("LIBTORCH")
            .expect("LIBTORCH is not set: run scripts/setup and source .toolchain/env.sh"),
    );
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}/lib", libtorch.display());

    let vision = PathBuf::from(std::env::var("MASKORACLE_TORCHVISION_SRC").expect(
        "MASKORACLE_TORCHVISION_SRC is not set: run scripts/setup and source .toolchain/env.sh",
    ));
    let cpu = vision.join("torchvision/csrc/ops/cpu");
    let upstream = [cpu.join("nms_kernel.cpp"), cpu.join("roi_align_kernel.cpp")];
    for k in &upstream {
        assert!(k.is_file(), "missing torchvision source {}", k.display());
        println!("cargo:rerun-if-changed={}", k.display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let roi_align = out.join("roi_align_kernel.cpp");
    let source = std::fs::read_to_string(&upstream[1]).expect("read roi_align_kernel.cpp");
    std::fs::write(&roi_align, parallel_roi_align(&source)).expect("write roi_align_kernel.cpp");
    let kernels = [upstream[0].clone(), roi_align];
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());

    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .files(&kernels)
        .file("csrc/torchvision_ops.cpp")
        .file("csrc/profile.cpp")
        .file("csrc/inference_mode.cpp")
        .include(libtorch.join("include"))
        .include(libtorch.join("include/torch/csrc/api/include"))
        .include(vision.join("torchvision/csrc"))
        .include(&cpu)
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .define("GLOG_USE_GLOG_EXPORT", None)
        // ATen's parallel_for is inline OpenMP (libtorch is built with AT_PARALLEL_OPENMP):
        // without -fopenmp the patched roi_align loop would silently stay serial.
        .flag("-fopenmp")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-sign-compare")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false)
        .opt_level(2)
        .cargo_metadata(false)
        .compile("maskoracle_tvops");

    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static:-bundle,+whole-archive=maskoracle_tvops");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    // The OpenMP runtime libtorch ships and already loads (one runtime, one thread pool); a
    // libtorch without a bundled one uses the compiler's.
    if libtorch.join("lib/libgomp.so.1").is_file() {
        println!("cargo:rustc-link-search=native={}/lib", libtorch.display());
        println!("cargo:rustc-link-lib=dylib:+verbatim=libgomp.so.1");
    } else {
        println!("cargo:rustc-link-arg=-fopenmp");
    }
}

/// Upstream's `roi_align_forward_kernel_impl` with its loop over regions split across
/// libtorch's intra-op threads. Panics (failing the build) if upstream's text is not the one
/// this change was written for.
fn parallel_roi_align(source: &str) -> String {
    const LOOP: &str = "  for (int n = 0; n < n_rois; n++) {\n    int index_n";
    const PARALLEL: &str =
        "  at::parallel_for(0, n_rois, 1, [&](int64_t n_begin, int64_t n_end) {\n  \
                            for (int n = n_begin; n < n_end; n++) {\n    int index_n";
    const END: &str =
        "  } // for n\n}\n\ntemplate <typename T>\nvoid bilinear_interpolate_gradient";
    const PARALLEL_END: &str = "  } // for n\n  });\n}\n\ntemplate <typename T>\n\
                                void bilinear_interpolate_gradient";
    for needle in [LOOP, END] {
        assert_eq!(
            source.matches(needle).count(),
            1,
            "torchvision's roi_align_kernel.cpp changed: {needle:?} is not found exactly once"
        );
    }
    format!(
        "// Generated by inference/build.rs from torchvision's roi_align_kernel.cpp \
         (BSD-3-Clause):\n// the forward loop over regions runs under at::parallel_for.\n\
         #include <ATen/Parallel.h>\n{}",
        source.replace(LOOP, PARALLEL).replace(END, PARALLEL_END)
    )
}
