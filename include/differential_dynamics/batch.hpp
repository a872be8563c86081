// (B, T) views, per-row parameters, argument validation and the row-parallel loop.
// Validation happens here, once, at the edge of the library; the per-row kernels assume valid input.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>

#include "errors.hpp"
#include "simd.hpp"

namespace dd {

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
    bool contiguous() const { return col_stride == 1 && row_stride == std::ptrdiff_t(cols); }
    /// out[k] = at(b, t0 + k) for k < n.
    void copy_row(std::size_t b, std::size_t t0, std::size_t n, T* out) const {
        const T* p = data + std::ptrdiff_t(b) * row_stride + std::ptrdiff_t(t0) * col_stride;
        if (col_stride == 1) {
            std::copy(p, p + n, out);
        } else if (col_stride == 0) {
            std::fill(out, out + n, *p);
        } else {
            for (std::size_t k = 0; k < n; ++k) out[k] = p[std::ptrdiff_t(k) * col_stride];
        }
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

/// Writes a per-row result (a gradient summed over time) where one is wanted (out may be null).
template <class T> void store_row(T* out, std::size_t b, double value) {
    if (out) out[b] = T(value);
}

// ----------------------------------------------------------------------------------------------
// Threads. Rows are independent, so results never depend on the thread count or row grouping.

/// Maximum number of threads the batch functions use (0 = the default: all cores).
void set_num_threads(int threads);
int num_threads();
/// Runs fn(b) for every row b in [0, rows), in parallel over rows.
void parallel_rows(std::size_t rows, const std::function<void(std::size_t)>& fn);

// ----------------------------------------------------------------------------------------------
// Validation helpers: each throws argument_error naming `name`.

namespace detail {
template <class T> std::string describe(T value, std::size_t index, const char* what) {
    std::ostringstream s;
    s << "(got " << value << " at " << what << " " << index << ")";
    return s.str();
}
}  // namespace detail

namespace detail {
/// First index whose value is not finite (or, with Positive, not > 0), or n. The scan is vectorised:
/// a full pass over a large signal costs a small fraction of a nanosecond per sample.
template <bool Positive, class T> std::size_t first_failing(const T* x, std::size_t n) {
    if (simd::all_finite<Positive>(x, n)) return n;  // the fast path: one vectorised scan
    for (std::size_t i = 0; i < n; ++i)
        if (!simd::acceptable<Positive>(x[i])) return i;
    return n;
}
}  // namespace detail

/// The shape and pointer of a signal (the values are checked separately, or by a fused kernel).
template <class T> void check_signal_shape(const signal_view<T>& x, const char* name) {
    if (x.rows == 0 || x.cols == 0) throw argument_error(name, "signal is empty (shape must be (B, T) with B, T >= 1)");
    if (x.data == nullptr) throw argument_error(name, "null data pointer");
}

template <class T> void check_signal(const signal_view<T>& x, const char* name) {
    check_signal_shape(x, name);
    const std::size_t i = detail::first_failing<false>(x.data, x.size());
    if (i < x.size()) throw argument_error(name, "contains NaN or Inf " + detail::describe(x.data[i], i, "flat index"));
}

/// Signal must be finite and strictly positive (a logarithm is taken of it).
template <class T> void check_positive_signal(const signal_view<T>& x, const char* name) {
    check_signal_shape(x, name);
    const std::size_t i = detail::first_failing<true>(x.data, x.size());
    if (i == x.size()) return;
    if (!simd::acceptable<false>(x.data[i]))
        throw argument_error(name, "contains NaN or Inf " + detail::describe(x.data[i], i, "flat index"));
    throw argument_error(name, "must be > 0 because its logarithm is taken " + detail::describe(x.data[i], i, "flat index"));
}

template <class T> void check_output(const signal_span<T>& y, const signal_view<T>& like, const char* name) {
    if (y.data == nullptr || y.rows != like.rows || y.cols != like.cols)
        throw argument_error(name, "output buffer must have the input's shape");
}

template <class T> void check_same_shape(const strided_view<T>& y, const signal_view<T>& like, const char* name) {
    if (y.data == nullptr || y.rows != like.rows || y.cols != like.cols)
        throw argument_error(name, "must have the same shape as the input signal");
}

template <class T> void check_same_shape(const signal_view<T>& y, const signal_view<T>& like, const char* name) {
    if (y.data == nullptr || y.rows != like.rows || y.cols != like.cols)
        throw argument_error(name, "must have the same shape as the input signal");
}

/// Checks a scalar/per-row parameter: right count, finite, and `ok(value)` true for every row.
template <class T, class Pred>
void check_param(const basic_row_param<T>& p, std::size_t rows, const char* name, Pred ok, const char* requirement) {
    if (p.per_row() && p.count() != rows) {
        std::ostringstream s;
        s << "has " << p.count() << " values but the signal has " << rows << " rows (need 1 or one per row)";
        throw argument_error(name, s.str());
    }
    const std::size_t n = p.per_row() ? rows : 1;
    for (std::size_t b = 0; b < n; ++b) {
        const T v = p[b];
        if (!std::isfinite(v)) throw argument_error(name, "is NaN or Inf " + detail::describe(v, b, "row"));
        if (!ok(v)) throw argument_error(name, std::string("must be ") + requirement + " " + detail::describe(v, b, "row"));
    }
}

template <class T> void check_coefficient(const basic_row_param<T>& p, std::size_t rows, const char* name) {
    check_param(p, rows, name, [](T v) { return v > T(0) && v < T(1); }, "in (0, 1)");
}
template <class T> void check_finite_param(const basic_row_param<T>& p, std::size_t rows, const char* name) {
    check_param(p, rows, name, [](T) { return true; }, "finite");
}

}  // namespace dd
