// Row-parallel loop on oneTBB. Each row is processed start to finish by one task, so the result of a
// row never depends on how many threads there are or which rows share a thread.
#include "differential_dynamics/batch.hpp"

#include <atomic>

#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace dd {

namespace {
std::atomic<int> requested_threads{0};
}

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
    tbb::task_arena arena(threads);
    arena.execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows, 1), [&](const tbb::blocked_range<std::size_t>& r) {
            for (std::size_t b = r.begin(); b != r.end(); ++b) fn(b);
        });
    });
}

}  // namespace dd
