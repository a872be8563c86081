// Private parts of the probe generators: the seeded random source, the dB envelope builder and the
// per-kind generator functions (classic_signals.cpp, identification_probes.cpp).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace dd::probes {

/// splitmix64's finaliser: decorrelates nearby seeds (seed, seed + 1, …) and derives sub-seeds.
inline std::uint64_t mix_seed(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/// Random numbers that are the same on every platform: std::mt19937_64's sequence is fixed by the
/// standard, but the std:: distributions are not, so the mappings to ranges are written here.
class random_source {
public:
    explicit random_source(std::uint64_t seed) : engine_(mix_seed(seed)) {}
    /// In [0, 1), 53 random bits.
    double uniform() { return double(engine_() >> 11) * 0x1p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    double log_uniform(double lo, double hi) { return lo * std::exp(std::log(hi / lo) * uniform()); }
    /// Exponentially distributed with the given mean.
    double exponential(double mean) { return -mean * std::log1p(-uniform()); }
    double sign() { return (engine_() >> 63) ? 1.0 : -1.0; }
    std::uint64_t bits() { return engine_(); }

private:
    std::mt19937_64 engine_;
};

struct probe_context {
    double fs;
    std::size_t length;
    double threshold_db;
    /// Samples in `ms` milliseconds, at least one.
    std::size_t samples(double ms) const {
        const double n = std::round(ms * fs / 1000.0);
        return n < 1.0 ? 1 : std::size_t(n);
    }
};

inline constexpr double pi = 3.14159265358979323846;

/// Silence in a dB envelope (amplitude exactly 0).
inline constexpr double silence_db = -HUGE_VAL;

/// Builds a level envelope in dB from holds, jumps and edges, cut at `length` samples. A pattern is
/// repeated until full(), so every probe fills any length; each step appends at least one sample.
class db_path {
public:
    db_path(std::size_t length, double start_db) : length_(length), current_(start_db) { db_.reserve(length); }
    bool full() const { return db_.size() >= length_; }
    double current() const { return current_; }
    std::size_t size() const { return db_.size(); }
    void hold(std::size_t n) {
        for (std::size_t i = 0; i < n && !full(); ++i) db_.push_back(current_);
    }
    /// The next sample is at `db` (a step edge between two samples).
    void jump(double db, std::size_t then_hold) {
        current_ = db;
        hold(then_hold);
    }
    /// Raised-cosine edge to `db` over n samples (the n-th sample reaches it); edges to or from
    /// silence are jumps.
    void cosine_to(double db, std::size_t n) { edge_to(db, n, true); }
    /// Straight line in dB to `db` over n samples.
    void linear_to(double db, std::size_t n) { edge_to(db, n, false); }
    /// Appends a sample of any level (the current level becomes it).
    void push(double db) {
        current_ = db;
        if (!full()) db_.push_back(db);
    }
    /// The envelope: 10^(dB/20), clamped to [0, 1], exactly `length` samples.
    std::vector<double> amplitude() {
        db_.resize(length_, current_);
        std::vector<double> a(length_);
        for (std::size_t t = 0; t < length_; ++t) a[t] = std::fmin(1.0, std::pow(10.0, std::fmin(db_[t], 0.0) / 20.0));
        return a;
    }

private:
    void edge_to(double db, std::size_t n, bool cosine) {
        const double from = current_;
        if (std::isinf(from) || std::isinf(db)) {
            jump(db, n);
            return;
        }
        for (std::size_t i = 1; i <= n && !full(); ++i) {
            const double w = double(i) / double(n);
            const double shape = cosine ? 0.5 - 0.5 * std::cos(pi * w) : w;
            db_.push_back(from + (db - from) * shape);
        }
        current_ = db;
    }

    std::size_t length_;
    double current_;
    std::vector<double> db_;
};

// Classic signals (audio in [−1, 1]); classic_signals.cpp.
std::vector<double> tone(random_source& rng, const probe_context& c);
std::vector<double> step(random_source& rng, const probe_context& c);
std::vector<double> burst(random_source& rng, const probe_context& c);
std::vector<double> ramp(random_source& rng, const probe_context& c);
std::vector<double> am_tone(random_source& rng, const probe_context& c);
std::vector<double> white_noise(random_source& rng, const probe_context& c);
std::vector<double> beating_tones(random_source& rng, const probe_context& c);
std::vector<double> am_noise(random_source& rng, const probe_context& c);
std::vector<double> composite_program(random_source& rng, const probe_context& c);

// Identification probes (envelopes in [0, 1]); identification_probes.cpp.
std::vector<double> quasi_static_staircase(random_source& rng, const probe_context& c);
std::vector<double> level_pairs(random_source& rng, const probe_context& c);
std::vector<double> preconditioned_pairs(random_source& rng, const probe_context& c);
std::vector<double> echo_pulses(random_source& rng, const probe_context& c);
std::vector<double> release_drops(random_source& rng, const probe_context& c);
std::vector<double> db_dither(random_source& rng, const probe_context& c);
std::vector<double> transient_churn(random_source& rng, const probe_context& c);
std::vector<double> slope_sweep(random_source& rng, const probe_context& c);
std::vector<double> release_staircase(random_source& rng, const probe_context& c);
std::vector<double> attack_doublets(random_source& rng, const probe_context& c);
std::vector<double> am_sweep(random_source& rng, const probe_context& c);
std::vector<double> random_steps(random_source& rng, const probe_context& c);
std::vector<double> db_ramps(random_source& rng, const probe_context& c);
std::vector<double> long_plateaus(random_source& rng, const probe_context& c);

}  // namespace dd::probes
