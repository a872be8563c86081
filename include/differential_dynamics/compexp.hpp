// The compressor/expander gain computer (torchcomp's compexp_gain, and compexp_gain_mode with the
// sigmoid gate): from a positive level x_rms (B, T), L = 20·log10(x_rms), the target
// f = 10^(g_dB(L)/20) of the static curve (curve.hpp), then the hard (or sigmoid) attack/release
// smoother of f (smoother.hpp) from the state zi (default 1). Output: the linear gain (B, T).
// Reference: docs/reference/compexp.md.
#pragma once
#include <cstddef>
#include <vector>

#include "core.hpp"
#include "curve.hpp"
#include "processor.hpp"
#include "smoother.hpp"

namespace dd {

/// Hard gate; at, rt in (0, 1). zi: B doubles or null (1); final_state: B doubles or null. Throws
/// argument_error naming x_rms (must be finite, > 0), gain, the curve parameter, at or rt.
template <class T>
void compexp_gain(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                  signal_span<T> gain, state_in zi = {}, state_out final_state = {});
/// Reverse mode. grad_gain may be strided (a broadcast is read in place); every output nullable.
/// grad_final_state (B doubles, nullable) is ∂loss/∂(final state); grad_zi (B doubles) receives ∂zi.
template <class T>
void compexp_gain_backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                           signal_view<T> gain, strided_arg<T> grad_gain, T* grad_x_rms,
                           const compexp_param_grads<T>& curve_grads, T* grad_at, T* grad_rt, state_in zi = {},
                           const double* grad_final_state = nullptr, double* grad_zi = nullptr);

/// compexp_gain with the choice of gate. Errors name alpha_a / alpha_r (and k > 0, sigmoid only).
/// In hard mode k is ignored (pass 1).
template <class T>
void compexp_gain_mode(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                       row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_span<T> gain, state_in zi = {},
                       state_out final_state = {});
template <class T>
void compexp_gain_mode_backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                                row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_view<T> gain,
                                strided_arg<T> grad_gain, T* grad_x_rms, const compexp_param_grads<T>& curve_grads,
                                T* grad_alpha_a, T* grad_alpha_r, T* grad_k, state_in zi = {},
                                const double* grad_final_state = nullptr, double* grad_zi = nullptr);

/// Forward mode of compexp_gain_mode (either gate), decisions held fixed: the tangent of the gain
/// (B, T) and of the final state (nullable) along the tangents of x_rms (nullable: zero), the curve
/// parameters, the coefficients, k (sigmoid gate) and zi (B doubles, nullable). `gain` is the forward's.
template <class T>
void compexp_gain_mode_jvp(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                           row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_view<T> gain,
                           const T* tangent_x_rms, const compexp_param_tangents<T>& tangent_curve,
                           row_param<T> tangent_alpha_a, row_param<T> tangent_alpha_r, row_param<T> tangent_k,
                           signal_span<T> tangent_gain, state_in zi = {}, const double* tangent_zi = nullptr,
                           double* tangent_final_state = nullptr);

struct compexp_settings {
    double comp_thresh = -24.0, comp_ratio = 4.0, exp_thresh = -1000.0, exp_ratio = 1.0, knee = 0.0;
    double at = 0.05, rt = 0.005;  // coefficients in (0, 1): α_a, α_r of the sigmoid gate
    ar_mode mode = ar_mode::hard;
    double k = 1.0;   // 1/dB, sigmoid gate only
    double zi = 1.0;  // the state reset() restores
};

/// compexp_gain(_mode) on blocks: process(level, gain, n), `channels` pointers each; bit for bit the
/// batch result over any block split, with settings changed between blocks as in batch calls on the
/// pieces.
template <class T> class compexp_processor : public streaming_processor<compexp_processor<T>, compexp_settings> {
public:
    static constexpr std::size_t state_size = 1;
    static constexpr const char* name = "compexp_processor";
    static void check_settings(const compexp_settings& s);
    static void check_state(const double* state);
    static void initial_state(const compexp_settings& s, double* state) { state[0] = s.zi; }
    /// Throws argument_error("x_rms") (and leaves the state as it was) if a level is not finite and > 0.
    void process(const T* const* x_rms, T* const* gain, std::size_t n);

private:
    friend class streaming_processor<compexp_processor<T>, compexp_settings>;
    void on_prepare();
    void on_settings();
    std::vector<T> fields_;                 // per channel: CT, CR, ET, ER, knee, at, rt, k
    std::vector<double> next_state_;        // the block's final states, committed if the block is valid
    std::vector<const T*> in_;
    std::vector<T*> out_;
    std::vector<unsigned char> work_;
};

}  // namespace dd
