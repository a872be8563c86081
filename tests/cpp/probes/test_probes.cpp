// Probes: determinism per seed, different seeds differ, ranges, exact lengths, and each kind's
// defining property (docs/reference/probes_metrics.md), checked on the generated samples.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "differential_dynamics/probes.hpp"

namespace {

using dd::probe_kind;
constexpr double fs = 44100.0;

std::vector<double> probe(probe_kind kind, std::uint64_t seed, std::size_t length, double rate = fs,
                          double threshold_db = -24.0) {
    return dd::make_probe(kind, seed, rate, length, dd::probe_options{threshold_db});
}

std::vector<double> to_db(const std::vector<double>& e) {
    std::vector<double> d(e.size());
    for (std::size_t t = 0; t < e.size(); ++t) d[t] = 20.0 * std::log10(e[t]);
    return d;
}

/// Stretches of exactly equal consecutive values.
struct run {
    double value;
    std::size_t start, length;
};
std::vector<run> runs(const std::vector<double>& x) {
    std::vector<run> r;
    for (std::size_t t = 0; t < x.size(); ++t)
        if (r.empty() || x[t] != r.back().value) r.push_back({x[t], t, 1});
        else ++r.back().length;
    return r;
}

template <class F> void expect_argument_error(F&& f, const std::string& name) {
    try {
        f();
        ADD_FAILURE() << "no error for " << name;
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), name) << e.what();
    }
}

std::size_t samples(double ms, double rate = fs) { return std::size_t(std::round(ms * rate / 1000.0)); }

}  // namespace

TEST(Probes, CatalogIsInEnumOrderAndNamesRoundTrip) {
    const auto& catalog = dd::probe_catalog();
    ASSERT_EQ(catalog.size(), std::size_t(probe_kind::long_plateaus) + 1);
    for (std::size_t i = 0; i < catalog.size(); ++i) {
        EXPECT_EQ(std::size_t(catalog[i].kind), i);
        EXPECT_EQ(dd::probe_kind_from_name(catalog[i].name), catalog[i].kind);
    }
    EXPECT_EQ(dd::probe_info_of(probe_kind::step).output, dd::probe_output::audio);
    EXPECT_EQ(dd::probe_info_of(probe_kind::random_steps).output, dd::probe_output::envelope);
    expect_argument_error([] { dd::probe_kind_from_name("staircase2"); }, "name");
}

TEST(Probes, EveryKindIsDeterministicDiffersAcrossSeedsAndStaysInRange) {
    for (const auto& info : dd::probe_catalog()) {
        SCOPED_TRACE(info.name);
        for (double rate : {8000.0, 44100.0, 96000.0}) {
            const std::size_t length = std::size_t(3.3 * rate);
            const auto a = probe(info.kind, 7, length, rate), again = probe(info.kind, 7, length, rate);
            const auto b = probe(info.kind, 8, length, rate);
            ASSERT_EQ(a.size(), length);
            EXPECT_EQ(a, again);
            EXPECT_NE(a, b);
            const double low = info.output == dd::probe_output::envelope ? 0.0 : -1.0;
            for (double v : a) ASSERT_TRUE(v >= low && v <= 1.0) << v;
            // Not silent: some sample is above −60 dB.
            EXPECT_GT(*std::max_element(a.begin(), a.end()), 1e-3);
        }
    }
}

TEST(Probes, AnyLengthAndThresholdWork) {
    for (const auto& info : dd::probe_catalog())
        for (std::size_t length : {1u, 2u, 7u, 1000u})
            for (double threshold : {-80.0, -24.0, 0.0}) {
                const auto x = probe(info.kind, 3, length, fs, threshold);
                ASSERT_EQ(x.size(), length) << info.name;
                for (double v : x) ASSERT_TRUE(v >= -1.0 && v <= 1.0) << info.name;
            }
}

TEST(Probes, BadArgumentsAreNamed) {
    expect_argument_error([] { dd::make_probe(probe_kind::tone, 1, 0.0, 10); }, "fs");
    expect_argument_error([] { dd::make_probe(probe_kind::tone, 1, NAN, 10); }, "fs");
    expect_argument_error([] { dd::make_probe(probe_kind::tone, 1, fs, 0); }, "length");
    expect_argument_error([] { dd::make_probe(probe_kind::tone, 1, fs, 10, {-90.0}); }, "threshold_db");
    expect_argument_error([] { dd::make_probe(probe_kind(99), 1, fs, 10); }, "kind");
}

