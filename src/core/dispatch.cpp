// Run-time choice of the kernels: the best instruction set the CPU (and the OS, which must save the
// wide registers) supports, or the one the environment variable DD_SIMD names.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/kernels.hpp"
#include "core/work_memory.hpp"
#include "differential_dynamics/core.hpp"

namespace dd {

namespace {

const detail::kernel_table* table_of(simd_level level) {
    switch (level) {
    case simd_level::baseline:
        return detail::kernel_table_baseline();
    case simd_level::avx2:
#ifdef DD_HAVE_AVX2_KERNELS
        return detail::kernel_table_avx2();
#else
        return nullptr;
#endif
    case simd_level::avx512:
#ifdef DD_HAVE_AVX512_KERNELS
        return detail::kernel_table_avx512();
#else
        return nullptr;
#endif
    }
    return nullptr;
}

bool cpu_supports(simd_level level) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    switch (level) {
    case simd_level::baseline:
        return true;
    case simd_level::avx2:  // x86-64-v3
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    case simd_level::avx512:  // x86-64-v4
        return cpu_supports(simd_level::avx2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl");
    }
    return false;
#else
    return level == simd_level::baseline;
#endif
}

std::atomic<const detail::kernel_table*> active{nullptr};

const detail::kernel_table* choose() {
    if (const char* env = std::getenv("DD_SIMD"); env && *env) {
        for (simd_level level : {simd_level::baseline, simd_level::avx2, simd_level::avx512})
            if (std::strcmp(env, simd_level_name(level)) == 0 && simd_level_supported(level)) return table_of(level);
        // An unknown or unsupported name falls through to the best level (the library cannot throw
        // from here on every call; tests that need a level check active_simd_level()).
    }
    for (simd_level level : {simd_level::avx512, simd_level::avx2})
        if (simd_level_supported(level)) return table_of(level);
    return table_of(simd_level::baseline);
}

}  // namespace

const char* simd_level_name(simd_level level) {
    switch (level) {
    case simd_level::baseline:
        return "baseline";
    case simd_level::avx2:
        return "avx2";
    case simd_level::avx512:
        return "avx512";
    }
    return "unknown";
}

bool simd_level_supported(simd_level level) {
    // The CPU first: a table of another instruction set is built by code of that instruction set.
    if (!cpu_supports(level)) return false;
    switch (level) {
    case simd_level::baseline:
        return true;
    case simd_level::avx2:
#ifdef DD_HAVE_AVX2_KERNELS
        return true;
#else
        return false;
#endif
    case simd_level::avx512:
#ifdef DD_HAVE_AVX512_KERNELS
        return true;
#else
        return false;
#endif
    }
    return false;
}

simd_level active_simd_level() { return detail::kernels().level; }

void set_simd_level(simd_level level) {
    if (!simd_level_supported(level))
        throw argument_error("level", std::string("SIMD level \"") + simd_level_name(level) +
                                          "\" is not supported by this CPU or build");
    active.store(table_of(level));
}

namespace detail {

void* thread_work_memory(std::size_t bytes) {
    struct alignas(64) line {
        unsigned char bytes[64];
    };
    thread_local std::vector<line> memory;
    const std::size_t lines = (bytes + 63) / 64;
    if (memory.size() < lines) memory.resize(lines);
    return memory.data();
}

template <class T> std::size_t max_compexp_work_size(std::size_t cols) {
    std::size_t bytes = 0;
    for (simd_level level : {simd_level::baseline, simd_level::avx2, simd_level::avx512})
        if (simd_level_supported(level)) bytes = std::max(bytes, table_of(level)->get<T>().compexp_work_size(cols));
    return bytes;
}
template std::size_t max_compexp_work_size<float>(std::size_t);
template std::size_t max_compexp_work_size<double>(std::size_t);

const kernel_table& kernels() {
    const kernel_table* t = active.load(std::memory_order_acquire);
    if (!t) {
        t = choose();
        active.store(t, std::memory_order_release);
    }
    return *t;
}
}  // namespace detail

}  // namespace dd
