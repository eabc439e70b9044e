//! Build script of `maskoracle-inference`.
//!
//! 1. Embeds an rpath to libtorch so binaries and tests run without `LD_LIBRARY_PATH`.
//! 2. Compiles torchvision's `nms` and `roi_align` CPU kernels (upstream C++, BSD-3-Clause) from
//!    `$MASKORACLE_TORCHVISION_SRC` (written by `scripts/setup`) together with this crate's schema
//!    file `csrc/torchvision_ops.cpp`, and links them whole-archive so that their static
//!    `TORCH_LIBRARY` registrations run when the process starts: a scripted torchvision
//!    Mask R-CNN then loads with `tch::CModule::load`.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=MASKORACLE_TORCHVISION_SRC");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=csrc/torchvision_ops.cpp");
    println!("cargo:rerun-if-changed=csrc/profile.cpp");

    let libtorch = PathBuf::from(
        std::env::var("LIBTORCH")
            .expect("LIBTORCH is not set: run scripts/setup and source .toolchain/env.sh"),
    );
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}/lib", libtorch.display());

    let vision = PathBuf::from(std::env::var("MASKORACLE_TORCHVISION_SRC").expect(
        "MASKORACLE_TORCHVISION_SRC is not set: run scripts/setup and source .toolchain/env.sh",
    ));
    let cpu = vision.join("torchvision/csrc/ops/cpu");
    let kernels = [cpu.join("nms_kernel.cpp"), cpu.join("roi_align_kernel.cpp")];
    for k in &kernels {
        assert!(k.is_file(), "missing torchvision source {}", k.display());
        println!("cargo:rerun-if-changed={}", k.display());
    }
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());

    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .files(&kernels)
        .file("csrc/torchvision_ops.cpp")
        .file("csrc/profile.cpp")
        .include(libtorch.join("include"))
        .include(libtorch.join("include/torch/csrc/api/include"))
        .include(vision.join("torchvision/csrc"))
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .define("GLOG_USE_GLOG_EXPORT", None)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-sign-compare")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false)
        .opt_level(2)
        .cargo_metadata(false)
        .compile("maskoracle_tvops");

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static:-bundle,+whole-archive=maskoracle_tvops");
    println!("cargo:rustc-link-lib=dylib=stdc++");
}