// ------------------------------------------------------------------------------------------------
// Classic signals

TEST(ClassicSignals, StepJumpsAtTheMiddle) {
    const std::size_t n = 44101;
    const auto x = probe(probe_kind::step, 5, n);
    double before = 0.0, after = 0.0;
    for (std::size_t t = 0; t < n / 2; ++t) before = std::max(before, std::fabs(x[t]));
    for (std::size_t t = n / 2; t < n / 2 + samples(10.0); ++t) after = std::max(after, std::fabs(x[t]));
    EXPECT_LE(before, std::pow(10.0, -30.0 / 20.0));
    EXPECT_GE(after, 0.9 * std::pow(10.0, -12.0 / 20.0));  // a 10 ms window holds two periods of ≥ 200 Hz
}

TEST(ClassicSignals, BurstStartsSilentAndAlternates) {
    const auto x = probe(probe_kind::burst, 2, 5 * 44100);
    EXPECT_EQ(x[0], 0.0);
    std::size_t onsets = 0;
    for (std::size_t t = 2; t < x.size(); ++t) onsets += x[t - 1] == 0.0 && x[t] != 0.0 && x[t - 2] == 0.0;
    EXPECT_GE(onsets, 5u);  // bursts of ≤ 200 ms every ≤ 700 ms
}

TEST(ClassicSignals, RampRisesLinearlyFromZero) {
    const auto x = probe(probe_kind::ramp, 4, 10000);
    EXPECT_EQ(x[0], 0.0);
    for (std::size_t t = 0; t < x.size(); ++t) EXPECT_LE(std::fabs(x[t]), double(t) / 9999.0 + 1e-15);
    double late = 0.0;
    for (std::size_t t = 9000; t < 10000; ++t) late = std::max(late, std::fabs(x[t]));
    EXPECT_GE(late, 0.45);  // ≥ −6 dB at the end, times ≥ 0.9
}

TEST(ClassicSignals, CompositeProgramHasItsFourSections) {
    const std::size_t n = 4 * 44100;
    const auto x = probe(probe_kind::composite_program, 9, n);
    auto peak = [&](std::size_t from, std::size_t to) {
        double p = 0.0;
        for (std::size_t t = from; t < to; ++t) p = std::max(p, std::fabs(x[t]));
        return p;
    };
    // Staircase: each eighth of the first quarter 6 dB above the one before.
    for (int k = 1; k < 8; ++k) {
        const double ratio = peak(n / 4 * k / 8, n / 4 * (k + 1) / 8) / peak(n / 4 * (k - 1) / 8, n / 4 * k / 8);
        EXPECT_NEAR(20.0 * std::log10(ratio), 6.0, 0.2);
    }
    // A → B → A: the middle third louder than both outer thirds.
    const std::size_t q = n / 4, third = q / 3;
    EXPECT_GT(peak(q + third, q + 2 * third), 4.0 * peak(q, q + third));
    // Echo pulses over exact silence.
    EXPECT_GT(std::count(x.begin() + 2 * q, x.begin() + 3 * q, 0.0), std::ptrdiff_t(q / 2));
    // Flicker has no silence.
    EXPECT_EQ(std::count(x.begin() + 3 * q, x.end(), 0.0), 0);
}

// ------------------------------------------------------------------------------------------------
// Identification probes

TEST(IdentificationProbes, QuasiStaticStaircaseHasEqualStepsUpAndDown) {
    const auto db = to_db(probe(probe_kind::quasi_static_staircase, 11, 30 * 44100));
    std::vector<double> plateau;  // the level at the end of each 250 ms step
    for (std::size_t t = samples(250.0) - 1; t < db.size(); t += samples(250.0)) plateau.push_back(db[t]);
    const double step = std::fabs(plateau[1] - plateau[0]);
    EXPECT_GE(step, 2.0);
    EXPECT_LE(step, 4.0);
    int turns = 0;
    for (std::size_t k = 1; k < plateau.size(); ++k) {
        EXPECT_NEAR(std::fabs(plateau[k] - plateau[k - 1]), step, 1e-9) << k;
        if (k >= 2) turns += (plateau[k] - plateau[k - 1]) * (plateau[k - 1] - plateau[k - 2]) < 0;
    }
    EXPECT_GE(turns, 1);
    EXPECT_LE(*std::max_element(plateau.begin(), plateau.end()), 0.0);
}

