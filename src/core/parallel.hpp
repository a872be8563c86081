// The batch layer's helpers: the row-parallel loop (TBB, src/core/threads.cpp) and per-row outputs.
#pragma once
#include <cstddef>
#include <functional>

namespace dd {

namespace detail {
/// Runs fn(i) for every i in [0, count), in parallel on up to num_threads() threads. Each i runs on
/// one thread from start to end, so a row's result never depends on the threads or on its neighbours.
void parallel_for(std::size_t count, const std::function<void(std::size_t)>& fn);
}  // namespace detail

/// Writes a per-row result (a gradient summed over time) where one is wanted (out may be null).
template <class T> void store_row(T* out, std::size_t b, double value) {
    if (out) out[b] = T(value);
}

}  // namespace dd
