// Operator schemas for the torchvision CPU kernels MaskOracle compiles in.
//
// The kernels themselves are upstream torchvision's (BSD-3-Clause), compiled unchanged from
// `$MASKORACLE_TORCHVISION_SRC/torchvision/csrc/ops/cpu/{nms,roi_align}_kernel.cpp` by
// `inference/build.rs`; they register implementations with `TORCH_LIBRARY_IMPL`. This file
// declares the schemas those implementations attach to. The schemas are the ones a TorchScript
// Mask R-CNN exported by torchvision 0.28 calls (checked by `tests/torchvision_ops.rs`); they are
// written here rather than taken from upstream's `ops/*.cpp` so the set of declared operators is
// exactly the set this crate implements.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(torchvision, m) {
  m.def("torchvision::nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor");
  m.def(
      "torchvision::roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
      "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor");
  m.def(
      "torchvision::_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, "
      "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
      "int sampling_ratio, bool aligned) -> Tensor");
  // Named (not called) by the training branch of torchvision 0.28's box_iou, which TorchScript
  // compiles when the model loads. Declared without a kernel: calling it fails with a clear
  // "no kernel" error, which inference never does.
  m.def("torchvision::box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor");
}

// Referenced from Rust so that the linker keeps this object (and its static registrations)
// even without whole-archive linking. Returns the number of operator schemas declared here.
extern "C" int maskoracle_torchvision_ops_anchor() { return 4; }