TEST(IdentificationProbes, LevelPairsHaveCosineEdgesOfAtLeast5ms) {
    const auto db = to_db(probe(probe_kind::level_pairs, 12, 20 * 44100));
    // A raised cosine over n samples moves at most (π/2)·Δ/n per sample; Δ ≤ 48 dB, n ≥ 5 ms.
    double steepest = 0.0;
    for (std::size_t t = 1; t < db.size(); ++t) steepest = std::max(steepest, std::fabs(db[t] - db[t - 1]));
    EXPECT_LE(steepest, 1.5708 * 48.0 / double(samples(5.0)));
    EXPECT_GT(steepest, 0.0);
    const auto [lo, hi] = std::minmax_element(db.begin(), db.end());
    EXPECT_LE(*lo, -24.0 - 3.0);
    EXPECT_GE(*hi, -24.0 + 3.0);
}

TEST(IdentificationProbes, PreconditionedPairsReachOneLevelFromTwoHistories) {
    const auto r = runs(to_db(probe(probe_kind::preconditioned_pairs, 13, 20 * 44100)));
    std::size_t pairs = 0;
    for (std::size_t k = 0; k + 4 < r.size(); k += 4) {
        const double loud = r[k].value, end1 = r[k + 1].value, quiet = r[k + 2].value, end2 = r[k + 3].value;
        EXPECT_EQ(end1, end2);
        EXPECT_GT(loud, end1);
        EXPECT_LT(quiet, end1);
        EXPECT_NEAR(end1, -24.0, 6.0);
        EXPECT_EQ(r[k].length, r[k + 2].length);
        EXPECT_EQ(r[k + 1].length, samples(400.0));
        ++pairs;
    }
    EXPECT_GE(pairs, 5u);
}

TEST(IdentificationProbes, EchoPulsesDecayOverSilence) {
    const auto r = runs(probe(probe_kind::echo_pulses, 14, 10 * 44100));
    ASSERT_GE(r.size(), 16u);
    // Groups of eight runs: pulse, gap, echo, gap, echo, gap, echo, gap and the long silence.
    for (std::size_t k = 0; k + 8 < r.size(); k += 8) {
        EXPECT_GT(r[k].value, r[k + 2].value);
        EXPECT_GT(r[k + 2].value, r[k + 4].value);
        EXPECT_GT(r[k + 4].value, r[k + 6].value);
        for (std::size_t g : {1, 3, 5, 7}) EXPECT_EQ(r[k + g].value, 0.0);
        EXPECT_EQ(r[k].length, r[k + 2].length);
        EXPECT_EQ(r[k + 1].length, r[k + 3].length);
        EXPECT_GT(r[k + 7].length, r[k + 1].length);
    }
}

TEST(IdentificationProbes, ReleaseDropsEndNearThreshold) {
    const double threshold = -30.0;
    const auto r = runs(to_db(probe(probe_kind::release_drops, 15, 15 * 44100, fs, threshold)));
    std::size_t drops = 0;
    for (std::size_t k = 0; k + 2 < r.size(); k += 2) {
        EXPECT_GE(r[k].value, threshold + 6.0);
        EXPECT_EQ(r[k].length, samples(300.0));
        EXPECT_NEAR(r[k + 1].value, threshold, 3.0);
        ++drops;
    }
    EXPECT_GE(drops, 10u);
}

TEST(IdentificationProbes, DbDitherStaysNearThresholdAndMovesSlowly) {
    const auto db = to_db(probe(probe_kind::db_dither, 16, 20 * 44100));
    for (double v : db) ASSERT_NEAR(v, -24.0, 9.0);
    // Six sines of ≤ 8 Hz with amplitudes summing to ≤ 6 dB: |d/dt| ≤ 2π·8·6 dB/s.
    for (std::size_t t = 1; t < db.size(); ++t) ASSERT_LE(std::fabs(db[t] - db[t - 1]) * fs, 2 * M_PI * 8 * 6 * 1.0001);
    // It crosses its own mean many times (it dithers).
    double mean = 0.0;
    for (double v : db) mean += v / double(db.size());
    int crossings = 0;
    for (std::size_t t = 1; t < db.size(); ++t) crossings += (db[t] - mean) * (db[t - 1] - mean) < 0;
    EXPECT_GE(crossings, 20);
}

