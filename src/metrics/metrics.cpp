// Metrics on gain traces and audio (docs/reference/probes_metrics.md). Plain loops: these run once
// per evaluation, never inside a fit's inner loop.
#include "differential_dynamics/metrics.hpp"

#include <cmath>
#include <sstream>

namespace dd {
namespace {

void check_series(const double* x, std::size_t n, const char* name) {
    if (n == 0) throw argument_error(name, "is empty (need at least one sample)");
    if (x == nullptr) throw argument_error(name, "null data pointer");
    for (std::size_t t = 0; t < n; ++t)
        if (!std::isfinite(x[t])) {
            std::ostringstream s;
            s << "contains NaN or Inf (got " << x[t] << " at " << t << ")";
            throw argument_error(name, s.str());
        }
}

/// level_db may be null (every sample active) or may hold −inf (silence, inactive), but not NaN.
void check_levels(const double* level_db, std::size_t n) {
    if (level_db == nullptr) return;
    for (std::size_t t = 0; t < n; ++t)
        if (std::isnan(level_db[t]) || level_db[t] == HUGE_VAL) {
            std::ostringstream s;
            s << "contains NaN or +Inf (got " << level_db[t] << " at " << t << ")";
            throw argument_error("level_db", s.str());
        }
}

bool active(const double* level_db, std::size_t t) { return level_db == nullptr || level_db[t] > active_floor_db; }

void check_rate(double fs) {
    if (!(std::isfinite(fs) && fs > 0.0)) throw argument_error("fs", "must be finite and > 0");
}

}  // namespace

double gain_rmse_db(const double* gain_a_db, const double* gain_b_db, const double* level_db, std::size_t n) {
    check_series(gain_a_db, n, "gain_a_db");
    check_series(gain_b_db, n, "gain_b_db");
    check_levels(level_db, n);
    double sum = 0.0;
    std::size_t count = 0;
    for (std::size_t t = 0; t < n; ++t)
        if (active(level_db, t)) {
            const double d = gain_a_db[t] - gain_b_db[t];
            sum += d * d;
            ++count;
        }
    if (count == 0) throw argument_error("level_db", "no active sample (every level is at or below -100 dB)");
    return std::sqrt(sum / double(count));
}

double rise_time_63(const double* trace, std::size_t n, std::size_t edge, double fs) {
    check_series(trace, n, "trace");
    check_rate(fs);
    if (edge < 1 || edge >= n) throw argument_error("edge", "must be in [1, n - 1] (a sample before and after the step)");
    const double v0 = trace[edge - 1], v1 = trace[n - 1];
    if (v1 == v0) throw argument_error("trace", "has no step: its last value equals its value before the edge");
    const double target = 1.0 - std::exp(-1.0);
    for (std::size_t t = edge; t < n; ++t)
        if ((trace[t] - v0) / (v1 - v0) >= target) return double(t - (edge - 1)) / fs;
    return double(n - edge) / fs;  // not reached: the last sample reaches 100 %
}

double near_threshold_occupancy(const double* level_db, std::size_t n, double threshold_db, double half_width_db) {
    if (n == 0) throw argument_error("level_db", "is empty (need at least one sample)");
    if (level_db == nullptr) throw argument_error("level_db", "null data pointer");
    check_levels(level_db, n);
    if (!std::isfinite(threshold_db)) throw argument_error("threshold_db", "must be finite");
    if (!(std::isfinite(half_width_db) && half_width_db >= 0.0)) throw argument_error("half_width_db", "must be finite and >= 0");
    std::size_t near = 0, count = 0;
    for (std::size_t t = 0; t < n; ++t)
        if (active(level_db, t)) {
            ++count;
            near += std::fabs(level_db[t] - threshold_db) <= half_width_db;
        }
    if (count == 0) throw argument_error("level_db", "no active sample (every level is at or below -100 dB)");
    return double(near) / double(count);
}

double flip_rate(const double* gain_db, std::size_t n, double fs) {
    check_series(gain_db, n, "gain_db");
    check_rate(fs);
    enum { none, attack, release } state = none;
    std::size_t flips = 0;
    for (std::size_t t = 1; t < n; ++t) {
        const auto now = gain_db[t] < gain_db[t - 1] ? attack : gain_db[t] > gain_db[t - 1] ? release : state;
        flips += state != none && now != state;
        state = now;
    }
    return double(flips) * fs / double(n);
}

double average_gain_reduction_db(const double* gain_db, const double* level_db, std::size_t n) {
    check_series(gain_db, n, "gain_db");
    check_levels(level_db, n);
    double sum = 0.0;
    std::size_t count = 0;
    for (std::size_t t = 0; t < n; ++t)
        if (active(level_db, t)) {
            sum -= gain_db[t];
            ++count;
        }
    if (count == 0) throw argument_error("level_db", "no active sample (every level is at or below -100 dB)");
    return sum / double(count);
}

double esr(const double* y, const double* y_hat, std::size_t n) {
    check_series(y, n, "y");
    check_series(y_hat, n, "y_hat");
    double error = 0.0, energy = 0.0;
    for (std::size_t t = 0; t < n; ++t) {
        const double d = y[t] - y_hat[t];
        error += d * d;
        energy += y[t] * y[t];
    }
    if (energy == 0.0) throw argument_error("y", "is all zeros (the ratio is undefined)");
    return error / energy;
}

}  // namespace dd
