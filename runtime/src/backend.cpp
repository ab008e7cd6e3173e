//===- backend.cpp - defaults of the backend interface --------------------===//

#include "backend.h"

namespace qforge::rt {

namespace {
qforge_status needsCuda(const char *what) {
  return fail(QFORGE_ERR_UNSUPPORTED,
              "%s needs a cuda context: this model was compiled for the cuda "
              "target (run it with --device cuda, or compile it with "
              "--target cpu)",
              what);
}
} // namespace

qforge_status Backend::kernel(uint64_t, const void *, const char *, void **) {
  return needsCuda("a generated GPU kernel");
}
qforge_status Backend::launch(void *, const int64_t[3], const int64_t[3],
                              int32_t, void **) {
  return needsCuda("a kernel launch");
}
qforge_status Backend::allocAsync(int64_t bytes, void **out) {
  return alloc(bytes, out);
}
qforge_status Backend::releaseAsync(void *ptr) { return release(ptr); }
qforge_status Backend::copyAny(void *dst, const void *src, int64_t bytes) {
  return copyOnDevice(dst, src, bytes);
}
bool Backend::isDevicePointer(const void *) const { return false; }

} // namespace qforge::rt
