// The kernel table: every per-row kernel of the library, compiled once per instruction set (baseline,
// AVX2, AVX-512: src/core/kernel_table.cpp is built into each kernel object library) and chosen at run
// time (src/core/dispatch.cpp). The batch functions validate their arguments, then call these on rows
// in parallel; the streaming processors call them on their channels, on the calling thread. No SIMD
// type appears here, so this header means the same in every translation unit.
#pragma once
#include <cstddef>

#include "differential_dynamics/core.hpp"
#include "differential_dynamics/curve.hpp"

namespace dd::detail {

/// Gradients of a hard smoother row's scalar inputs, summed in double.
struct smoother_sums {
    double zi = 0, at = 0, rt = 0;
};
struct sigmoid_sums {
    double zi = 0, alpha_a = 0, alpha_r = 0, k = 0;
};
/// The sigmoid gate's second order per row: gradients of the scalar inputs and ẏ_{n−1} (the
/// gradient with respect to the backward's grad_final).
struct sigmoid_second_order_sums {
    double zi = 0, alpha_a = 0, alpha_r = 0, k = 0, final_tangent = 0;
};

/// compexp_gain's forward over a group of rows: row r of the call reads x[r], writes y[r] (row
/// pointers, so that a batch's rows and a streaming processor's channels are read alike); parameters
/// are indexed by the same r.
template <class T> struct compexp_forward_args {
    const T* const* x;
    T* const* y;
    std::size_t cols;
    compexp_params<T> curve;
    row_param<T> at, rt, k;
    bool sigmoid;
    const double* zi;     // one per row, or null: 1
    double* final_state;  // one per row, or null
};

/// compexp_gain's backward of one row b (batch only, contiguous (B, T) signals).
template <class T> struct compexp_backward_args {
    signal_view<T> x, y;
    strided_view<T> grad_y;
    compexp_params<T> curve;
    row_param<T> at, rt, k;
    bool sigmoid;
    const double* zi;          // one per row, or null: 1
    const double* grad_final;  // one per row, or null: 0
    T* grad_x;                 // (B, T) or null
    // Whether the compressor's (∂CT, ∂CR) and the expander's (∂ET, ∂ER) sums are wanted; the
    // knee-free backward skips the others (their sums are then unspecified).
    bool comp_sums = true, exp_sums = true;
};
/// compexp_gain's forward mode of one row b (batch only).
template <class T> struct compexp_jvp_args {
    signal_view<T> x, y;
    compexp_params<T> curve;
    row_param<T> at, rt, k;
    bool sigmoid;
    const double* zi;  // one per row, or null: 1
    const T* tangent_x;  // (B, T) or null
    compexp_param_tangents<T> tangent_curve;
    row_param<T> tangent_at, tangent_rt, tangent_k;
    const double* tangent_zi;  // one per row, or null: 0
    T* tangent_y;              // (B, T)
};
/// A compexp backward row's parameter sums: ∂CT, ∂CR, ∂ET, ∂ER, ∂knee, ∂at, ∂rt, ∂k, ∂zi.
struct compexp_sums {
    double v[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
};

template <class T> struct limiter_sums {
    double threshold = 0, at = 0, rt = 0, zi_peak = 0, zi_gain = 0;
};

template <class T> struct kernel_set {
    // Hard attack/release smoother (one row). The state is a double; float outputs are rounded up.
    double (*hard_forward)(const T* f, std::size_t n, double zi, T at, T rt, T* y);
    smoother_sums (*hard_adjoint)(const T* f, std::size_t n, double zi, T at, T rt, const T* y, const T* grad_y,
                                  double grad_final, T* grad_f);
    /// Tangent; df may be null. Returns the final state's tangent.
    double (*hard_jvp)(const T* f, const T* df, std::size_t n, double zi, T at, T rt, const T* y, double dzi, T dat,
                       T drt, T* dy);
    /// Second order (see smoother_math.hpp); work holds 2n values.
    smoother_sums (*hard_second_order)(const T* f, const T* v_f, std::size_t n, double zi, T at, T rt, const T* y,
                                       const T* grad_y, double v_zi, T v_at, T v_rt, T* dgy, T* df, T* work);
    // Sigmoid-gated smoother (one row); the state is a T.
    double (*sigmoid_forward)(const T* g, std::size_t n, double zi, T alpha_a, T alpha_r, T k, T* y);
    sigmoid_sums (*sigmoid_adjoint)(const T* g, std::size_t n, double zi, T alpha_a, T alpha_r, T k, const T* y,
                                    const T* grad_y, double grad_final, T* grad_g);
    /// Tangent (dg nullable: zero); returns the final state's tangent.
    double (*sigmoid_jvp)(const T* g, const T* dg, std::size_t n, double zi, T alpha_a, T alpha_r, T k, const T* y,
                          double dzi, double daa, double dar, double dk, T* dy);
    /// Second order (smoother_math.hpp); v_g, dgy, dg nullable; work holds n doubles.
    sigmoid_second_order_sums (*sigmoid_second_order)(const T* g, const T* v_g, std::size_t n, double zi, T alpha_a,
                                                      T alpha_r, T k, const T* y, const T* grad_y, double grad_final,
                                                      double v_zi, double v_aa, double v_ar, double v_k, T* dgy,
                                                      T* dg, double* work);
    // Averaging detector (one row): the hard smoother with at = rt = coef; the adjoint's sums hold
    // ∂zi in .zi and ∂coef in .at.
    double (*avg_forward)(const T* x, std::size_t n, double zi, T coef, T* y);
    smoother_sums (*avg_adjoint)(const T* x, std::size_t n, double zi, T coef, const T* y, const T* grad_y,
                                 double grad_final, T* grad_x);
    // y_t = a_t·y_{t−1} + x_t (or backwards in time).
    T (*linear_recurrence)(const T* x, const T* a, std::size_t n, T y0, bool reverse, T* y);
    // Static curve (one row).
    void (*curve_forward)(const T* level, std::size_t n, const compexp_curve<T>& c, T* gain);
    void (*curve_backward)(const T* level, std::size_t n, const compexp_curve<T>& c, const T* grad_gain, T* grad_level,
                           double sums[5]);
    // compexp_gain: forward of rows [first, first + count) (count ≤ compexp_group_rows; `work`: 64-byte
    // aligned, compexp_work_size(cols) bytes); backward of row b (compexp_backward_work_size() bytes).
    // Both return false if some x is not finite and > 0.
    std::size_t compexp_group_rows;
    std::size_t (*compexp_work_size)(std::size_t cols);
    bool (*compexp_forward)(const compexp_forward_args<T>& a, std::size_t first, std::size_t count, void* work);
    std::size_t (*compexp_backward_work_size)();
    bool (*compexp_backward)(const compexp_backward_args<T>& a, std::size_t b, void* work, compexp_sums& sums);
    /// Forward mode of row b; returns false if some x is not finite and > 0. `work` holds
    /// compexp_backward_work_size() bytes. final_tangent receives the final state's tangent.
    bool (*compexp_jvp)(const compexp_jvp_args<T>& a, std::size_t b, void* work, double& final_tangent);
    // Limiter (one row): state (peak, gain); peak receives the peak envelope.
    void (*limiter_forward)(const T* x, std::size_t n, const double* zi, T threshold_db, T at, T rt, T* gain, T* peak,
                            double* final_state);
    limiter_sums<T> (*limiter_adjoint)(const T* x, std::size_t n, const double* zi, T threshold_db, T at, T rt,
                                       const T* gain, const T* peak, const T* grad_gain, const double* grad_final,
                                       T* grad_x);
};

struct kernel_table {
    simd_level level;
    kernel_set<float> f32;
    kernel_set<double> f64;
    template <class T> const kernel_set<T>& get() const {
        if constexpr (sizeof(T) == sizeof(float))
            return f32;
        else
            return f64;
    }
};

/// The table of the active SIMD level.
const kernel_table& kernels();
template <class T> const kernel_set<T>& kernels_for() { return kernels().template get<T>(); }

// Each kernel object library defines one of these (null where not built).
const kernel_table* kernel_table_baseline();
const kernel_table* kernel_table_avx2();
const kernel_table* kernel_table_avx512();

}  // namespace dd::detail
