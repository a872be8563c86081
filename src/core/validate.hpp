// Argument validation at the edge of the library: every check throws argument_error naming the
// argument of the function the user called. Kernels assume validated input.
#pragma once
#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>
#include <string>

#include "differential_dynamics/core.hpp"
#include "differential_dynamics/curve.hpp"
#include "simd/simd.hpp"

DD_ARCH_BEGIN

namespace validation {
template <class T> std::string describe(T value, std::size_t index, const char* what) {
    std::ostringstream s;
    s.precision(std::numeric_limits<T>::max_digits10);
    s << "(got " << value << " at " << what << " " << index << ")";
    return s.str();
}

/// First index whose value is not finite (or, with Positive, not > 0), or n. Vectorised: a full
/// pass over a large signal costs a small fraction of a nanosecond per sample.
template <bool Positive, class T> std::size_t first_failing(const T* x, std::size_t n) {
    if (simd::all_finite<Positive>(x, n)) return n;
    for (std::size_t i = 0; i < n; ++i)
        if (!simd::acceptable<Positive>(x[i])) return i;
    return n;
}
}  // namespace validation

/// The shape and pointer of a signal (the values are checked separately, or by a fused kernel).
template <class T> void check_signal_shape(const signal_view<T>& x, const char* name) {
    if (x.rows == 0 || x.cols == 0)
        throw argument_error(name, "signal is empty (shape must be (B, T) with B, T >= 1)");
    if (x.data == nullptr) throw argument_error(name, "null data pointer");
}

template <class T> void check_signal(const signal_view<T>& x, const char* name) {
    check_signal_shape(x, name);
    const std::size_t i = validation::first_failing<false>(x.data, x.size());
    if (i < x.size()) throw argument_error(name, "contains NaN or Inf " + validation::describe(x.data[i], i, "flat index"));
}

/// Signal must be finite and strictly positive (a logarithm is taken of it).
template <class T> void check_positive_signal(const signal_view<T>& x, const char* name) {
    check_signal_shape(x, name);
    const std::size_t i = validation::first_failing<true>(x.data, x.size());
    if (i == x.size()) return;
    if (!simd::acceptable<false>(x.data[i]))
        throw argument_error(name, "contains NaN or Inf " + validation::describe(x.data[i], i, "flat index"));
    throw argument_error(name, "must be > 0 because its logarithm is taken " + validation::describe(x.data[i], i, "flat index"));
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
        if (!std::isfinite(v)) throw argument_error(name, "is NaN or Inf " + validation::describe(v, b, "row"));
        if (!ok(v)) throw argument_error(name, std::string("must be ") + requirement + " " + validation::describe(v, b, "row"));
    }
}

template <class T> void check_coefficient(const basic_row_param<T>& p, std::size_t rows, const char* name) {
    check_param(p, rows, name, [](T v) { return v > T(0) && v < T(1); }, "in (0, 1)");
}
template <class T> void check_finite_param(const basic_row_param<T>& p, std::size_t rows, const char* name) {
    check_param(p, rows, name, [](T) { return true; }, "finite");
}
// The bounds of curve.hpp (max_threshold_db, max_knee_db, max_gate_k), the same in every function.
template <class T> void check_threshold_param(const basic_row_param<T>& p, std::size_t rows, const char* name) {
    check_param(p, rows, name, [](T v) { return std::abs(double(v)) <= max_threshold_db; }, "within +-1e4 dB");
}
template <class T> void check_knee_param(const basic_row_param<T>& p, std::size_t rows, const char* name) {
    check_param(p, rows, name, [](T v) { return v >= T(0) && double(v) <= max_knee_db; }, "in [0, 1000] dB");
}
template <class T> void check_gate_k_param(const basic_row_param<T>& p, std::size_t rows, const char* name) {
    check_param(p, rows, name, [](T v) { return v > T(0) && double(v) <= max_gate_k; }, "in (0, 1e6] (1/dB)");
}

/// A batch call's initial state (`per_row` doubles per row), if given: finite, and `ok` for each value.
template <class Pred>
void check_state(const state_in& zi, std::size_t rows, std::size_t per_row, const char* name, Pred ok,
                 const char* requirement) {
    if (!zi.data) return;
    for (std::size_t i = 0; i < rows * per_row; ++i) {
        const double v = zi.data[i];
        if (!std::isfinite(v)) throw argument_error(name, "is NaN or Inf " + validation::describe(v, i, "flat index"));
        if (!ok(v, i % per_row))
            throw argument_error(name, std::string("must be ") + requirement + " " + validation::describe(v, i, "flat index"));
    }
}

// Settings of the streaming processors (doubles; errors name the field).
inline std::string setting_value(double v) {
    std::ostringstream s;
    s.precision(17);
    s << "(got " << v << ")";
    return s.str();
}
inline void check_finite_setting(double v, const char* name) {
    if (!std::isfinite(v)) throw argument_error(name, "must be finite " + setting_value(v));
}
inline void check_coefficient_setting(double v, const char* name) {
    if (!(v > 0.0 && v < 1.0)) throw argument_error(name, "must be in (0, 1) " + setting_value(v));
}
inline void check_positive_setting(double v, const char* name) {
    if (!(v > 0.0) || !std::isfinite(v)) throw argument_error(name, "must be finite and > 0 " + setting_value(v));
}
inline void check_threshold_setting(double v, const char* name) {
    if (!(std::abs(v) <= max_threshold_db)) throw argument_error(name, "must be within +-1e4 dB " + setting_value(v));
}
inline void check_gate_k_setting(double v, const char* name) {
    if (!(v > 0.0 && v <= max_gate_k)) throw argument_error(name, "must be in (0, 1e6] (1/dB) " + setting_value(v));
}

DD_ARCH_END
