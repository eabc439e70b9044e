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
      "torchvision::roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, int sampling_ratio, bool aligned) -> Tensor");
  m.def(
      "torchvision::_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, "
      "int pooled_height, int pooled_width, int batch_size, int channels, int height, int width, "
      "int sampling_ratio, bool aligned) -> Tensor");
}

// Referenced from Rust so that the linker keeps this object (and its static registrations)
// even without whole-archive linking. Returns the number of operator schemas declared here.
extern "C" int maskoracle_torchvision_ops_anchor() { return 3; }