TEST(IdentificationProbes, TransientChurnSwitchesOften) {
    const auto r = runs(probe(probe_kind::transient_churn, 17, 10 * 44100));
    const double bed = r[0].value;
    std::size_t transients = 0;
    for (const auto& s : r) transients += s.value > bed;
    EXPECT_GE(transients, 100u);  // ~20 per second
    for (const auto& s : r) {
        if (s.value > bed) EXPECT_LE(s.length, samples(15.0));
    }
}

TEST(IdentificationProbes, SlopeSweepGoesFromSlowToFast) {
    const auto db = to_db(probe(probe_kind::slope_sweep, 18, 30 * 44100));
    double first = 0.0, last = 0.0;
    std::size_t first_end = samples(2000.0);
    for (std::size_t t = 1; t < db.size(); ++t) {
        const double slope = std::fabs(db[t] - db[t - 1]) * fs;  // dB/s
        ASSERT_LE(slope, 2000.0 * 1.25 * 1.01);  // 1 %: ramp lengths are whole samples
        if (t < first_end) first = std::max(first, slope);
        last = std::max(last, slope);
    }
    EXPECT_LE(first, 20.0 * 1.25 * 1.01);  // the first ramps are the slow ones
    EXPECT_GE(last, 2000.0 * 0.8 * 0.99);
}

TEST(IdentificationProbes, ReleaseStaircaseStepsDown) {
    const auto r = runs(to_db(probe(probe_kind::release_staircase, 19, 10 * 44100)));
    std::size_t tops = 0, steps = 0;
    for (std::size_t k = 1; k < r.size(); ++k) {
        if (r[k].value > r[k - 1].value) {
            ++tops;
            if (k + 1 < r.size()) {
                EXPECT_EQ(r[k].length, samples(300.0)) << k;
            }
        } else {
            ++steps;
            EXPECT_LE(r[k - 1].value - r[k].value, 6.0);
            EXPECT_GE(r[k - 1].value - r[k].value, 2.0);
        }
    }
    EXPECT_GE(tops, 3u);
    EXPECT_GE(steps, 3 * tops);
}

TEST(IdentificationProbes, AttackDoubletsComeInEqualPairs) {
    const auto r = runs(probe(probe_kind::attack_doublets, 20, 20 * 44100));
    const double bed = r[0].value;
    EXPECT_EQ(r[0].length, samples(600.0));
    std::size_t doublets = 0;
    for (std::size_t k = 1; k + 4 < r.size(); k += 4) {
        EXPECT_GT(r[k].value, bed);
        EXPECT_EQ(r[k].value, r[k + 2].value);
        EXPECT_EQ(r[k].length, r[k + 2].length);
        EXPECT_EQ(r[k + 1].value, bed);
        EXPECT_EQ(r[k + 3].length, samples(600.0));
        ++doublets;
    }
    EXPECT_GE(doublets, 10u);
}

TEST(IdentificationProbes, AmSweepSpeedsUp) {
    const auto e = probe(probe_kind::am_sweep, 21, 10 * 44100);
    auto minima = [&](std::size_t from, std::size_t to) {
        int count = 0;
        for (std::size_t t = from + 1; t + 1 < to; ++t) count += e[t] < e[t - 1] && e[t] <= e[t + 1];
        return count;
    };
    // 0.5 → 50 Hz, log-linear: the first half passes ~10 cycles, the second ~100.
    EXPECT_GT(minima(e.size() / 2, e.size()), 5 * minima(0, e.size() / 2));
    EXPECT_GT(*std::min_element(e.begin(), e.end()), 0.0);
}

TEST(IdentificationProbes, RandomStepsChangeEvery12msExactly) {
    for (double rate : {44100.0, 48000.0, 22050.0}) {
        const auto e = probe(probe_kind::random_steps, 22, std::size_t(rate), rate);
        const std::size_t hold = samples(12.0, rate);
        std::size_t changes = 0;
        for (std::size_t t = 1; t < e.size(); ++t)
            if (e[t] != e[t - 1]) {
                EXPECT_EQ(t % hold, 0u) << rate;
                ++changes;
            }
        EXPECT_GE(changes, e.size() / hold - 2);  // a repeated level is possible, but rare
    }
}

