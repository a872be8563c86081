// Level detectors. avg (torchcomp's): the one-pole average y_t = coef·x_t + (1 − coef)·y_{t−1},
// y_{−1} = zi (default 0), 0 < coef ≤ 1: the hard smoother with at = rt = coef (same numerics: the
// state in double, float32 outputs rounded toward +∞). The classic RMS/level detector of the
// classical compressor is avg(|x|, ms2coef(20 ms, fs)). Reference: docs/reference/detectors.md.
#pragma once
#include <cstddef>

#include "core.hpp"
#include "processor.hpp"

namespace dd {

/// y (B, T) from the signal `rms` (finite), coefficient avg_coef in (0, 1] (the names, torchcomp's, are
/// the ones argument_error reports). zi: B doubles or null (0); final_state: B doubles or null.
template <class T>
void avg(signal_view<T> rms, row_param<T> avg_coef, signal_span<T> y, state_in zi = {}, state_out final_state = {});
/// Reverse mode: grad_x (nullable, shape of x), grad_coef (nullable, one per row), grad_zi (nullable,
/// B doubles); grad_final_state (nullable, B doubles) is ∂loss/∂(final state).
template <class T>
void avg_backward(signal_view<T> x, row_param<T> coef, signal_view<T> y, signal_view<T> grad_y, T* grad_x,
                  T* grad_coef, state_in zi = {}, const double* grad_final_state = nullptr, double* grad_zi = nullptr);

struct avg_settings {
    double coef = 0.01;  // in (0, 1]
    double zi = 0.0;     // the state reset() restores
};

/// avg on blocks (bit for bit the batch result over any block split).
template <class T> class avg_processor : public streaming_processor<avg_processor<T>, avg_settings> {
public:
    static constexpr std::size_t state_size = 1;
    static constexpr const char* name = "avg_processor";
    static void check_settings(const avg_settings& s);
    static void check_state(const double* state);
    static void initial_state(const avg_settings& s, double* state) { state[0] = s.zi; }
    void process(const T* const* x, T* const* y, std::size_t n);
};

}  // namespace dd
