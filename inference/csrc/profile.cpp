// Small C entry points that report parts of the execution profile libtorch does not expose
// through tch: the CPU code path ATen dispatched to and the libtorch version compiled against.
#include <ATen/Context.h>
#include <ATen/Version.h>
#include <torch/headeronly/version.h>

#include <cstring>
#include <string>

namespace {
size_t copy_out(const std::string& s, char* buf, size_t len) {
  if (buf != nullptr && len > 0) {
    size_t n = s.size() < len - 1 ? s.size() : len - 1;
    std::memcpy(buf, s.data(), n);
    buf[n] = '\0';
  }
  return s.size();
}
}  // namespace

// Writes ATen's CPU capability ("DEFAULT", "AVX2", "AVX512", ...) into buf (NUL-terminated,
// truncated to len - 1 bytes); returns the full length. Never throws.
extern "C" size_t maskoracle_cpu_capability(char* buf, size_t len) {
  try {
    return copy_out(at::get_cpu_capability(), buf, len);
  } catch (...) {
    return copy_out("UNKNOWN", buf, len);
  }
}

// The libtorch version this crate was compiled against, as major * 10000 + minor * 100 + patch.
extern "C" int maskoracle_torch_version() {
  return TORCH_VERSION_MAJOR * 10000 + TORCH_VERSION_MINOR * 100 + TORCH_VERSION_PATCH;
}

// Whether ATen may route convolutions (and other ops) to oneDNN: the pinned numerics profile
// turns it off, so that convolutions run as im2col + MKL GEMM under MKL's strict reproducible
// mode (oneDNN picks kernels by thread count and CPU; see numerics.rs).
extern "C" void maskoracle_set_onednn_enabled(int enabled) {
  try {
    at::globalContext().setUserEnabledMkldnn(enabled != 0);
  } catch (...) {
  }
}

// 1 when ATen may use oneDNN, 0 when it may not.
extern "C" int maskoracle_onednn_enabled() {
  try {
    return at::globalContext().userEnabledMkldnn() ? 1 : 0;
  } catch (...) {
    return -1;
  }
}
