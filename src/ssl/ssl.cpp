// SSL bus compressor: knob presets, validation, the batch entry points (validate once, then the
// per-row kernels of ssl_model.hpp on rows in parallel) and the streaming processors, which run the
// same per-row kernels on their channels. Derivations: docs/derivations/ssl.md.
#include "differential_dynamics/ssl.hpp"

#include <cmath>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "core/parallel.hpp"
#include "core/validate.hpp"
#include "ssl/ssl_derivatives.hpp"
#include "ssl/ssl_model.hpp"

namespace dd {

// ------------------------------------------------------------------------------------------------
// Knob presets

namespace {
template <std::size_t N> bool is_position(double v, const double (&positions)[N]) {
    for (double q : positions)
        if (std::fabs(v - q) <= 1e-9 * q) return true;
    return false;
}
template <std::size_t N> std::string list_positions(const double (&positions)[N]) {
    std::ostringstream s;
    for (std::size_t i = 0; i < N; ++i) s << (i ? ", " : "") << positions[i];
    return s.str();
}
std::string number_text(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

/// The circuit of an attack resistor and a release shunt (ssl_release_auto: the two auto shunts).
ssl_knob_params circuit_params(double attack_ohms, double release_ohms, double ratio, double fs) {
    ssl_knob_params k;
    k.comp_ratio = ratio;
    k.T_attack_fast = attack_ohms * ssl_cap_fast;
    if (release_ohms == ssl_release_auto) {
        k.T_attack_slow = attack_ohms * ssl_cap_slow;
        k.T_shunt_fast = ssl_auto_shunt_fast * ssl_cap_fast;
        k.T_shunt_slow = ssl_auto_shunt_slow * ssl_cap_slow;
    } else {
        // Single shunt on the fast capacitor; the slow capacitor is bypassed (never charged, and any
        // charge leaves within a sample).
        k.T_attack_slow = ssl_bypassed_attack_slow;
        k.T_shunt_fast = release_ohms * ssl_cap_fast;
        k.T_shunt_slow = 1.0 / fs;
    }
    return k;
}

/// The resistor at `value` on a front-panel scale: a position's own resistor at a position, else
/// log(R) linear in log(value) between the two neighbouring positions.
template <std::size_t N>
double panel_resistor(double value, const double (&labels)[N], const double (&ohms)[N], const char* name,
                      const char* unit) {
    if (!std::isfinite(value) || value < labels[0] * (1 - 1e-9) || value > labels[N - 1] * (1 + 1e-9))
        throw argument_error(name, "must be in [" + number_text(labels[0]) + ", " + number_text(labels[N - 1]) + "] " +
                                       unit + ", the front panel's range (got " + number_text(value) + ")");
    for (std::size_t i = 0; i < N; ++i)
        if (std::fabs(value - labels[i]) <= 1e-9 * labels[i]) return ohms[i];
    std::size_t i = 0;
    while (value > labels[i + 1]) ++i;
    const double w = std::log(value / labels[i]) / std::log(labels[i + 1] / labels[i]);
    return ohms[i] * std::exp(w * std::log(ohms[i + 1] / ohms[i]));
}
}  // namespace

ssl_knob_params ssl_preset(double attack_ohms, double release_ohms, double ratio, double fs) {
    if (!std::isfinite(fs) || !(fs > 0)) throw argument_error("fs", "sample rate must be a finite number > 0");
    if (!is_position(attack_ohms, ssl_attack_ohms_positions))
        throw argument_error("attack_ohms", "must be one of the attack switch positions {" +
                                                list_positions(ssl_attack_ohms_positions) + "} ohms");
    const bool is_auto = release_ohms == ssl_release_auto;
    if (!is_auto && !is_position(release_ohms, ssl_release_ohms_positions))
        throw argument_error("release_ohms", "must be 0 (auto) or one of the release switch positions {" +
                                                 list_positions(ssl_release_ohms_positions) + "} ohms");
    if (!is_position(ratio, ssl_ratio_positions))
        throw argument_error("ratio", "must be one of the ratio switch positions {" +
                                          list_positions(ssl_ratio_positions) + "}");
    return circuit_params(attack_ohms, release_ohms, ratio, fs);
}

double ssl_attack_ohms(double attack_ms) {
    return panel_resistor(attack_ms, ssl_attack_ms_positions, ssl_attack_ohms_positions, "attack_ms", "ms");
}
double ssl_release_ohms(double release_s) {
    return panel_resistor(release_s, ssl_release_s_positions, ssl_release_ohms_positions, "release_s", "s");
}

ssl_knob_params ssl_front_panel(double attack_ms, double release_s, double ratio, double fs) {
    if (!std::isfinite(fs) || !(fs > 0)) throw argument_error("fs", "sample rate must be a finite number > 0");
    const double attack = ssl_attack_ohms(attack_ms);
    const double release = release_s == ssl_release_auto ? ssl_release_auto : ssl_release_ohms(release_s);
    if (!std::isfinite(ratio) || !(ratio > 1))
        throw argument_error("ratio", "must be a finite number > 1 (got " + number_text(ratio) + ")");
    return circuit_params(attack, release, ratio, fs);
}

// ------------------------------------------------------------------------------------------------
// Batch entry points

template <class T> void check_ssl_params(const ssl_params<T>& p, std::size_t rows) {
    if (!std::isfinite(p.fs) || !(p.fs > 0))
        throw argument_error("fs", "sample rate must be a finite number > 0 (got " + std::to_string(p.fs) + ")");
    check_threshold_param(p.comp_thresh, rows, "comp_thresh");
    check_param(p.comp_ratio, rows, "comp_ratio", [](T v) { return v > T(1); }, "> 1");
    const double fs = p.fs;
    // A time constant below 1e−9 sample periods makes the operators' arithmetic overflow.
    auto positive_time = [fs](T v) { return v > T(0) && double(v) * fs >= 1e-9; };
    const char* requirement = "> 0 seconds (and at least 1e-9 sample periods)";
    check_param(p.T_attack_fast, rows, "T_attack_fast", positive_time, requirement);
    check_param(p.T_attack_slow, rows, "T_attack_slow", positive_time, requirement);
    check_param(p.T_shunt_fast, rows, "T_shunt_fast", positive_time, requirement);
    check_param(p.T_shunt_slow, rows, "T_shunt_slow", positive_time, requirement);
    check_param(p.feedback_coeff, rows, "feedback_coeff", [](T v) { return v >= T(0) && v <= T(1); }, "in [0, 1]");
    check_knee_param(p.knee, rows, "knee");
    // gate_k: in (0, max_gate_k] (1/dB), or +∞ for the hard gate (its limit).
    const basic_row_param<T>& k = p.gate_k;
    if (k.per_row() && k.count() != rows)
        throw argument_error("gate_k", "has " + std::to_string(k.count()) + " values but the signal has " +
                                           std::to_string(rows) + " rows (need 1 or one per row)");
    for (std::size_t b = 0; b < (k.per_row() ? rows : 1); ++b)
        if (!(k[b] > T(0) && (double(k[b]) <= max_gate_k || std::isinf(k[b]))))  // NaN fails too
            throw argument_error("gate_k", "must be in (0, 1e6] (1/dB), or infinity for the hard gate " +
                                               validation::describe(k[b], b, "row"));
}

namespace {

/// A batch call's initial state: finite values (any sign: the capacitor voltages are in dB).
void check_ssl_state(const state_in& zi, std::size_t rows) {
    check_state(zi, rows, 2, "zi", [](double, std::size_t) { return true; }, "finite");
}

const double* row_state(const state_in& zi, std::size_t b) { return zi.data ? zi.data + 2 * b : nullptr; }

/// Runs the forward of row b into `scratch` if the caller did not keep the forward's tape.
template <class Level>
const double* row_tape(const ssl_model& m, const Level& level, std::size_t n, const double* tape, std::size_t b,
                       const ssl_state& initial, std::vector<double>& scratch) {
    if (tape) return tape + 2 * n * b;
    scratch.resize(2 * n);
    ssl_state s = initial;
    ssl_forward_row<double>(m, level, n, s, nullptr, scratch.data());
    return scratch.data();
}

template <class T> void store_grads(const ssl_param_grads<T>& grads, std::size_t b, const ssl_row_grads& g) {
    store_row(grads.comp_thresh, b, g.comp_thresh);
    store_row(grads.comp_ratio, b, g.comp_ratio);
    store_row(grads.T_attack_fast, b, g.T_attack_fast);
    store_row(grads.T_attack_slow, b, g.T_attack_slow);
    store_row(grads.T_shunt_fast, b, g.T_shunt_fast);
    store_row(grads.T_shunt_slow, b, g.T_shunt_slow);
    store_row(grads.feedback_coeff, b, g.feedback_coeff);
    store_row(grads.knee, b, g.knee);
    store_row(grads.gate_k, b, g.gate_k);
}

/// A row's gradients from the hard gate's adjoint or the soft gate's.
template <class Level, class GradOut, class Pull>
ssl_row_grads row_adjoint(const ssl_model& m, const ssl_zoh_derivatives& da, const ssl_zoh_derivatives& dr,
                          const Level& level, const GradOut& grad_out, Pull&& pull, std::size_t n, const double* states,
                          const ssl_state& initial, const double* grad_final, double* grad_initial) {
    if (ssl_is_hard_gate(m))
        return ssl_adjoint_row(m, da, dr, level, grad_out, pull, n, states, initial, grad_final, grad_initial);
    double gk = 0;
    ssl_row_grads g = ssl_soft_adjoint_row(m, level, grad_out, pull, n, states, initial, grad_final, grad_initial, gk);
    g.gate_k = gk;
    return g;
}

/// One row's tangents (or cotangents) in the model's coordinates: ṡ = ĊR/CR², Ṙ_q = −R_q²·Ṫ_q.
template <class T> ssl_row_tangents model_tangents(const ssl_param_tangents<T>& v, std::size_t b, const ssl_model& m) {
    auto at = [b](const T* p) { return p ? double(p[b]) : 0.0; };
    ssl_row_tangents r;
    r.ct = at(v.comp_thresh);
    r.slope = at(v.comp_ratio) / (m.comp_ratio * m.comp_ratio);
    r.knee = at(v.knee);
    r.fb = at(v.feedback_coeff);
    const double rates[4] = {m.rates.af, m.rates.as, m.rates.sf, m.rates.ss};
    const T* tangents[4] = {v.T_attack_fast, v.T_attack_slow, v.T_shunt_fast, v.T_shunt_slow};
    for (int q = 0; q < 4; ++q) r.rates[q] = -rates[q] * rates[q] * at(tangents[q]);
    r.gate_k = at(v.gate_k);
    return r;
}

/// The second order's user-coordinate gradients: the model's, chained, plus the derivatives of the
/// chain factors themselves (d(1/CR²)/dCR = −2/CR³, d(−R²)/dT = 2R³) times the first-order sums.
template <class T>
void store_second_order(const ssl_param_grads<T>& out, std::size_t b, const ssl_model& m, const ssl_param_tangents<T>& v,
                        const ssl_row_second& r) {
    auto at = [b](const T* p) { return p ? double(p[b]) : 0.0; };
    const double cr = m.comp_ratio;
    store_row(out.comp_thresh, b, r.ct);
    store_row(out.comp_ratio, b, r.slope / (cr * cr) - 2.0 * at(v.comp_ratio) * r.first_slope / (cr * cr * cr));
    store_row(out.knee, b, r.knee);
    store_row(out.feedback_coeff, b, r.fb);
    store_row(out.gate_k, b, 0.0);
    const double rates[4] = {m.rates.af, m.rates.as, m.rates.sf, m.rates.ss};
    const T* tangents[4] = {v.T_attack_fast, v.T_attack_slow, v.T_shunt_fast, v.T_shunt_slow};
    T* grads[4] = {out.T_attack_fast, out.T_attack_slow, out.T_shunt_fast, out.T_shunt_slow};
    for (int q = 0; q < 4; ++q) {
        const double R = rates[q];
        store_row(grads[q], b, -R * R * r.rates[q] + at(tangents[q]) * 2.0 * R * R * R * r.first_rates[q]);
    }
}

/// ssl_second_order_row_curve for the row's curve.
template <class... Args> ssl_row_second second_order_row(const ssl_model& m, Args&&... args) {
    if (m.knee == 0.0) return ssl_second_order_row_curve<true>(m, std::forward<Args>(args)...);
    return ssl_second_order_row_curve<false>(m, std::forward<Args>(args)...);
}

/// Second derivatives exist for the hard gate only.
template <class T> void check_no_soft_gate(const ssl_params<T>& p, std::size_t rows) {
    for (std::size_t b = 0; b < (p.gate_k.per_row() ? rows : 1); ++b)
        if (!std::isinf(double(p.gate_k[b])))
            throw argument_error("gate_k", "second derivatives of the soft gate are not supported (first-order "
                                           "gradients and forward mode are); use the hard gate (gate_k = inf)");
}

template <class T> void check_tangents(const ssl_param_tangents<T>& v, std::size_t rows, const char* what) {
    const T* ptrs[9] = {v.comp_thresh,  v.comp_ratio,     v.T_attack_fast, v.T_attack_slow, v.T_shunt_fast,
                        v.T_shunt_slow, v.feedback_coeff, v.knee,          v.gate_k};
    static const char* names[9] = {"comp_thresh",  "comp_ratio",     "T_attack_fast", "T_attack_slow", "T_shunt_fast",
                                   "T_shunt_slow", "feedback_coeff", "knee",          "gate_k"};
    for (int i = 0; i < 9; ++i) {
        if (!ptrs[i]) continue;
        for (std::size_t b = 0; b < rows; ++b)
            if (!std::isfinite(ptrs[i][b]))
                throw argument_error(names[i], std::string(what) + " is NaN or Inf " + validation::describe(ptrs[i][b], b, "row"));
    }
}
void check_state_values(const double* v, std::size_t rows, const char* name) {
    if (!v) return;
    for (std::size_t i = 0; i < 2 * rows; ++i)
        if (!std::isfinite(v[i])) throw argument_error(name, "is NaN or Inf " + validation::describe(v[i], i, "flat index"));
}

void store_state(const state_out& out, std::size_t b, const ssl_state& s) {
    if (!out.data) return;
    out.data[2 * b] = s.x1;
    out.data[2 * b + 1] = s.x2;
}

/// One row of ssl_compress from state s: gain_db, y and (nullable) the tape.
template <class T>
void compress_row(const ssl_model& m, ssl_state& s, const T* x, const T* level_from, std::size_t n, T* gain_db, T* y,
                  double* tape) {
    for (std::size_t t = 0; t < n; ++t) {
        T g_out, y_out;
        ssl_compress_step(m, s, level_from[t], x[t], g_out, y_out);
        if (gain_db) gain_db[t] = g_out;
        y[t] = y_out;
        if (tape) {
            tape[2 * t] = s.x1;
            tape[2 * t + 1] = s.x2;
        }
    }
}

/// The checks every entry point starts with: the input `x` (named name), the parameters, the state.
template <class T>
void check_input_params_state(signal_view<T> x, const char* name, const ssl_params<T>& p, state_in zi) {
    check_signal(x, name);
    check_ssl_params(p, x.rows);
    check_ssl_state(zi, x.rows);
}

}  // namespace

template <class T>
void ssl_comp_gain(signal_view<T> x_peak_dB, const ssl_params<T>& p, signal_span<T> gain_db, double* tape, state_in zi,
                   state_out final_state) {
    check_input_params_state(x_peak_dB, "x_peak_dB", p, zi);
    check_output(gain_db, x_peak_dB, "gain_db");
    const std::size_t n = x_peak_dB.cols;
    detail::parallel_for(x_peak_dB.rows, [&](std::size_t b) {
        const ssl_model m = make_ssl_model(p.row(b), p.fs);
        const T* x = x_peak_dB.row(b);
        ssl_state s(row_state(zi, b));
        ssl_forward_row(m, [x](std::size_t t) { return double(x[t]); }, n, s, gain_db.row(b),
                        tape ? tape + 2 * n * b : nullptr);
        store_state(final_state, b, s);
    });
}

template <class T>
void ssl_comp_gain_backward(signal_view<T> x_peak_dB, const ssl_params<T>& p, const double* tape,
                            signal_view<T> grad_gain, T* grad_x_peak_dB, const ssl_param_grads<T>& grads, state_in zi,
                            const double* grad_final_state, double* grad_zi) {
    check_input_params_state(x_peak_dB, "x_peak_dB", p, zi);
    check_same_shape(grad_gain, x_peak_dB, "grad_gain");
    const std::size_t n = x_peak_dB.cols;
    detail::parallel_for(x_peak_dB.rows, [&](std::size_t b) {
        ssl_zoh_derivatives da, dr;
        const ssl_model m = make_ssl_model(p.row(b), p.fs, &da, &dr);
        const T* x = x_peak_dB.row(b);
        const T* gy = grad_gain.row(b);
        T* gx = grad_x_peak_dB ? grad_x_peak_dB + n * b : nullptr;
        auto level = [x](std::size_t t) { return double(x[t]); };
        const ssl_state initial(row_state(zi, b));
        std::vector<double> scratch;
        const double* row = row_tape(m, level, n, tape, b, initial, scratch);
        const ssl_row_grads g = row_adjoint(
            m, da, dr, level, [gy](std::size_t t) { return double(gy[t]); },
            [gx](std::size_t t, double v) {
                if (gx) gx[t] = T(v);
            },
            n, row, initial, grad_final_state ? grad_final_state + 2 * b : nullptr, grad_zi ? grad_zi + 2 * b : nullptr);
        store_grads(grads, b, g);
    });
}

template <class T>
void ssl_compress(signal_view<T> x, const ssl_params<T>& p, signal_span<T> gain_db, signal_span<T> y, double* tape,
                  state_in zi, state_out final_state) {
    check_input_params_state(x, "x", p, zi);
    check_output(gain_db, x, "gain_db");
    check_output(y, x, "y");
    const std::size_t n = x.cols;
    detail::parallel_for(x.rows, [&](std::size_t b) {
        const ssl_model m = make_ssl_model(p.row(b), p.fs);
        ssl_state s(row_state(zi, b));
        compress_row(m, s, x.row(b), x.row(b), n, gain_db.row(b), y.row(b), tape ? tape + 2 * n * b : nullptr);
        store_state(final_state, b, s);
    });
}

template <class T>
void ssl_compress_backward(signal_view<T> x, const ssl_params<T>& p, const double* tape, const T* grad_gain,
                           const T* grad_y, T* grad_x, const ssl_param_grads<T>& grads, state_in zi,
                           const double* grad_final_state, double* grad_zi) {
    check_input_params_state(x, "x", p, zi);
    const std::size_t n = x.cols;
    detail::parallel_for(x.rows, [&](std::size_t b) {
        ssl_zoh_derivatives da, dr;
        const ssl_model m = make_ssl_model(p.row(b), p.fs, &da, &dr);
        const T* xr = x.row(b);
        const T* gg = grad_gain ? grad_gain + n * b : nullptr;
        const T* gyr = grad_y ? grad_y + n * b : nullptr;
        T* gx = grad_x ? grad_x + n * b : nullptr;
        auto level = [xr](std::size_t t) { return ssl_audio_level(xr[t]); };
        const ssl_state initial(row_state(zi, b));
        std::vector<double> scratch;
        const double* row = row_tape(m, level, n, tape, b, initial, scratch);
        // y_t = db2amp(g_t)·x_t:  ∂y/∂g = y·ln10/20,  ∂y/∂x (direct) = db2amp(g_t).
        auto gain_at = [row](std::size_t t) { return row[2 * t] + row[2 * t + 1]; };
        auto grad_out = [&](std::size_t t) {
            double v = gg ? double(gg[t]) : 0.0;
            if (gyr) v += double(gyr[t]) * db2amp_raw(gain_at(t)) * double(xr[t]) * (ln10<double> / 20.0);
            return v;
        };
        auto pull = [&](std::size_t t, double g_level) {
            if (!gx) return;
            double v = g_level * ssl_audio_level_derivative(xr[t]);
            if (gyr) v += double(gyr[t]) * db2amp_raw(gain_at(t));
            gx[t] = T(v);
        };
        const ssl_row_grads g = row_adjoint(m, da, dr, level, grad_out, pull, n, row, initial,
                                                grad_final_state ? grad_final_state + 2 * b : nullptr,
                                                grad_zi ? grad_zi + 2 * b : nullptr);
        store_grads(grads, b, g);
    });
}

// ------------------------------------------------------------------------------------------------
// Forward mode and second order

namespace {
constexpr double kappa = ln10<double> / 20.0;  // d db2amp(g)/dg = κ·db2amp(g)
struct zero_level_tangent {
    double operator()(std::size_t) const { return 0.0; }
};
}  // namespace

template <class T>
void ssl_comp_gain_jvp(signal_view<T> x_peak_dB, const ssl_params<T>& p, const double* tape, const T* tangent_x,
                       const ssl_param_tangents<T>& tangents, signal_span<T> tangent_gain, state_in zi,
                       const double* tangent_zi, double* tangent_final_state) {
    check_input_params_state(x_peak_dB, "x_peak_dB", p, zi);
    check_output(tangent_gain, x_peak_dB, "tangent_gain");
    if (tangent_x) check_signal(signal_view<T>{tangent_x, x_peak_dB.rows, x_peak_dB.cols}, "tangent_x_peak_dB");
    check_tangents(tangents, x_peak_dB.rows, "tangent");
    check_state_values(tangent_zi, x_peak_dB.rows, "tangent_zi");
    const std::size_t n = x_peak_dB.cols;
    detail::parallel_for(x_peak_dB.rows, [&](std::size_t b) {
        ssl_zoh_derivatives da, dr;
        const ssl_model m = make_ssl_model(p.row(b), p.fs, &da, &dr);
        const T* x = x_peak_dB.row(b);
        auto level = [x](std::size_t t) { return double(x[t]); };
        const ssl_state initial(row_state(zi, b));
        std::vector<double> scratch;
        const double* row = row_tape(m, level, n, tape, b, initial, scratch);
        double tx[2] = {tangent_zi ? tangent_zi[2 * b] : 0.0, tangent_zi ? tangent_zi[2 * b + 1] : 0.0};
        T* out = tangent_gain.row(b);
        auto write = [out](std::size_t t, double a, double c) { out[t] = T(a + c); };
        const ssl_row_tangents v = model_tangents(tangents, b, m);
        if (tangent_x) {
            const T* dx = tangent_x + n * b;
            ssl_jvp_row(m, da, dr, level, [dx](std::size_t t) { return double(dx[t]); }, n, row, initial, v, tx, write);
        } else {
            ssl_jvp_row(m, da, dr, level, zero_level_tangent{}, n, row, initial, v, tx, write);
        }
        if (tangent_final_state) {
            tangent_final_state[2 * b] = tx[0];
            tangent_final_state[2 * b + 1] = tx[1];
        }
    });
}

template <class T>
void ssl_compress_jvp(signal_view<T> x, const ssl_params<T>& p, const double* tape, const T* tangent_x,
                      const ssl_param_tangents<T>& tangents, T* tangent_gain, T* tangent_y, state_in zi,
                      const double* tangent_zi, double* tangent_final_state) {
    check_input_params_state(x, "x", p, zi);
    if (tangent_x) check_signal(signal_view<T>{tangent_x, x.rows, x.cols}, "tangent_x");
    check_tangents(tangents, x.rows, "tangent");
    check_state_values(tangent_zi, x.rows, "tangent_zi");
    const std::size_t n = x.cols;
    detail::parallel_for(x.rows, [&](std::size_t b) {
        ssl_zoh_derivatives da, dr;
        const ssl_model m = make_ssl_model(p.row(b), p.fs, &da, &dr);
        const T* xr = x.row(b);
        const T* dx = tangent_x ? tangent_x + n * b : nullptr;
        auto level = [xr](std::size_t t) { return ssl_audio_level(xr[t]); };
        auto level_tangent = [xr, dx](std::size_t t) {
            return dx ? ssl_audio_level_derivative(xr[t]) * double(dx[t]) : 0.0;
        };
        const ssl_state initial(row_state(zi, b));
        std::vector<double> scratch;
        const double* row = row_tape(m, level, n, tape, b, initial, scratch);
        double tx[2] = {tangent_zi ? tangent_zi[2 * b] : 0.0, tangent_zi ? tangent_zi[2 * b + 1] : 0.0};
        T* tg = tangent_gain ? tangent_gain + n * b : nullptr;
        T* ty = tangent_y ? tangent_y + n * b : nullptr;
        // z_t = db2amp(g_t)·x_t:  ż = db2amp(g_t)·(ẋ_t + κ·x_t·ġ_t)
        auto write = [&](std::size_t t, double a, double c) {
            const double gd = a + c;
            if (tg) tg[t] = T(gd);
            if (ty) {
                const double amp = db2amp_raw(row[2 * t] + row[2 * t + 1]);
                ty[t] = T(amp * ((dx ? double(dx[t]) : 0.0) + kappa * double(xr[t]) * gd));
            }
        };
        ssl_jvp_row(m, da, dr, level, level_tangent, n, row, initial, model_tangents(tangents, b, m), tx, write);
        if (tangent_final_state) {
            tangent_final_state[2 * b] = tx[0];
            tangent_final_state[2 * b + 1] = tx[1];
        }
    });
}

namespace {
/// The checks both second-order entry points share: the input `x` (named x_name), parameters without
/// the soft gate, state, the cotangents (v_x named v_x_name) and grad_final_state.
template <class T>
void check_second_order_inputs(signal_view<T> x, const char* x_name, const ssl_params<T>& p, state_in zi, const T* v_x,
                               const char* v_x_name, const ssl_param_tangents<T>& v_params, const double* v_zi,
                               const double* grad_final_state) {
    check_input_params_state(x, x_name, p, zi);
    check_no_soft_gate(p, x.rows);
    if (v_x) check_signal(signal_view<T>{v_x, x.rows, x.cols}, v_x_name);
    check_tangents(v_params, x.rows, "cotangent");
    check_state_values(v_zi, x.rows, "v_zi");
    check_state_values(grad_final_state, x.rows, "grad_final_state");
}

/// Row b's model with the first and second derivatives of its ZOH operators (second order).
struct second_order_model {
    ssl_zoh_derivatives da, dr;
    ssl_zoh_second_derivatives da2, dr2;
    ssl_model m;
    template <class T>
    second_order_model(const ssl_params<T>& p, std::size_t b) : m(make_ssl_model(p.row(b), p.fs, &da, &dr)) {
        ssl_attack_zoh_second(m.rates, m.Ts, da2);
        ssl_release_zoh_second(m.rates, m.Ts, dr2);
    }
};
}  // namespace

template <class T>
void ssl_comp_gain_backward_backward(signal_view<T> x_peak_dB, const ssl_params<T>& p, const double* tape,
                                     signal_view<T> grad_gain, const T* v_x_peak_dB,
                                     const ssl_param_tangents<T>& v_params, T* d_grad_gain, T* d_x_peak_dB,
                                     const ssl_param_grads<T>& d_params, state_in zi, const double* grad_final_state,
                                     const double* v_zi, double* d_grad_final_state, double* d_zi) {
    check_second_order_inputs(x_peak_dB, "x_peak_dB", p, zi, v_x_peak_dB, "v_x_peak_dB", v_params, v_zi,
                              grad_final_state);
    check_same_shape(grad_gain, x_peak_dB, "grad_gain");
    const std::size_t n = x_peak_dB.cols;
    detail::parallel_for(x_peak_dB.rows, [&](std::size_t b) {
        const second_order_model sm(p, b);
        const ssl_model& m = sm.m;
        const T* x = x_peak_dB.row(b);
        const T* gy = grad_gain.row(b);
        const T* vx = v_x_peak_dB ? v_x_peak_dB + n * b : nullptr;
        T* dgy = d_grad_gain ? d_grad_gain + n * b : nullptr;
        T* dx = d_x_peak_dB ? d_x_peak_dB + n * b : nullptr;
        auto level = [x](std::size_t t) { return double(x[t]); };
        auto level_tangent = [vx](std::size_t t) { return vx ? double(vx[t]) : 0.0; };
        const ssl_state initial(row_state(zi, b));
        std::vector<double> scratch;
        const double* row = row_tape(m, level, n, tape, b, initial, scratch);
        std::vector<double> work(2 * n);
        const ssl_row_tangents v = model_tangents(v_params, b, m);
        const ssl_row_second r = second_order_row(
            m, sm.da, sm.dr, sm.da2, sm.dr2, level, level_tangent, [gy](std::size_t t) { return double(gy[t]); },
            [](std::size_t, double) { return 0.0; },
            [dgy](std::size_t t, double a, double c) {
                if (dgy) dgy[t] = T(a + c);
            },
            [dx](std::size_t t, double g, double) {
                if (dx) dx[t] = T(g);
            },
            n, row, initial, grad_final_state ? grad_final_state + 2 * b : nullptr, v, v_zi ? v_zi + 2 * b : nullptr,
            work.data(), d_grad_final_state ? d_grad_final_state + 2 * b : nullptr, d_zi ? d_zi + 2 * b : nullptr);
        store_second_order(d_params, b, m, v_params, r);
    });
}

template <class T>
void ssl_compress_backward_backward(signal_view<T> x, const ssl_params<T>& p, const double* tape, const T* grad_gain,
                                    const T* grad_y, const T* v_x, const ssl_param_tangents<T>& v_params,
                                    T* d_grad_gain, T* d_grad_y, T* d_x, const ssl_param_grads<T>& d_params,
                                    state_in zi, const double* grad_final_state, const double* v_zi,
                                    double* d_grad_final_state, double* d_zi) {
    check_second_order_inputs(x, "x", p, zi, v_x, "v_x", v_params, v_zi, grad_final_state);
    const std::size_t n = x.cols;
    detail::parallel_for(x.rows, [&](std::size_t b) {
        const second_order_model sm(p, b);
        const ssl_model& m = sm.m;
        const T* xr = x.row(b);
        const T* gg = grad_gain ? grad_gain + n * b : nullptr;
        const T* gz = grad_y ? grad_y + n * b : nullptr;
        const T* vx = v_x ? v_x + n * b : nullptr;
        T* dgg = d_grad_gain ? d_grad_gain + n * b : nullptr;
        T* dgz = d_grad_y ? d_grad_y + n * b : nullptr;
        T* dx = d_x ? d_x + n * b : nullptr;
        auto level = [xr](std::size_t t) { return ssl_audio_level(xr[t]); };
        auto level_tangent = [xr, vx](std::size_t t) {
            return vx ? ssl_audio_level_derivative(xr[t]) * double(vx[t]) : 0.0;
        };
        const ssl_state initial(row_state(zi, b));
        std::vector<double> scratch;
        const double* row = row_tape(m, level, n, tape, b, initial, scratch);
        auto amp_at = [row](std::size_t t) { return db2amp_raw(row[2 * t] + row[2 * t + 1]); };
        // The backward's upstream gradient of the gain: gy_t = gg_t + gz_t·κ·z_t, z_t = db2amp(g_t)·x_t.
        auto grad_out = [&](std::size_t t) {
            double v = gg ? double(gg[t]) : 0.0;
            if (gz) v += double(gz[t]) * kappa * amp_at(t) * double(xr[t]);
            return v;
        };
        // ż_t = db2amp(g_t)·(v_x,t + κ·x_t·ẏ_t); ℓ₂ holds gz_t·ż_t, whose derivative in g_t seeds ρ.
        auto z_dot = [&](std::size_t t, double yd) {
            return amp_at(t) * ((vx ? double(vx[t]) : 0.0) + kappa * double(xr[t]) * yd);
        };
        auto extra_seed = [&](std::size_t t, double yd) { return gz ? double(gz[t]) * kappa * z_dot(t, yd) : 0.0; };
        double y_dot = 0.0;  // ẏ_t of the step out_level is called for (out_tangent comes first)
        auto out_tangent = [&](std::size_t t, double a, double c) {
            y_dot = a + c;
            if (dgg) dgg[t] = T(y_dot);
            if (dgz) dgz[t] = T(z_dot(t, y_dot));
        };
        // x_t enters through the level ℓ(x_t), the level's tangent ℓ'(x_t)·v_x,t and ż_t.
        auto out_level = [&](std::size_t t, double g_level, double g_level_first) {
            if (!dx) return;
            double v = g_level * ssl_audio_level_derivative(xr[t]);
            if (vx) v += g_level_first * double(vx[t]) * ssl_audio_level_second_derivative(xr[t]);
            if (gz) v += double(gz[t]) * amp_at(t) * kappa * y_dot;
            dx[t] = T(v);
        };
        std::vector<double> work(2 * n);
        const ssl_row_tangents v = model_tangents(v_params, b, m);
        const ssl_row_second r = second_order_row(
            m, sm.da, sm.dr, sm.da2, sm.dr2, level, level_tangent, grad_out, extra_seed, out_tangent, out_level, n, row,
            initial, grad_final_state ? grad_final_state + 2 * b : nullptr, v, v_zi ? v_zi + 2 * b : nullptr, work.data(),
            d_grad_final_state ? d_grad_final_state + 2 * b : nullptr, d_zi ? d_zi + 2 * b : nullptr);
        store_second_order(d_params, b, m, v_params, r);
    });
}

// ------------------------------------------------------------------------------------------------
// Streaming

namespace {
template <class T> ssl_params<T> settings_params(const ssl_settings& s, double fs) {
    return {T(s.comp_thresh),  T(s.comp_ratio),   T(s.T_attack_fast), T(s.T_attack_slow), T(s.T_shunt_fast),
            T(s.T_shunt_slow), T(s.feedback_coeff), fs,               T(s.knee),
            T(s.gate_k)};
}
template <class T> void check_ssl_settings(const ssl_settings& s) { check_ssl_params(settings_params<T>(s, 44100.0), 1); }
void check_ssl_channel_state(const double* state) {
    for (int i = 0; i < 2; ++i)
        if (!std::isfinite(state[i])) throw argument_error("state", "must be finite");
}
/// The channels' models live in raw storage (ssl_model is private to the library).
void build_models(std::vector<unsigned char>& storage, const std::vector<ssl_settings>& settings, double fs,
                  bool as_float) {
    auto* models = reinterpret_cast<ssl_model*>(storage.data());
    for (std::size_t c = 0; c < settings.size(); ++c) {
        // The batch functions build the model from the parameters in T: the same rounding here.
        const ssl_row_params p = as_float ? settings_params<float>(settings[c], fs).row(0)
                                          : settings_params<double>(settings[c], fs).row(0);
        new (&models[c]) ssl_model(make_ssl_model(p, fs));
    }
}
}  // namespace

template <class T> void ssl_gain_processor<T>::check_settings(const ssl_settings& s) { check_ssl_settings<T>(s); }
template <class T> void ssl_gain_processor<T>::check_state(const double* state) { check_ssl_channel_state(state); }
template <class T> void ssl_gain_processor<T>::on_prepare() {
    models_.assign(this->spec_.channels * sizeof(ssl_model), 0);
}
template <class T> void ssl_gain_processor<T>::on_settings() {
    build_models(models_, this->settings_, this->spec_.fs, sizeof(T) == sizeof(float));
}
template <class T> void ssl_gain_processor<T>::process(const T* const* x_peak_dB, T* const* gain_db, std::size_t n) {
    this->check();
    if (n == 0) return;
    const auto* models = reinterpret_cast<const ssl_model*>(models_.data());
    for (std::size_t c = 0; c < this->spec_.channels; ++c) {
        const T* x = x_peak_dB[c];
        check_signal(signal_view<T>{x, 1, n}, "x_peak_dB");
        double* st = this->state_.data() + 2 * c;
        ssl_state s(st);
        ssl_forward_row(models[c], [x](std::size_t t) { return double(x[t]); }, n, s, gain_db[c], nullptr);
        st[0] = s.x1;
        st[1] = s.x2;
    }
}

template <class T> void ssl_processor<T>::check_settings(const ssl_settings& s) { check_ssl_settings<T>(s); }
template <class T> void ssl_processor<T>::check_state(const double* state) { check_ssl_channel_state(state); }
template <class T> void ssl_processor<T>::on_prepare() { models_.assign(this->spec_.channels * sizeof(ssl_model), 0); }
template <class T> void ssl_processor<T>::on_settings() {
    build_models(models_, this->settings_, this->spec_.fs, sizeof(T) == sizeof(float));
}
template <class T>
void ssl_processor<T>::process(const T* const* x, T* const* y, std::size_t n, T* const* gain_db,
                               const T* const* sidechain) {
    this->check();
    if (n == 0) return;
    const auto* models = reinterpret_cast<const ssl_model*>(models_.data());
    for (std::size_t c = 0; c < this->spec_.channels; ++c) {
        check_signal(signal_view<T>{x[c], 1, n}, "x");
        if (sidechain) check_signal(signal_view<T>{sidechain[c], 1, n}, "sidechain");
        double* st = this->state_.data() + 2 * c;
        ssl_state s(st);
        compress_row(models[c], s, x[c], sidechain ? sidechain[c] : x[c], n, gain_db ? gain_db[c] : nullptr, y[c],
                     nullptr);
        st[0] = s.x1;
        st[1] = s.x2;
    }
}

#define DD_INSTANTIATE(T)                                                                                           \
    template void check_ssl_params<T>(const ssl_params<T>&, std::size_t);                                          \
    template void ssl_comp_gain<T>(signal_view<T>, const ssl_params<T>&, signal_span<T>, double*, state_in,        \
                                   state_out);                                                                     \
    template void ssl_comp_gain_backward<T>(signal_view<T>, const ssl_params<T>&, const double*, signal_view<T>,   \
                                            T*, const ssl_param_grads<T>&, state_in, const double*, double*);      \
    template void ssl_compress<T>(signal_view<T>, const ssl_params<T>&, signal_span<T>, signal_span<T>, double*,   \
                                  state_in, state_out);                                                            \
    template void ssl_compress_backward<T>(signal_view<T>, const ssl_params<T>&, const double*, const T*, const T*, \
                                           T*, const ssl_param_grads<T>&, state_in, const double*, double*);       \
    template void ssl_comp_gain_jvp<T>(signal_view<T>, const ssl_params<T>&, const double*, const T*,              \
                                       const ssl_param_tangents<T>&, signal_span<T>, state_in, const double*,      \
                                       double*);                                                                   \
    template void ssl_compress_jvp<T>(signal_view<T>, const ssl_params<T>&, const double*, const T*,               \
                                      const ssl_param_tangents<T>&, T*, T*, state_in, const double*, double*);     \
    template void ssl_comp_gain_backward_backward<T>(signal_view<T>, const ssl_params<T>&, const double*,          \
                                                     signal_view<T>, const T*, const ssl_param_tangents<T>&, T*,   \
                                                     T*, const ssl_param_grads<T>&, state_in, const double*,      \
                                                     const double*, double*, double*);                             \
    template void ssl_compress_backward_backward<T>(signal_view<T>, const ssl_params<T>&, const double*, const T*, \
                                                    const T*, const T*, const ssl_param_tangents<T>&, T*, T*, T*,  \
                                                    const ssl_param_grads<T>&, state_in, const double*,            \
                                                    const double*, double*, double*);                              \
    template class ssl_gain_processor<T>;                                                                          \
    template class ssl_processor<T>;
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
