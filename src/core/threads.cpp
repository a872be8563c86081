// Row-parallel loop on oneTBB. Each row (or group of rows) is processed start to finish by one task,
// so the result of a row never depends on how many threads there are or which rows share a thread.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "core/parallel.hpp"
#include "differential_dynamics/core.hpp"

namespace dd {

namespace {
std::atomic<int> requested_threads{0};

/// One arena per thread count, kept for the life of the process (a worker joins a kept arena much
/// sooner than a new one). Never destroyed: an arena torn down among the static destructors at exit
/// could outlive TBB's own state.
tbb::task_arena& arena_for(int threads) {
    static std::mutex mutex;
    static auto* arenas = new std::map<int, std::unique_ptr<tbb::task_arena>>;
    static auto* limit = new std::unique_ptr<tbb::global_control>;
    static int limit_value = 0;
    std::lock_guard<std::mutex> lock(mutex);
    auto& arena = (*arenas)[threads];
    if (!arena) {
        // More threads than cores were asked for: TBB's global limit would cap the arena at the core
        // count, so it is raised (the threads then share the cores, with the same results). Only
        // one limit is kept: with several, TBB obeys the smallest.
        if (threads > tbb::info::default_concurrency() && threads > limit_value) {
            limit->reset();
            *limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                           static_cast<std::size_t>(threads));
            limit_value = threads;
        }
        arena = std::make_unique<tbb::task_arena>(threads);
    }
    return *arena;
}
}  // namespace

void set_num_threads(int threads) {
    if (threads < 0 || threads > max_threads)
        throw argument_error("threads", "must be in [0, " + std::to_string(max_threads) +
                                            "] (0 = every core), got " + std::to_string(threads));
    requested_threads.store(threads);
}

int num_threads() {
    const int n = requested_threads.load();
    return n > 0 ? n : tbb::info::default_concurrency();
}

namespace detail {

void parallel_for(std::size_t count, const std::function<void(std::size_t)>& fn) {
    const int threads = num_threads();
    if (threads <= 1 || count <= 1) {
        for (std::size_t i = 0; i < count; ++i) fn(i);
        return;
    }
    arena_for(threads).execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, count, 1), [&](const tbb::blocked_range<std::size_t>& r) {
            for (std::size_t i = r.begin(); i != r.end(); ++i) fn(i);
        });
    });
}

}  // namespace detail
}  // namespace dd
