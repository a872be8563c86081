// A compressor model family wide enough to match real compressors (Giannoulis, Massberg & Reiss,
// JAES 2012): the peak-detector designs (branching, smooth branching, decoupled, smooth decoupled)
// as a batch kernel on any control signal, and the feedback compressor (level taken from the
// previous output sample) with every detector / ballistics placement / domain / design. Feed-forward
// members are compositions of library kernels (Python: differential_dynamics.family). Exact
// gradients: adjoint recursions with the attack/release decisions held fixed.
// Reference: docs/reference/family.md; derivations: docs/derivations/family.md.
#pragma once
#include <cstddef>
#include <string>

#include "core.hpp"

namespace dd {

// ------------------------------------------------------------------------------------------------
// Peak detectors on a control signal c (B, T); a = attack, r = release (input weights in (0, 1)),
// ρ = `rest`, the value a non-smooth design releases toward. State per row (y1, y):
//     branching:         y = c > y ? y + a·(c − y) : y + r·(ρ − y)                     (y1 = y)
//     smooth_branching:  y = y + (c > y ? a : r)·(c − y)                               (y1 = y)
//     decoupled:         y1 = max(c, y1 + r·(ρ − y1)),  y = y + a·(y1 − y)
//     smooth_decoupled:  y1 = max(c, y1 + r·(c − y1)),  y = y + a·(y1 − y)
// Comparisons are strict (a tie keeps the other branch). Computed in double for both signal types.

enum class detector_design { branching, smooth_branching, decoupled, smooth_decoupled };
/// "branching", "smooth_branching", "decoupled" or "smooth_decoupled"; argument_error("design") otherwise.
detector_design parse_detector_design(const std::string& name);
const char* detector_design_name(detector_design design);

template <class T> struct peak_detector_grads {
    T *attack = nullptr, *release = nullptr;  // per row
    double* zi = nullptr;                     // B×2
};

/// y (B, T); zi (B×2 doubles: y1, y) or null for (ρ, ρ); final_state (B×2) nullable.
template <class T>
void peak_detector(signal_view<T> c, detector_design design, row_param<T> attack, row_param<T> release, double rest,
                   signal_span<T> y, state_in zi = {}, state_out final_state = {});
/// Reverse mode (the forward is re-run per row); grad_c nullable, grad_final_state (B×2) nullable.
template <class T>
void peak_detector_backward(signal_view<T> c, detector_design design, row_param<T> attack, row_param<T> release,
                            double rest, signal_view<T> grad_y, T* grad_c, const peak_detector_grads<T>& grads,
                            state_in zi = {}, const double* grad_final_state = nullptr);

// ------------------------------------------------------------------------------------------------
// Feedback compressor gain. Per row, o_{t−1} the previous output sample x_{t−1}·G_{t−1} (before
// makeup), u_t = |o_{t−1}| (peak) or o_{t−1}² (rms), level L(u) = (20/p)·log10(max(u, 1e-7^p)) dB
// (p = 1 peak, 2 rms), curve g(L) = the library's compressor curve (CT, CR, knee W):
//   ballistics on the level:  c = u (linear) or L(u) (log);  e = detector(c);
//                             G = 10^(g(L(e))/20) (linear) or 10^(g(e)/20) (log)
//   ballistics on the gain:   c = −g(L(u)) (log, dB of gain reduction) or 1 − 10^(g(L(u))/20) (linear);
//                             e = detector(c);  G = 10^(−e/20) (log) or 1 − e (linear)
// ρ = −140 dB for the log level, else 0. State per row (o, y1, y), default (0, ρ, ρ).

/// The family's level: peak |o| or rms o² (a mean square once smoothed), of the previous output sample.
enum class family_detector { peak, rms };
enum class ballistics_placement { level, gain };
enum class ballistics_domain { linear, log };

struct family_topology {
    family_detector detector = family_detector::peak;
    ballistics_placement placement = ballistics_placement::level;
    ballistics_domain domain = ballistics_domain::linear;
    detector_design design = detector_design::smooth_branching;
};
/// The detector's rest value ρ for a topology: −140 dB for ballistics on a log level, else 0.
double family_rest(const family_topology& topology);

template <class T> struct feedback_params {
    row_param<T> comp_thresh, comp_ratio, knee, attack, release;
};
template <class T> struct feedback_grads {
    T *comp_thresh = nullptr, *comp_ratio = nullptr, *knee = nullptr, *attack = nullptr, *release = nullptr;
    double* zi = nullptr;  // B×3
};

/// Linear gain G (B, T) of the feedback compressor on audio x (B, T). zi, final_state: B×3 or null.
template <class T>
void feedback_compressor_gain(signal_view<T> x, const family_topology& topology, const feedback_params<T>& p,
                              signal_span<T> gain, state_in zi = {}, state_out final_state = {});
/// Reverse mode (the forward is re-run per row); grad_x nullable, grad_final_state (B×3) nullable.
template <class T>
void feedback_compressor_gain_backward(signal_view<T> x, const family_topology& topology, const feedback_params<T>& p,
                                       signal_view<T> grad_gain, T* grad_x, const feedback_grads<T>& grads,
                                       state_in zi = {}, const double* grad_final_state = nullptr);

}  // namespace dd
