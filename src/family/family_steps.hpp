// The model family's per-sample steps in double and their adjoint steps (decisions held fixed):
// the four peak-detector designs and the feedback compressor's step. The per-row kernels of
// family.cpp run these forward, record the state before every step, and run the adjoint steps
// backward from the recorded states. Derivation of every formula: docs/derivations/family.md.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "core/conversions_math.hpp"
#include "curve/curve_math.hpp"
#include "differential_dynamics/family.hpp"

DD_ARCH_BEGIN

// ------------------------------------------------------------------------------------------------
// Peak detectors

struct detector_state {
    double y1, y;  // the decoupled designs' release stage, the output (branching designs: y1 = y)
};

struct detector_coeffs {
    detector_design design;
    double attack, release, rest;
};

inline bool is_smooth(detector_design d) {
    return d == detector_design::smooth_branching || d == detector_design::smooth_decoupled;
}
inline bool is_decoupled(detector_design d) {
    return d == detector_design::decoupled || d == detector_design::smooth_decoupled;
}

/// One step on input c; returns the decision (branching: attack, c > y; decoupled: the release stage
/// took the input, c > its candidate).
inline bool detector_step(const detector_coeffs& k, double c, detector_state& s) {
    if (!is_decoupled(k.design)) {
        const bool attack = c > s.y;
        const double target = (attack || is_smooth(k.design)) ? c : k.rest;
        s.y += (attack ? k.attack : k.release) * (target - s.y);
        s.y1 = s.y;
        return attack;
    }
    const double candidate = s.y1 + k.release * ((is_smooth(k.design) ? c : k.rest) - s.y1);
    const bool took = c > candidate;
    s.y1 = took ? c : candidate;
    s.y += k.attack * (s.y1 - s.y);
    return took;
}

/// Partial sums of one adjoint step.
struct detector_step_grads {
    double c = 0, attack = 0, release = 0;
};

/// Adjoint of detector_step from state `before` with the recorded decision: (g1, g) holds ∂ℓ/∂(y1, y)
/// after the step on entry and ∂ℓ/∂(y1, y) before it on return; returns ∂ℓ/∂c and adds the
/// coefficient terms to `sums`.
inline double detector_adjoint_step(const detector_coeffs& k, double c, const detector_state& before, bool decision,
                                    double& g1, double& g, detector_step_grads& sums) {
    double gc = 0;
    if (!is_decoupled(k.design)) {
        const double gy = g + g1;  // y1 is a copy of y
        const bool smooth = is_smooth(k.design);
        const double target = (decision || smooth) ? c : k.rest;
        const double beta = decision ? k.attack : k.release;
        (decision ? sums.attack : sums.release) += gy * (target - before.y);
        if (decision || smooth) gc = gy * beta;
        g = gy * (1.0 - beta);
        g1 = 0;
        return gc;
    }
    const double z = is_smooth(k.design) ? c : k.rest;
    const double y1 = decision ? c : before.y1 + k.release * (z - before.y1);
    sums.attack += g * (y1 - before.y);
    const double gy1 = g1 + g * k.attack;
    g = g * (1.0 - k.attack);
    if (decision) {
        gc = gy1;
        g1 = 0;
    } else {
        sums.release += gy1 * (z - before.y1);
        if (is_smooth(k.design)) gc = gy1 * k.release;
        g1 = gy1 * (1.0 - k.release);
    }
    return gc;
}

// ------------------------------------------------------------------------------------------------
// Feedback compressor

/// Level in dB of a detector value u (|o| or o²): (20/p)·log10(max(u, 1e-7^p)); dlevel = ∂/∂u.
struct level_of {
    double value, d_u;
};
inline level_of family_level(double u, bool rms) {
    const double floor = rms ? 1e-14 : 1e-7;
    const double scale = rms ? 10.0 : 20.0;
    if (!(u > floor)) return {scale * std::log10(floor), 0.0};
    return {scale * std::log10(u), scale / (ln10<double> * u)};
}

struct feedback_state {
    double o;  // the previous output sample (before makeup)
    detector_state e;
};

