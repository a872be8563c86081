// Row-parallel loop on oneTBB. Each row is processed start to finish by one task, so the result of a
// row never depends on how many threads there are or which rows share a thread.
#include "differential_dynamics/batch.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace dd {

namespace {
std::atomic<int> requested_threads{0};

/// One arena per thread count, kept for the life of the process. An arena made per call lets its
/// workers go back to the global pool after every call, and a worker joining the next call's new
/// arena took ~0.25 ms here (a third of a one-row forward on two threads, measured with timestamps
/// in the time split); a kept arena's workers come back much sooner (docs/benchmarks.md).
tbb::task_arena& arena_for(int threads) {
    // Never destroyed: an arena torn down among the static destructors at exit could outlive TBB's own.
    static std::mutex mutex;
    static auto* arenas = new std::map<int, std::unique_ptr<tbb::task_arena>>;
    std::lock_guard<std::mutex> lock(mutex);
    auto& arena = (*arenas)[threads];
    if (!arena) arena = std::make_unique<tbb::task_arena>(threads);
    return *arena;
}
}  // namespace

void set_num_threads(int threads) {
    if (threads < 0) throw argument_error("threads", "must be >= 0 (0 = all cores)");
    requested_threads.store(threads);
}

int num_threads() {
    const int n = requested_threads.load();
    return n > 0 ? n : tbb::info::default_concurrency();
}

void parallel_rows(std::size_t rows, const std::function<void(std::size_t)>& fn) {
    const int threads = num_threads();
    if (threads <= 1 || rows <= 1) {
        for (std::size_t b = 0; b < rows; ++b) fn(b);
        return;
    }
    arena_for(threads).execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows, 1), [&](const tbb::blocked_range<std::size_t>& r) {
            for (std::size_t b = r.begin(); b != r.end(); ++b) fn(b);
        });
    });
}

}  // namespace dd
