// Metrics on gain traces and audio. Gains and levels are in dB; a sample is "active" when its
// detector level is above −100 dB (active_floor_db). Inputs are checked (finite, sizes ≥ 1);
// errors name the argument. Definitions: docs/reference/probes_metrics.md.
#pragma once
#include <cstddef>

#include "core.hpp"

namespace dd {

/// Samples whose detector level is at or below this (dB) are inactive: silence, not compression.
inline constexpr double active_floor_db = -100.0;

/// √(mean over active t of (gain_a_db[t] − gain_b_db[t])²). level_db null: every sample is active.
/// Throws argument_error("level_db") if no sample is active.
double gain_rmse_db(const double* gain_a_db, const double* gain_b_db, const double* level_db, std::size_t n);

/// The 63 % rise time (seconds) of a step response: with v0 = trace[edge − 1] (the last sample before
/// the step) and v1 = trace[n − 1] (settled), the number of samples from edge − 1 to the first
/// t ≥ edge with (trace[t] − v0)/(v1 − v0) ≥ 1 − 1/e, divided by fs. A one-pole with coefficient
/// α gives ⌈−1/ln(1 − α)⌉ samples. Throws argument_error("edge") unless 1 ≤ edge < n, ("trace") if
/// v1 = v0.
double rise_time_63(const double* trace, std::size_t n, std::size_t edge, double fs);

/// Fraction of the active samples whose level is within ±half_width_db of threshold_db (inclusive).
double near_threshold_occupancy(const double* level_db, std::size_t n, double threshold_db,
                                double half_width_db = 3.0);

/// Attack/release flips per second. Each sample is in attack where the gain falls
/// (gain_db[t] < gain_db[t − 1]), in release where it rises, and keeps the previous sample's state
/// where it is unchanged; a flip is a change of state. Flips / (n / fs).
double flip_rate(const double* gain_db, std::size_t n, double fs);

/// Mean of −gain_db over the active samples (dB; positive = the gain is reduced). level_db null:
/// every sample is active.
double average_gain_reduction_db(const double* gain_db, const double* level_db, std::size_t n);

/// Error-to-signal ratio Σ(y − y_hat)² / Σy² (y the reference). Throws argument_error("y") if y is
/// all zeros.
double esr(const double* y, const double* y_hat, std::size_t n);

}  // namespace dd
