// Core types of the public API: (rows × time) signal views, per-row parameters, the error type, the
// block-processing spec of the streaming processors, threads and the SIMD level in use.
// Reference: docs/reference/core.md.
#pragma once
#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace dd {

/// The library's version, "major.minor.patch" (CHANGELOG.md).
inline constexpr const char* version = "0.2.0";

/// Thrown for invalid input (bad value, shape, range). `argument()` is the offending argument's name,
/// and what() starts with it, e.g. "comp_ratio: must be > 1 (got 0.5 at row 2)".
class argument_error : public std::invalid_argument {
public:
    argument_error(std::string argument, const std::string& problem)
        : std::invalid_argument(argument + ": " + problem), argument_(std::move(argument)) {}
    const std::string& argument() const noexcept { return argument_; }

private:
    std::string argument_;
};

/// Read-only row-major (rows × cols) signal.
template <class T> struct signal_view {
    const T* data = nullptr;
    std::size_t rows = 0, cols = 0;
    const T* row(std::size_t b) const { return data + b * cols; }
    std::size_t size() const { return rows * cols; }
};

/// Writable row-major (rows × cols) signal.
template <class T> struct signal_span {
    T* data = nullptr;
    std::size_t rows = 0, cols = 0;
    T* row(std::size_t b) const { return data + b * cols; }
    operator signal_view<T>() const { return {data, rows, cols}; }
};

/// Read-only (rows × cols) signal with arbitrary element strides (in elements, may be 0 or negative):
/// an upstream gradient that is a broadcast (e.g. of y.sum()) is passed without materialising it.
template <class T> struct strided_view {
    const T* data = nullptr;
    std::size_t rows = 0, cols = 0;
    std::ptrdiff_t row_stride = 0, col_stride = 1;
    strided_view() = default;
    strided_view(const T* d, std::size_t r, std::size_t c)  // contiguous, like signal_view
        : data(d), rows(r), cols(c), row_stride(std::ptrdiff_t(c)), col_stride(1) {}
    strided_view(const T* d, std::size_t r, std::size_t c, std::ptrdiff_t rs, std::ptrdiff_t cs)
        : data(d), rows(r), cols(c), row_stride(rs), col_stride(cs) {}
    strided_view(const signal_view<T>& v)  // NOLINT: implicit on purpose
        : data(v.data), rows(v.rows), cols(v.cols), row_stride(std::ptrdiff_t(v.cols)), col_stride(1) {}
    T at(std::size_t b, std::size_t t) const { return data[std::ptrdiff_t(b) * row_stride + std::ptrdiff_t(t) * col_stride]; }
    /// out[k] = at(b, t0 + k) for k < n.
    void copy_row(std::size_t b, std::size_t t0, std::size_t n, T* out) const {
        const T* p = data + std::ptrdiff_t(b) * row_stride + std::ptrdiff_t(t0) * col_stride;
        for (std::size_t k = 0; k < n; ++k) out[k] = p[std::ptrdiff_t(k) * col_stride];
    }
};

/// A parameter that is either one scalar for all rows or one value per row. Use it as row_param<T>.
template <class T> class basic_row_param {
public:
    basic_row_param(T value) : values_(nullptr), value_(value), count_(1) {}  // NOLINT: implicit on purpose
    basic_row_param(const T* per_row, std::size_t count) : values_(per_row), value_(T(0)), count_(count) {}
    T operator[](std::size_t b) const { return values_ ? values_[b] : value_; }
    bool per_row() const { return values_ != nullptr; }
    std::size_t count() const { return count_; }

private:
    const T* values_;
    T value_;
    std::size_t count_;
};

template <class T> struct nondeduced { using type = T; };
/// row_param<T> in a function's parameter list does not take part in template argument deduction, so
/// `dd::compexp_gain(x, curve, 0.05, 0.01, y)` accepts plain numbers: T comes from the signal.
template <class T> using row_param = typename nondeduced<basic_row_param<T>>::type;
/// A strided_view parameter that also accepts a signal_view (T comes from the other arguments).
template <class T> using strided_arg = typename nondeduced<strided_view<T>>::type;

/// Initial state of a batch call (`zi`): `state_size` doubles per row, row-major, or null for the
/// processor's documented initial state. States are float64 for float32 signals too (the smoothers'
/// state is carried in double: docs/reference/numerics.md).
struct state_in {
    const double* data = nullptr;
    state_in() = default;
    state_in(const double* d) : data(d) {}  // NOLINT: implicit on purpose
};
/// Where a batch call writes its final state (`state_size` doubles per row), or null for none.
struct state_out {
    double* data = nullptr;
    state_out() = default;
    state_out(double* d) : data(d) {}  // NOLINT: implicit on purpose
};

// ------------------------------------------------------------------------------------------------
// Streaming processors

/// What a streaming processor is prepared for: sample rate (Hz), channel count and the largest block
/// it will be given without splitting it (a longer block is processed in pieces of this size).
struct process_spec {
    double fs = 44100.0;
    std::size_t channels = 1;
    std::size_t max_block = 4096;
};

// ------------------------------------------------------------------------------------------------
// Threads. Rows are independent, so results never depend on the thread count or on row grouping.

/// The largest thread count set_num_threads accepts.
inline constexpr int max_threads = 1024;
/// Threads the batch functions use, parallel over rows: 0 = the default (every core the process
/// may use), 1 … max_threads otherwise. Throws argument_error("threads") outside [0, max_threads].
/// Streaming processors always run on the calling thread.
void set_num_threads(int threads);
/// The thread count in effect (the default resolved).
int num_threads();

// ------------------------------------------------------------------------------------------------
// SIMD. One build runs on every x86-64 CPU: the kernels are compiled for several instruction sets
// and the best one the CPU supports is chosen at run time. Every level gives the same forward
// results bit for bit (docs/reference/numerics.md).

enum class simd_level { baseline, avx2, avx512 };
/// The level the kernels run at. Chosen at first use: the best the CPU supports, or the one named
/// by the environment variable DD_SIMD ("baseline", "avx2", "avx512") if the CPU supports it.
simd_level active_simd_level();
/// "baseline", "avx2" or "avx512".
const char* simd_level_name(simd_level level);
/// Whether this build has kernels for `level` and the CPU can run them.
bool simd_level_supported(simd_level level);
/// Switches the kernels (for tests and benchmarks); throws argument_error("level") if unsupported.
/// Not to be called while another thread runs the library.
void set_simd_level(simd_level level);

}  // namespace dd
