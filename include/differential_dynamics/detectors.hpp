// Level detectors (SPEC §2.4, §2.5).
#pragma once
#include <cmath>
#include <cstddef>

#include "batch.hpp"
#include "simd.hpp"

namespace dd {

/// |x_t| as a smoother target; its pullback applies sign(x_t) (0 at x = 0, as torch.abs).
template <class T> struct abs_target {
    const T* x;
    T* grad_x;  // nullable
    struct sample { T f; T x; };
    T value(std::size_t t) const { return std::abs(x[t]); }
    sample eval(std::size_t t) const { return {std::abs(x[t]), x[t]}; }
    void pullback(std::size_t t, const sample& s, T gf) const {
        // ∂|x|/∂x = sign(x) (0 at 0), by arithmetic: the sign of audio flips at random, a branch on it
        // mispredicts half the time.
        if (grad_x) grad_x[t] = gf * (simd::less_indicator(T(0), s.x) - simd::less_indicator(s.x, T(0)));
    }
};

/// Averaging detector y_t = coef·x_t + (1 − coef)·y_{t−1}, y_{−1} = 0, 0 < coef ≤ 1. It is the hard
/// smoother with at = rt = coef and zi = 0, and reuses that kernel (forward and adjoint).
template <class T> void avg(signal_view<T> x, row_param<T> coef, signal_span<T> y);
/// grad_x (nullable, shape of x), grad_coef (nullable, one per row).
template <class T>
void avg_backward(signal_view<T> x, row_param<T> coef, signal_view<T> y, signal_view<T> grad_y, T* grad_x,
                  T* grad_coef);

}  // namespace dd
