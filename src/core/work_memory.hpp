// Work memory of the kernels: per thread for the batch functions (grown, never shrunk: no allocation
// after the first call of a size), and the size a streaming processor reserves in prepare().
#pragma once
#include <cstddef>
#include <cstdint>

namespace dd::detail {

/// At least `bytes` bytes, 64-byte aligned, owned by the calling thread (valid until its next call).
void* thread_work_memory(std::size_t bytes);

/// p rounded up to a multiple of 64 bytes (for memory allocated 64 bytes larger than needed).
inline void* align64(void* p) {
    const std::uintptr_t a = (reinterpret_cast<std::uintptr_t>(p) + 63) & ~std::uintptr_t(63);
    return reinterpret_cast<void*>(a);
}

/// The compexp forward's work memory over every SIMD level this build and CPU support, so that a
/// processor prepared at one level still has enough after set_simd_level.
template <class T> std::size_t max_compexp_work_size(std::size_t cols);

}  // namespace dd::detail
