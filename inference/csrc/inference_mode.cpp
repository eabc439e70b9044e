// c10::InferenceMode for Rust callers: tch exposes autograd's no-grad mode but not inference
// mode, which also skips version-counter and view tracking on every tensor the model creates.
#include <c10/core/InferenceMode.h>

// Enters inference mode on the calling thread; returns the guard to pass to
// maskoracle_inference_mode_exit on the same thread (guards nest and must be left in reverse
// order). Returns null if the guard could not be created.
extern "C" void* maskoracle_inference_mode_enter() {
  try {
    return new c10::InferenceMode(true);
  } catch (...) {
    return nullptr;
  }
}

// Leaves the inference mode entered by the matching maskoracle_inference_mode_enter.
extern "C" void maskoracle_inference_mode_exit(void* guard) {
  delete static_cast<c10::InferenceMode*>(guard);
}