TEST(IdentificationProbes, DbRampsAreStraightInDb) {
    const auto db = to_db(probe(probe_kind::db_ramps, 23, 20 * 44100));
    std::size_t bends = 0;
    for (std::size_t t = 2; t < db.size(); ++t)
        bends += std::fabs(db[t] - 2 * db[t - 1] + db[t - 2]) > 1e-9;
    EXPECT_GE(bends, 1u);
    EXPECT_LE(bends, 2 * (20000 / 100) + 2);  // at most one bend per ramp of ≥ 100 ms
}

TEST(IdentificationProbes, LongPlateausLastAtLeastOneSecond) {
    const auto r = runs(probe(probe_kind::long_plateaus, 24, 30 * 44100));
    std::size_t plateaus = 0;
    for (std::size_t k = 0; k + 1 < r.size(); ++k)
        if (r[k].length > 1) {
            EXPECT_GE(r[k].length, samples(1000.0)) << k;  // the first: 1-4 s; the others: hold after an edge
            ++plateaus;
        }
    EXPECT_GE(plateaus, 5u);
}

// ------------------------------------------------------------------------------------------------
// Rendering and the probe mix

TEST(ProbeAudio, CarriersFollowTheConvention) {
    const auto e = probe(probe_kind::random_steps, 30, 4410);
    const auto noise = dd::render_probe_audio(e, {dd::carrier_kind::sign_noise}, 1, fs);
    const auto sine = dd::render_probe_audio(e, {dd::carrier_kind::sine, 1000.0}, 1, fs);
    const auto plain = dd::render_probe_audio(e, {dd::carrier_kind::none}, 1, fs);
    EXPECT_EQ(plain, e);
    EXPECT_NE(noise, dd::render_probe_audio(e, {dd::carrier_kind::sign_noise}, 2, fs));
    std::size_t negative = 0;
    for (std::size_t t = 0; t < e.size(); ++t) {
        EXPECT_EQ(std::fabs(noise[t]), e[t]);
        negative += noise[t] < 0;
        EXPECT_DOUBLE_EQ(sine[t], e[t] * std::sin(2 * M_PI * 1000.0 * double(t) / fs));
    }
    EXPECT_GT(negative, e.size() / 3);
    expect_argument_error([] { dd::render_probe_audio({0.5, 1.5}, {}, 1, fs); }, "envelope");
    expect_argument_error([] { dd::render_probe_audio({0.5}, {dd::carrier_kind::sine, 30000.0}, 1, fs); }, "frequency");
}

TEST(ProbeMix, SegmentsTileTheMixAndAreTheirProbes) {
    const std::size_t length = 30 * 44100;
    const auto mix = dd::probe_mix(5, fs, length);
    const auto again = dd::probe_mix(5, fs, length);
    EXPECT_EQ(mix.envelope, again.envelope);
    EXPECT_NE(mix.envelope, dd::probe_mix(6, fs, length).envelope);
    ASSERT_EQ(mix.envelope.size(), length);
    std::size_t next = 0;
    for (std::size_t k = 0; k < mix.segments.size(); ++k) {
        const auto& s = mix.segments[k];
        EXPECT_EQ(s.start, next);
        EXPECT_EQ(dd::probe_info_of(s.kind).output, dd::probe_output::envelope);
        if (k + 1 < mix.segments.size()) {
            EXPECT_GE(s.length, samples(1000.0));
            EXPECT_LE(s.length, samples(4000.0));
        }
        const auto alone = dd::make_probe(s.kind, s.seed, fs, s.length);
        EXPECT_TRUE(std::equal(alone.begin(), alone.end(), mix.envelope.begin() + std::ptrdiff_t(s.start)));
        next += s.length;
    }
    EXPECT_EQ(next, length);
    EXPECT_GE(mix.segments.size(), 8u);

    dd::probe_mix_options only;
    only.kinds = {probe_kind::release_drops};
    for (const auto& s : dd::probe_mix(5, fs, length, only).segments) EXPECT_EQ(s.kind, probe_kind::release_drops);
    only.kinds = {probe_kind::tone};
    expect_argument_error([&] { dd::probe_mix(5, fs, length, only); }, "kinds");
}
