// The model family's batch entry points: validate once, then per-row kernels (scalar double steps
// of family_steps.hpp) on rows in parallel. The backward re-runs a row's forward, recording the state
// before every step and the decision, then runs the adjoint steps from the last sample to the first.
// Derivations: docs/derivations/family.md.
#include "differential_dynamics/family.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "core/parallel.hpp"
#include "core/validate.hpp"
#include "family/family_steps.hpp"

namespace dd {

detector_design parse_detector_design(const std::string& name) {
    if (name == "branching") return detector_design::branching;
    if (name == "smooth_branching") return detector_design::smooth_branching;
    if (name == "decoupled") return detector_design::decoupled;
    if (name == "smooth_decoupled") return detector_design::smooth_decoupled;
    throw argument_error("design", "must be \"branching\", \"smooth_branching\", \"decoupled\" or "
                                   "\"smooth_decoupled\" (got \"" + name + "\")");
}

const char* detector_design_name(detector_design design) {
    switch (design) {
        case detector_design::branching: return "branching";
        case detector_design::smooth_branching: return "smooth_branching";
        case detector_design::decoupled: return "decoupled";
        case detector_design::smooth_decoupled: return "smooth_decoupled";
    }
    return "?";
}

double family_rest(const family_topology& topology) {
    const bool log_level =
        topology.placement == ballistics_placement::level && topology.domain == ballistics_domain::log;
    return log_level ? -140.0 : 0.0;
}

namespace {

void check_rest(double rest) {
    if (!std::isfinite(rest)) throw argument_error("rest", "must be finite");
}

void check_finite_state(const state_in& zi, std::size_t rows, std::size_t per_row) {
    check_state(zi, rows, per_row, "zi", [](double, std::size_t) { return true; }, "finite");
}

detector_state initial_detector(const state_in& zi, std::size_t b, std::size_t stride, std::size_t offset,
                                double rest) {
    if (!zi.data) return {rest, rest};
    return {zi.data[stride * b + offset], zi.data[stride * b + offset + 1]};
}

template <class T> detector_coeffs row_coeffs(detector_design d, const basic_row_param<T>& a, const basic_row_param<T>& r, double rest,
                                              std::size_t b) {
    return {d, double(a[b]), double(r[b]), rest};
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Peak detectors

/// The arguments peak_detector and its backward share.
template <class T>
void check_detector_inputs(signal_view<T> c, row_param<T> attack, row_param<T> release, double rest, state_in zi) {
    check_signal(c, "c");
    check_coefficient(attack, c.rows, "attack");
    check_coefficient(release, c.rows, "release");
    check_rest(rest);
    check_finite_state(zi, c.rows, 2);
}

template <class T>
void peak_detector(signal_view<T> c, detector_design design, row_param<T> attack, row_param<T> release, double rest,
                   signal_span<T> y, state_in zi, state_out final_state) {
    check_detector_inputs(c, attack, release, rest, zi);
    check_output(y, c, "y");
    const std::size_t n = c.cols;
    detail::parallel_for(c.rows, [&](std::size_t b) {
        const detector_coeffs k = row_coeffs(design, attack, release, rest, b);
        detector_state s = initial_detector(zi, b, 2, 0, rest);
        const T* cb = c.row(b);
        T* yb = y.row(b);
        for (std::size_t t = 0; t < n; ++t) {
            detector_step(k, double(cb[t]), s);
            yb[t] = T(s.y);
        }
        if (final_state.data) {
            final_state.data[2 * b] = s.y1;
            final_state.data[2 * b + 1] = s.y;
        }
    });
}

template <class T>
void peak_detector_backward(signal_view<T> c, detector_design design, row_param<T> attack, row_param<T> release,
                            double rest, signal_view<T> grad_y, T* grad_c, const peak_detector_grads<T>& grads,
                            state_in zi, const double* grad_final_state) {
    check_detector_inputs(c, attack, release, rest, zi);
    check_same_shape(grad_y, c, "grad_y");
    const std::size_t n = c.cols;
    detail::parallel_for(c.rows, [&](std::size_t b) {
        const detector_coeffs k = row_coeffs(design, attack, release, rest, b);
        const T* cb = c.row(b);
        std::vector<detector_state> before(n);
        std::vector<unsigned char> decision(n);
        detector_state s = initial_detector(zi, b, 2, 0, rest);
        for (std::size_t t = 0; t < n; ++t) {
            before[t] = s;
            decision[t] = detector_step(k, double(cb[t]), s);
        }
        double g1 = grad_final_state ? grad_final_state[2 * b] : 0.0;
        double g = grad_final_state ? grad_final_state[2 * b + 1] : 0.0;
        detector_step_grads sums;
        const T* gy = grad_y.row(b);
        for (std::size_t t = n; t-- > 0;) {
            g += double(gy[t]);
            const double gc = detector_adjoint_step(k, double(cb[t]), before[t], decision[t] != 0, g1, g, sums);
            if (grad_c) grad_c[b * n + t] = T(gc);
        }
        store_row(grads.attack, b, sums.attack);
        store_row(grads.release, b, sums.release);
        if (grads.zi) {
            grads.zi[2 * b] = g1;
            grads.zi[2 * b + 1] = g;
        }
    });
}

// ------------------------------------------------------------------------------------------------
// Feedback compressor

namespace {

template <class T> void check_feedback_params(const feedback_params<T>& p, std::size_t rows) {
    check_threshold_param(p.comp_thresh, rows, "comp_thresh");
    check_param(p.comp_ratio, rows, "comp_ratio", [](T v) { return v > T(1); }, "> 1");
    check_knee_param(p.knee, rows, "knee");
    check_coefficient(p.attack, rows, "attack");
    check_coefficient(p.release, rows, "release");
}

template <class T>
feedback_model row_model(const family_topology& topo, const feedback_params<T>& p, std::size_t b) {
    const compexp_curve<double> curve{double(p.comp_thresh[b]), double(p.comp_ratio[b]), -1000.0, 1.0,
                                      double(p.knee[b])};
    return {topo, {topo.design, double(p.attack[b]), double(p.release[b]), family_rest(topo)},
            prepared_curve<double>::from(curve)};
}

feedback_state initial_feedback(const state_in& zi, std::size_t b, double rest) {
    if (!zi.data) return {0.0, {rest, rest}};
    return {zi.data[3 * b], {zi.data[3 * b + 1], zi.data[3 * b + 2]}};
}

}  // namespace

template <class T>
void feedback_compressor_gain(signal_view<T> x, const family_topology& topology, const feedback_params<T>& p,
                              signal_span<T> gain, state_in zi, state_out final_state) {
    check_signal(x, "x");
    check_output(gain, x, "gain");
    check_feedback_params(p, x.rows);
    check_finite_state(zi, x.rows, 3);
    const std::size_t n = x.cols;
    detail::parallel_for(x.rows, [&](std::size_t b) {
        const feedback_model m = row_model(topology, p, b);
        feedback_state s = initial_feedback(zi, b, m.det.rest);
        const T* xb = x.row(b);
        T* gb = gain.row(b);
        for (std::size_t t = 0; t < n; ++t) gb[t] = T(feedback_step(m, double(xb[t]), s).gain);
        if (final_state.data) {
            final_state.data[3 * b] = s.o;
            final_state.data[3 * b + 1] = s.e.y1;
            final_state.data[3 * b + 2] = s.e.y;
        }
    });
}

template <class T>
void feedback_compressor_gain_backward(signal_view<T> x, const family_topology& topology, const feedback_params<T>& p,
                                       signal_view<T> grad_gain, T* grad_x, const feedback_grads<T>& grads,
                                       state_in zi, const double* grad_final_state) {
    check_signal(x, "x");
    check_same_shape(grad_gain, x, "grad_gain");
    check_feedback_params(p, x.rows);
    check_finite_state(zi, x.rows, 3);
    const std::size_t n = x.cols;
    detail::parallel_for(x.rows, [&](std::size_t b) {
        const feedback_model m = row_model(topology, p, b);
        const T* xb = x.row(b);
        std::vector<feedback_state> before(n);
        feedback_state s = initial_feedback(zi, b, m.det.rest);
        for (std::size_t t = 0; t < n; ++t) {
            before[t] = s;
            feedback_step(m, double(xb[t]), s);
        }
        const double* gf = grad_final_state ? grad_final_state + 3 * b : nullptr;
        double go = gf ? gf[0] : 0.0, g1 = gf ? gf[1] : 0.0, g = gf ? gf[2] : 0.0;
        feedback_sums sums;
        const T* gg = grad_gain.row(b);
        for (std::size_t t = n; t-- > 0;) {
            const double gx = feedback_adjoint_step(m, double(xb[t]), before[t], double(gg[t]), go, g1, g, sums);
            if (grad_x) grad_x[b * n + t] = T(gx);
        }
        store_row(grads.comp_thresh, b, sums.comp_thresh);
        store_row(grads.comp_ratio, b, sums.comp_ratio);
        store_row(grads.knee, b, sums.knee);
        store_row(grads.attack, b, sums.det.attack);
        store_row(grads.release, b, sums.det.release);
        if (grads.zi) {
            grads.zi[3 * b] = go;
            grads.zi[3 * b + 1] = g1;
            grads.zi[3 * b + 2] = g;
        }
    });
}

#define DD_INSTANTIATE(T)                                                                                          \
    template void peak_detector<T>(signal_view<T>, detector_design, row_param<T>, row_param<T>, double,           \
                                   signal_span<T>, state_in, state_out);                                          \
    template void peak_detector_backward<T>(signal_view<T>, detector_design, row_param<T>, row_param<T>, double,  \
                                            signal_view<T>, T*, const peak_detector_grads<T>&, state_in,          \
                                            const double*);                                                       \
    template void feedback_compressor_gain<T>(signal_view<T>, const family_topology&, const feedback_params<T>&,  \
                                              signal_span<T>, state_in, state_out);                               \
    template void feedback_compressor_gain_backward<T>(signal_view<T>, const family_topology&,                    \
                                                       const feedback_params<T>&, signal_view<T>, T*,             \
                                                       const feedback_grads<T>&, state_in, const double*);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
