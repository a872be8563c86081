// Attack/release smoothers: the hard gate (torchcomp's compressor_core), the sigmoid gate, and the
// time-varying linear recurrence. Batch functions over (B, T) signals with state in and out, their
// derivatives, and streaming processors. Reference: docs/reference/smoother.md; derivations:
// docs/derivations/smoothers.md.
//
// Hard gate, per row, y_{−1} = zi:
//     attack_t = f_t < y_{t−1}    (strict; equality counts as release)
//     β_t = attack_t ? at : rt,   y_t = (1 − β_t)·y_{t−1} + β_t·f_t
// The state is a double for both signal types; a float32 output is the state rounded toward +∞
// (docs/reference/numerics.md). Sigmoid gate (y_{−1} = zi, sdb = 20·log10(max(·, 1e-7))):
//     s_t = σ(k·(sdb(g_t) − sdb(y_{t−1}))),  α_t = α_a + s_t·(α_r − α_a),  y_t = y_{t−1} + α_t·(g_t − y_{t−1})
#pragma once
#include <cstddef>
#include <vector>

#include "core.hpp"
#include "processor.hpp"

namespace dd {

/// The attack/release gate of the smoothers and of compexp_gain_mode.
enum class ar_mode { hard, sigmoid };
/// "hard" or "sigmoid"; throws argument_error("ar_mode") otherwise.
ar_mode parse_ar_mode(const std::string& name);

// ------------------------------------------------------------------------------------------------
// Hard gate (batch)

/// Per-row gradient outputs (nullable = not wanted). zi's gradient is a double, like zi.
template <class T> struct smoother_param_grads {
    double* zi = nullptr;
    T *at = nullptr, *rt = nullptr;
};

/// y (B, T) from targets f (any finite values), zi (B,) or scalar, coefficients at, rt in (0, 1).
/// final_state (nullable, B doubles) receives the state after the last sample.
template <class T>
void attack_release_smoother(signal_view<T> f, row_param<double> zi, row_param<T> at, row_param<T> rt,
                             signal_span<T> y, state_out final_state = {});
/// Reverse mode, decisions held fixed. grad_final_state (nullable, B doubles) is ∂loss/∂(final state).
template <class T>
void attack_release_smoother_backward(signal_view<T> f, row_param<double> zi, row_param<T> at, row_param<T> rt,
                                      signal_view<T> y, signal_view<T> grad_y, T* grad_f,
                                      const smoother_param_grads<T>& grads, const double* grad_final_state = nullptr);
/// Forward mode (Jacobian-vector product); tangent_f may be null (zero). tangent_final_state
/// (nullable, B doubles) receives the final state's tangent.
template <class T>
void attack_release_smoother_jvp(signal_view<T> f, row_param<double> zi, row_param<T> at, row_param<T> rt,
                                 signal_view<T> y, const T* tangent_f, row_param<double> tangent_zi,
                                 row_param<T> tangent_at, row_param<T> tangent_rt, signal_span<T> tangent_y,
                                 double* tangent_final_state = nullptr);
/// Second order: for cotangents (v_f, v_zi, v_at, v_rt) on the backward's outputs, the gradient of
/// ⟨v, backward(grad_y)⟩ with respect to grad_y (dgy, = the JVP along v), f (df) and the per-row
/// parameters (grads). v_f, dgy, df and each grads pointer may be null.
template <class T>
void attack_release_smoother_backward_backward(signal_view<T> f, row_param<double> zi, row_param<T> at,
                                               row_param<T> rt, signal_view<T> y, signal_view<T> grad_y,
                                               const T* v_f, row_param<double> v_zi, row_param<T> v_at,
                                               row_param<T> v_rt, T* dgy, T* df, const smoother_param_grads<T>& grads);

// ------------------------------------------------------------------------------------------------
// Sigmoid gate (batch)

template <class T> struct sigmoid_param_grads {
    double* zi = nullptr;
    T *alpha_a = nullptr, *alpha_r = nullptr, *k = nullptr;
};

/// y (B, T) from a positive target g; zi > 0 (B,) or scalar; α_a, α_r in (0, 1); k > 0 (1/dB).
template <class T>
void sigmoid_smoother(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                      row_param<T> k, signal_span<T> y, state_out final_state = {});
template <class T>
void sigmoid_smoother_backward(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                               row_param<T> k, signal_view<T> y, signal_view<T> grad_y, T* grad_g,
                               const sigmoid_param_grads<T>& grads, const double* grad_final_state = nullptr);

/// Forward mode: the tangent of y (B, T) and of the final state (nullable) along tangent_g (nullable:
/// zero) and the tangents of zi, α_a, α_r, k (per row; scalars or B values).
template <class T>
void sigmoid_smoother_jvp(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a, row_param<T> alpha_r,
                          row_param<T> k, signal_view<T> y, const T* tangent_g, row_param<double> tangent_zi,
                          row_param<T> tangent_alpha_a, row_param<T> tangent_alpha_r, row_param<T> tangent_k,
                          signal_span<T> tangent_y, double* tangent_final_state = nullptr);
/// Second order: for cotangents v (v_g: (B, T) or null; v_zi, v_alpha_a, v_alpha_r, v_k per row) of the
/// backward's outputs (∂g, ∂zi, ∂α_a, ∂α_r, ∂k), the gradient of ⟨v, backward(grad_y, grad_final)⟩
/// with respect to grad_y (dgy), grad_final_state (d_grad_final_state), g (dg) and the per-row inputs
/// (grads). Every output nullable.
template <class T>
void sigmoid_smoother_backward_backward(signal_view<T> g, row_param<double> zi, row_param<T> alpha_a,
                                        row_param<T> alpha_r, row_param<T> k, signal_view<T> y, signal_view<T> grad_y,
                                        const double* grad_final_state, const T* v_g, row_param<double> v_zi,
                                        row_param<T> v_alpha_a, row_param<T> v_alpha_r, row_param<T> v_k, T* dgy,
                                        double* d_grad_final_state, T* dg, const sigmoid_param_grads<T>& grads);

// ------------------------------------------------------------------------------------------------
// Linear recurrence y_t = a_t·y_{t−1} + x_t (reverse: y_t = a_t·y_{t+1} + x_t), y0 the state before
// the first step. Its adjoint is the same recurrence run the other way (used for second derivatives).

template <class T>
void linear_recurrence(signal_view<T> x, signal_view<T> a, row_param<T> y0, bool reverse, signal_span<T> y);

// ------------------------------------------------------------------------------------------------
// Streaming

struct hard_smoother_settings {
    double at = 0.1, rt = 0.01;  // coefficients in (0, 1)
    double zi = 1.0;             // the state reset() restores
};

/// The hard smoother on blocks: process(f, y, n) with `channels` pointers each; the result over any
/// block split equals attack_release_smoother on the whole signal (state carried), bit for bit.
template <class T>
class hard_smoother_processor : public streaming_processor<hard_smoother_processor<T>, hard_smoother_settings> {
public:
    static constexpr std::size_t state_size = 1;
    static constexpr const char* name = "hard_smoother_processor";
    static void check_settings(const hard_smoother_settings& s);
    static void check_state(const double* state);
    static void initial_state(const hard_smoother_settings& s, double* state) { state[0] = s.zi; }
    void process(const T* const* f, T* const* y, std::size_t n);
};

struct sigmoid_smoother_settings {
    double alpha_a = 0.1, alpha_r = 0.01, k = 1.0;  // coefficients in (0, 1); k > 0 (1/dB)
    double zi = 1.0;                                 // > 0
};

template <class T>
class sigmoid_smoother_processor
    : public streaming_processor<sigmoid_smoother_processor<T>, sigmoid_smoother_settings> {
public:
    static constexpr std::size_t state_size = 1;
    static constexpr const char* name = "sigmoid_smoother_processor";
    static void check_settings(const sigmoid_smoother_settings& s);
    static void check_state(const double* state);
    static void initial_state(const sigmoid_smoother_settings& s, double* state) { state[0] = s.zi; }
    void process(const T* const* g, T* const* y, std::size_t n);
};

}  // namespace dd