struct feedback_model {
    family_topology topo;
    detector_coeffs det;
    prepared_curve<double> curve;
};

/// Everything one step computes, for the adjoint.
struct feedback_step_values {
    double u, c, level, gain_db, gain;
    bool decision;
    curve_partials<double> dg;
    level_of lu, le;  // L at u and (level ballistics, linear) at e
};

inline double detector_value(double o, bool rms) { return rms ? o * o : std::fabs(o); }

/// One step on audio sample x from state s: returns G_t and updates s (o ← x·G).
inline feedback_step_values feedback_step(const feedback_model& m, double x, feedback_state& s) {
    feedback_step_values v{};
    const bool rms = m.topo.detector == family_detector::rms;
    const bool log_domain = m.topo.domain == ballistics_domain::log;
    v.u = detector_value(s.o, rms);
    v.lu = family_level(v.u, rms);
    if (m.topo.placement == ballistics_placement::level) {
        v.c = log_domain ? v.lu.value : v.u;
        v.decision = detector_step(m.det, v.c, s.e);
        if (log_domain) {
            v.level = s.e.y;
        } else {
            v.le = family_level(s.e.y, rms);
            v.level = v.le.value;
        }
        v.gain_db = compexp_gain_db(m.curve, v.level, v.dg);
        v.gain = db2amp_raw(v.gain_db);
    } else {
        v.level = v.lu.value;
        v.gain_db = compexp_gain_db(m.curve, v.level, v.dg);
        v.c = log_domain ? -v.gain_db : 1.0 - db2amp_raw(v.gain_db);
        v.decision = detector_step(m.det, v.c, s.e);
        v.gain = log_domain ? db2amp_raw(-s.e.y) : 1.0 - s.e.y;
    }
    s.o = x * v.gain;
    return v;
}

/// Per-row parameter sums of the feedback adjoint.
struct feedback_sums {
    double comp_thresh = 0, comp_ratio = 0, knee = 0;
    detector_step_grads det;
};

/// Adjoint of feedback_step from state `before`: (go, g1, g) is ∂ℓ/∂(o, y1, y) after the step on
/// entry and before it on return; g_gain is ∂ℓ/∂G_t from outside. Returns ∂ℓ/∂x_t.
inline double feedback_adjoint_step(const feedback_model& m, double x, const feedback_state& before, double g_gain,
                                    double& go, double& g1, double& g, feedback_sums& sums) {
    feedback_state s = before;
    const feedback_step_values v = feedback_step(m, x, s);  // the same bits as the forward's step
    const bool rms = m.topo.detector == family_detector::rms;
    const bool log_domain = m.topo.domain == ballistics_domain::log;
    const double gx = go * v.gain;
    const double gG = g_gain + go * x;  // o_t = x_t·G_t
    auto curve_adjoint = [&](double g_gain_db) {
        sums.comp_thresh += g_gain_db * v.dg.comp_thresh;
        sums.comp_ratio += g_gain_db * v.dg.comp_ratio;
        sums.knee += g_gain_db * v.dg.knee;
        return g_gain_db * v.dg.level;
    };
    double gu;
    if (m.topo.placement == ballistics_placement::level) {
        const double g_level = curve_adjoint(gG * v.gain * (ln10<double> / 20.0));
        g += log_domain ? g_level : g_level * v.le.d_u;
        const double gc = detector_adjoint_step(m.det, v.c, before.e, v.decision, g1, g, sums.det);
        gu = log_domain ? gc * v.lu.d_u : gc;
    } else {
        g += log_domain ? -gG * v.gain * (ln10<double> / 20.0) : -gG;
        const double gc = detector_adjoint_step(m.det, v.c, before.e, v.decision, g1, g, sums.det);
        const double g_gain_db = log_domain ? -gc : -gc * db2amp_raw(v.gain_db) * (ln10<double> / 20.0);
        gu = curve_adjoint(g_gain_db) * v.lu.d_u;
    }
    // u = |o| (derivative sign(o), 0 at 0) or o²
    go = rms ? gu * 2.0 * before.o : (before.o > 0 ? gu : before.o < 0 ? -gu : 0.0);
    return gx;
}

DD_ARCH_END
