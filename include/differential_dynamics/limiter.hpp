// The limiter gain (torchcomp's limiter_gain): a peak detector p (the hard smoother on |x| from
// state zi_peak = 0 with the coefficients swapped: it rises with `at` and falls with `rt`), the target
// f = min(1, 10^(threshold/20) / p), and the hard smoother of f from zi_gain = 1 with at, rt. Output:
// the linear gain (B, T) and the peak envelope (which the backward needs). State per row: (peak, gain).
// Reference: docs/reference/limiter.md.
#pragma once
#include <cstddef>
#include <vector>

#include "core.hpp"
#include "processor.hpp"

namespace dd {

/// threshold ≤ 0 dB; at, rt in (0, 1). zi: B×2 doubles (peak, gain) or null ((0, 1)).
template <class T>
void limiter_gain(signal_view<T> x, row_param<T> threshold_db, row_param<T> at, row_param<T> rt, signal_span<T> gain,
                  signal_span<T> peak, state_in zi = {}, state_out final_state = {});
/// Reverse mode; grad_final_state (B×2, nullable), grad_zi (B×2, nullable).
template <class T>
void limiter_gain_backward(signal_view<T> x, row_param<T> threshold_db, row_param<T> at, row_param<T> rt,
                           signal_view<T> gain, signal_view<T> peak, signal_view<T> grad_gain, T* grad_x,
                           T* grad_threshold, T* grad_at, T* grad_rt, state_in zi = {},
                           const double* grad_final_state = nullptr, double* grad_zi = nullptr);

struct limiter_settings {
    double threshold = -6.0;       // dB, ≤ 0
    double at = 0.5, rt = 0.001;   // coefficients in (0, 1)
    double zi_peak = 0.0, zi_gain = 1.0;  // the state reset() restores
};

/// limiter_gain on blocks: process(x, gain, n); bit for bit the batch result over any block split.
template <class T> class limiter_processor : public streaming_processor<limiter_processor<T>, limiter_settings> {
public:
    static constexpr std::size_t state_size = 2;
    static constexpr const char* name = "limiter_processor";
    static void check_settings(const limiter_settings& s);
    static void check_state(const double* state);
    static void initial_state(const limiter_settings& s, double* state) {
        state[0] = s.zi_peak;
        state[1] = s.zi_gain;
    }
    /// `peak` (nullable) receives the peak envelope.
    void process(const T* const* x, T* const* gain, std::size_t n, T* const* peak = nullptr);

private:
    friend class streaming_processor<limiter_processor<T>, limiter_settings>;
    void on_prepare();
    std::vector<T> peak_buffer_;
};

}  // namespace dd
