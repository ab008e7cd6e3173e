//===- VectorAccess.h - Vector accesses in generated kernels ----*- C++ -*-===//
//
// qforge-parallel-to-gpu writes a kernel's loop body once per element. A
// thread or lane that reads one f16 at a time keeps few bytes in flight per
// memory access, and a warp whose sum waits on each load reads a row at a
// latency per element. VectorAccesses takes a loop body apart along its
// innermost induction variable: the loads and stores at [..., iv] of
// contiguous, aligned memory become one 16-byte vector access per `width`
// elements, and the body is cloned once per element of the vector.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_PASSES_VECTORACCESS_H
#define QFORGE_PASSES_VECTORACCESS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SetVector.h"

#include <map>
#include <tuple>
#include <vector>

namespace qforge {

/// Widest access a kernel makes (bytes): one 128-bit load or store.
inline constexpr int64_t kVectorBytes = 16;
/// The alignment (bytes) a cuda-target model asks of its memref arguments'
/// start; checked at run time on entry (qforge-parallel-to-gpu).
inline constexpr int64_t kArgumentAlignment = 16;

/// Bytes to which the first element of `memref` (a host value: function
/// argument, gpu.alloc, device constant, or a view of one) is known aligned;
/// 0 when unknown. Function arguments count as kArgumentAlignment.
int64_t knownStartAlignment(mlir::Value memref);

/// Vector loads one kernel has made, for later clones that read the same
/// vector: keyed by memref, leading indices, width and the element offset
/// of the vector's base that the caller names (the same base expression in
/// every clone that uses the key).
class VectorLoadCache {
public:
  mlir::Value lookup(mlir::Value memref, mlir::ValueRange leading,
                     int64_t width, int64_t offset) const;
  void insert(mlir::Value memref, mlir::ValueRange leading, int64_t width,
              int64_t offset, mlir::Value vector);

private:
  using Key =
      std::tuple<const void *, std::vector<const void *>, int64_t, int64_t>;
  static Key keyOf(mlir::Value memref, mlir::ValueRange leading, int64_t width,
                   int64_t offset);
  std::map<Key, mlir::Value> loads;
};

/// What emit may reuse: loads of `cache` at the bases' `offsets`, for the
/// memrefs `reusable` accepts (nothing in the kernel writes them).
struct SharedLoads {
  VectorLoadCache &cache;
  llvm::ArrayRef<int64_t> offsets;
  llvm::function_ref<bool(mlir::Value)> reusable;
};

/// The vectorizable accesses of one loop body along its induction variable.
class VectorAccesses {
public:
  /// Clones one op of the body into `at` with `map` (the caller's handling
  /// of the ops that are not vectorized accesses).
  using CloneFn = llvm::function_ref<void(
      mlir::OpBuilder &at, mlir::Operation &op, mlir::IRMapping &map)>;

  /// Finds the loads and stores of `body` (a flat block: no op with
  /// regions) at [leading..., iv] on memrefs with a static shape, identity
  /// layout and known start alignment, whose leading indices are available
  /// before the body (defined outside it, or other induction variables of
  /// it). width() is then the elements per 16-byte vector of the widest
  /// element type, halved until it divides every taken memref's last
  /// dimension; accesses that cannot take that width stay scalar. width()
  /// is 1 when nothing is taken.
  VectorAccesses(mlir::Block &body, mlir::Value iv);

  int64_t width() const { return vectorWidth; }
  /// Function arguments some taken access assumes kArgumentAlignment-aligned.
  llvm::ArrayRef<mlir::BlockArgument> assumedArguments() const {
    return assumed.getArrayRef();
  }

  /// Emits the body for `width()` consecutive values of iv from each of
  /// `bases` (each a multiple of width()): first every vector load of every
  /// base (independent loads in flight together), then per base and element
  /// k a clone of the body with iv = base + k, taken loads replaced by
  /// element k of their vector, taken stores gathered into one vector store
  /// per base. `outer` maps the body's other values (the leading indices
  /// among them). Returns the mapping of each clone, base-major.
  /// With `shared`, a load whose vector is in its cache is not made again
  /// (it must dominate this code), and the loads made are added to it.
  llvm::SmallVector<mlir::IRMapping>
  emit(mlir::OpBuilder &b, mlir::Location loc,
       llvm::ArrayRef<mlir::Value> bases, const mlir::IRMapping &outer,
       CloneFn cloneOne, const SharedLoads *shared = nullptr) const;

private:
  mlir::Block *body = nullptr;
  mlir::Value iv;
  int64_t vectorWidth = 1;
  llvm::SetVector<mlir::Operation *> taken; // memref.load / memref.store
  llvm::SetVector<mlir::BlockArgument> assumed;
};

} // namespace qforge

#endif // QFORGE_PASSES_VECTORACCESS_H
