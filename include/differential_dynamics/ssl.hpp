// SSL-style bus compressor: the side chain of an SSL G-series bus compressor, an RC ladder whose
// capacitors charge through an attack resistor and discharge through two shunts (the program-
// dependent "auto" release), with a hard attack/release gate, the output gain fed back to the
// detector one sample later, both circuit modes discretised exactly (zero-order hold), and exact
// gradients for the level and every parameter. Batch functions with state in and out, and streaming
// processors. Reference: docs/reference/ssl.md; derivations: docs/derivations/ssl.md.
#pragma once
#include <cstddef>
#include <limits>
#include <vector>

#include "core.hpp"
#include "processor.hpp"

namespace dd {

// ------------------------------------------------------------------------------------------------
// Hardware values and switch positions (docs/reference/ssl.md)

inline constexpr double ssl_cap_fast = 0.47e-6;           // Cf (F)
inline constexpr double ssl_cap_slow = 6.8e-6;            // Cs (F)
inline constexpr double ssl_auto_shunt_fast = 91e3;       // Rf of the "auto" release (Ω)
inline constexpr double ssl_auto_shunt_slow = 750e3;      // Rs of the "auto" release (Ω)
inline constexpr double ssl_attack_ohms_positions[6] = {820.0, 2.7e3, 8.2e3, 27e3, 82e3, 270e3};
inline constexpr double ssl_release_ohms_positions[4] = {180e3, 270e3, 560e3, 1.2e6};
inline constexpr double ssl_ratio_positions[3] = {2.0, 4.0, 10.0};
/// Pass as `release_ohms` for the dual-time-constant "auto" release.
inline constexpr double ssl_release_auto = 0.0;
/// Fixed releases bypass the slow capacitor: T_as this large (s) and T_ss one sample.
inline constexpr double ssl_bypassed_attack_slow = 1e4;

/// Parameters derived from the knobs, time constants in seconds.
struct ssl_knob_params {
    double comp_ratio, T_attack_fast, T_attack_slow, T_shunt_fast, T_shunt_slow;
};

/// Parameter set of a hardware switch setting. attack_ohms ∈ ssl_attack_ohms_positions, release_ohms
/// ∈ ssl_release_ohms_positions or ssl_release_auto, ratio ∈ {2, 4, 10}; fs (Hz) sets T_ss = 1/fs for
/// the fixed releases. Throws argument_error("attack_ohms" | "release_ohms" | "ratio" | "fs").
ssl_knob_params ssl_preset(double attack_ohms, double release_ohms, double ratio, double fs = 44100.0);


/// The front panel: attack 0.1, 0.3, 1, 3, 10, 30 ms (the six attack resistors, in order) and release
/// 0.1, 0.3, 0.6, 1.2 s (the four fixed shunts, in order) or auto.
inline constexpr double ssl_attack_ms_positions[6] = {0.1, 0.3, 1.0, 3.0, 10.0, 30.0};
inline constexpr double ssl_release_s_positions[4] = {0.1, 0.3, 0.6, 1.2};

/// The attack resistor (Ω) of a front-panel attack time in [0.1, 30] ms: a position gives its resistor
/// exactly; between two positions log(R) is linear in log(ms). Throws argument_error("attack_ms").
double ssl_attack_ohms(double attack_ms);
/// The release shunt (Ω) of a front-panel release time in [0.1, 1.2] s, interpolated alike. Throws
/// argument_error("release_s").
double ssl_release_ohms(double release_s);
/// Parameter set of a front-panel setting: attack_ms and release_s (or ssl_release_auto) as in
/// ssl_attack_ohms / ssl_release_ohms, ratio > 1 (the hardware's 2, 4, 10 or any value between for
/// fitting). At the switch positions it is ssl_preset's, bit for bit. Throws argument_error
/// ("attack_ms" | "release_s" | "ratio" | "fs").
ssl_knob_params ssl_front_panel(double attack_ms, double release_s, double ratio, double fs = 44100.0);

// ------------------------------------------------------------------------------------------------
// Batch API (B, T), float and double. Parameters are scalars or one value per row; fs is one number.
// State per row: (x1, x2), the fast and the slow capacitor's voltage (dB); y_{t−1} = x1 + x2.
// Default initial state (0, 0).

/// The hard attack/release gate (attack_t = a_t < y_{t−1}) is the soft gate's limit k → ∞, and
/// gate_k = ∞ (the default) selects it.
inline constexpr double ssl_hard_gate = std::numeric_limits<double>::infinity();

/// One row's parameters in double (time constants in seconds).
struct ssl_row_params {
    double comp_thresh, comp_ratio, T_attack_fast, T_attack_slow, T_shunt_fast, T_shunt_slow, feedback_coeff,
        knee = 0.0, gate_k = ssl_hard_gate;
};

/// gate_k (1/dB, > 0, or ∞ = the hard gate): the soft gate's sharpness (docs/derivations/ssl_soft_gate.md):
/// s_t = σ(k·(a_t − y_{t−1})) scales the series rates R_af, R_as by (1 − s_t), and the operators are
/// discretised again at every sample (closed form, double).
template <class T> struct ssl_params {
    row_param<T> comp_thresh, comp_ratio, T_attack_fast, T_attack_slow, T_shunt_fast, T_shunt_slow,
        feedback_coeff;
    double fs = 44100.0;
    row_param<T> knee = T(0);
    row_param<T> gate_k = std::numeric_limits<T>::infinity();
    ssl_row_params row(std::size_t b) const {
        return {double(comp_thresh[b]),  double(comp_ratio[b]),   double(T_attack_fast[b]), double(T_attack_slow[b]),
                double(T_shunt_fast[b]), double(T_shunt_slow[b]), double(feedback_coeff[b]), double(knee[b]),
                double(gate_k[b])};
    }
};

/// Per-row gradient outputs (nullable = not wanted). gate_k's is 0 on hard-gate rows.
template <class T> struct ssl_param_grads {
    T *comp_thresh = nullptr, *comp_ratio = nullptr, *T_attack_fast = nullptr, *T_attack_slow = nullptr,
      *T_shunt_fast = nullptr, *T_shunt_slow = nullptr, *feedback_coeff = nullptr, *knee = nullptr,
      *gate_k = nullptr;
};

/// Per-row tangents (forward mode) or cotangents (second order) of the parameters: B values each, or
/// null for zero.
template <class T> struct ssl_param_tangents {
    const T *comp_thresh = nullptr, *comp_ratio = nullptr, *T_attack_fast = nullptr, *T_attack_slow = nullptr,
            *T_shunt_fast = nullptr, *T_shunt_slow = nullptr, *feedback_coeff = nullptr, *knee = nullptr,
            *gate_k = nullptr;
};

/// Validates the parameters (CR > 1, T_q > 0, fb ∈ [0, 1], fs > 0, knee ≥ 0, all finite, counts) for
/// a signal of `rows` rows; throws argument_error naming the argument.
template <class T> void check_ssl_params(const ssl_params<T>& p, std::size_t rows);

/// Gain in dB (B, T) from a detector level in dB. `tape` (nullable, B·T·2 doubles) receives the
/// state after every sample, for ssl_comp_gain_backward. zi, final_state: B×2 doubles or null.
template <class T>
void ssl_comp_gain(signal_view<T> x_peak_dB, const ssl_params<T>& p, signal_span<T> gain_db, double* tape = nullptr,
                   state_in zi = {}, state_out final_state = {});

/// Reverse mode. `tape` is the forward's; if null the forward is run again. grad_x_peak_dB
/// (nullable) has the signal's shape; grad_final_state (B×2, nullable) is ∂loss/∂(final state);
/// grad_zi (B×2, nullable) receives ∂loss/∂zi.
template <class T>
void ssl_comp_gain_backward(signal_view<T> x_peak_dB, const ssl_params<T>& p, const double* tape,
                            signal_view<T> grad_gain, T* grad_x_peak_dB, const ssl_param_grads<T>& grads,
                            state_in zi = {}, const double* grad_final_state = nullptr, double* grad_zi = nullptr);

/// Forward mode (Jacobian-vector product), decisions held fixed: the tangent of the gain (B, T) and
/// of the final state (B×2, nullable) along the tangents of the level (nullable = 0), the parameters
/// and zi (B×2, nullable = 0). `tape` is the forward's (null: the forward is run again).
template <class T>
void ssl_comp_gain_jvp(signal_view<T> x_peak_dB, const ssl_params<T>& p, const double* tape, const T* tangent_x_peak_dB,
                       const ssl_param_tangents<T>& tangents, signal_span<T> tangent_gain, state_in zi = {},
                       const double* tangent_zi = nullptr, double* tangent_final_state = nullptr);

/// Second order (the backward differentiated once more), decisions held fixed. The backward maps
/// (grad_gain, grad_final_state) to the gradients g of the level, the parameters and zi. For
/// cotangents v of g (v_x: (B, T) or null, v_params, v_zi: B×2 or null) this returns the gradient of
/// ⟨v, g⟩ with respect to grad_gain (d_grad_gain, (B, T)), grad_final_state (d_grad_final_state, B×2),
/// the level (d_x), the parameters (d_params) and zi (d_zi); every output nullable.
/// Soft-gate rows (finite gate_k) have no second derivatives: argument_error("gate_k").
template <class T>
void ssl_comp_gain_backward_backward(signal_view<T> x_peak_dB, const ssl_params<T>& p, const double* tape,
                                     signal_view<T> grad_gain, const T* v_x_peak_dB, const ssl_param_tangents<T>& v_params,
                                     T* d_grad_gain, T* d_x_peak_dB, const ssl_param_grads<T>& d_params,
                                     state_in zi = {}, const double* grad_final_state = nullptr,
                                     const double* v_zi = nullptr, double* d_grad_final_state = nullptr,
                                     double* d_zi = nullptr);

/// Audio in: level = 20·log10(max(|x|, 1e-7)) (an instantaneous peak detector); gain_db (B, T) and
/// the processed audio y = 10^(gain_db/20)·x, both computed in double and rounded once.
template <class T>
void ssl_compress(signal_view<T> x, const ssl_params<T>& p, signal_span<T> gain_db, signal_span<T> y,
                  double* tape = nullptr, state_in zi = {}, state_out final_state = {});

/// Reverse mode of ssl_compress; grad_gain and grad_y are (B, T) or null (zero), grad_x nullable.
template <class T>
void ssl_compress_backward(signal_view<T> x, const ssl_params<T>& p, const double* tape, const T* grad_gain,
                           const T* grad_y, T* grad_x, const ssl_param_grads<T>& grads, state_in zi = {},
                           const double* grad_final_state = nullptr, double* grad_zi = nullptr);

/// Forward mode of ssl_compress: tangents of the gain and of the processed audio (each (B, T) or null)
/// and of the final state, along tangent_x (nullable), the parameters and zi.
template <class T>
void ssl_compress_jvp(signal_view<T> x, const ssl_params<T>& p, const double* tape, const T* tangent_x,
                      const ssl_param_tangents<T>& tangents, T* tangent_gain, T* tangent_y, state_in zi = {},
                      const double* tangent_zi = nullptr, double* tangent_final_state = nullptr);

/// Second order of ssl_compress (as ssl_comp_gain_backward_backward): for cotangents v of the
/// backward's outputs (grad_x, parameters, zi), the gradient of ⟨v, backward⟩ with respect to
/// grad_gain, grad_y (d_grad_gain, d_grad_y: (B, T)), grad_final_state, x, the parameters and zi.
template <class T>
void ssl_compress_backward_backward(signal_view<T> x, const ssl_params<T>& p, const double* tape, const T* grad_gain,
                                    const T* grad_y, const T* v_x, const ssl_param_tangents<T>& v_params,
                                    T* d_grad_gain, T* d_grad_y, T* d_x, const ssl_param_grads<T>& d_params,
                                    state_in zi = {}, const double* grad_final_state = nullptr,
                                    const double* v_zi = nullptr, double* d_grad_final_state = nullptr,
                                    double* d_zi = nullptr);

// ------------------------------------------------------------------------------------------------
// Streaming

/// One channel's parameters (time constants in seconds; see ssl_params). fs comes from prepare().
struct ssl_settings {
    double comp_thresh = -20.0, comp_ratio = 4.0;
    double T_attack_fast = 820.0 * ssl_cap_fast, T_attack_slow = 820.0 * ssl_cap_slow;
    double T_shunt_fast = ssl_auto_shunt_fast * ssl_cap_fast, T_shunt_slow = ssl_auto_shunt_slow * ssl_cap_slow;
    double feedback_coeff = 0.0, knee = 0.0;
    double gate_k = ssl_hard_gate;  // 1/dB; ∞ = the hard gate
};

/// ssl_comp_gain on blocks: process(level_db, gain_db, n); bit for bit the batch result over any
/// block split.
template <class T> class ssl_gain_processor : public streaming_processor<ssl_gain_processor<T>, ssl_settings> {
public:
    static constexpr std::size_t state_size = 2;
    static constexpr const char* name = "ssl_gain_processor";
    static void check_settings(const ssl_settings& s);
    static void check_state(const double* state);
    static void initial_state(const ssl_settings&, double* state) { state[0] = state[1] = 0.0; }
    void process(const T* const* x_peak_dB, T* const* gain_db, std::size_t n);

private:
    friend class streaming_processor<ssl_gain_processor<T>, ssl_settings>;
    void on_prepare();
    void on_settings();
    std::vector<unsigned char> models_;  // one prepared model per channel
};

/// ssl_compress on blocks: process(x, y, n, gain_db): y = 10^(gain/20)·x with the level from x, or,
/// if `sidechain` is given, from the side chain (the gain is then applied to x); gain_db nullable.
template <class T> class ssl_processor : public streaming_processor<ssl_processor<T>, ssl_settings> {
public:
    static constexpr std::size_t state_size = 2;
    static constexpr const char* name = "ssl_processor";
    static void check_settings(const ssl_settings& s);
    static void check_state(const double* state);
    static void initial_state(const ssl_settings&, double* state) { state[0] = state[1] = 0.0; }
    void process(const T* const* x, T* const* y, std::size_t n, T* const* gain_db = nullptr,
                 const T* const* sidechain = nullptr);

private:
    friend class streaming_processor<ssl_processor<T>, ssl_settings>;
    void on_prepare();
    void on_settings();
    std::vector<unsigned char> models_;
};

}  // namespace dd
