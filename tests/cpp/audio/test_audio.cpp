// Audio processors (docs/reference/audio.md): streaming over random block splits against the batch
// function bit for bit, the chain against plain formulas written here (lookahead, makeup, mix, glide),
// the gain computers against the library's batch functions and a plain transcription of the chain
// (docs/reference/audio.md), channel link, side chain, state, the SSL front panel, and errors that
// name the argument.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"
#include "test_util.hpp"

using dd::signal_span;
using dd::signal_view;

namespace {

/// A (channels × n) program, channel-major: noise bursts that switch between loud and quiet with a
/// per-channel period and level, so that the channels' levels differ and the gates flip often.
template <class T> std::vector<T> program(std::size_t channels, std::size_t n, unsigned seed, double scale = 1.0) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<T> x(channels * n);
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t t = 0; t < n; ++t) {
            const std::size_t period = 700 + 450 * c;
            const double envelope = (t / period) % 2 == 0 ? 0.8 / double(c + 1) : 0.02;
            x[c * n + t] = T(scale * envelope * std::tanh(noise(rng)));
        }
    return x;
}

template <class T> std::vector<const T*> rows(const std::vector<T>& v, std::size_t channels, std::size_t n,
                                              std::size_t t0 = 0) {
    std::vector<const T*> p(channels);
    for (std::size_t c = 0; c < channels; ++c) p[c] = v.data() + c * n + t0;
    return p;
}
template <class T> std::vector<T*> rows(std::vector<T>& v, std::size_t channels, std::size_t n, std::size_t t0 = 0) {
    std::vector<T*> p(channels);
    for (std::size_t c = 0; c < channels; ++c) p[c] = v.data() + c * n + t0;
    return p;
}

template <class T> bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// The batch function's output and gain.
template <class T, class Settings>
std::pair<std::vector<T>, std::vector<T>> batch(const std::vector<T>& x, std::size_t channels, const Settings& s,
                                                double fs, const std::vector<T>* key = nullptr,
                                                std::size_t key_channels = 0) {
    const std::size_t n = x.size() / channels;
    std::vector<T> y(x.size()), g(x.size());
    signal_view<T> sc{};
    if (key) sc = {key->data(), key_channels, n};
    dd::process_audio(signal_view<T>{x.data(), channels, n}, s, fs, signal_span<T>{y.data(), channels, n}, sc,
                      signal_span<T>{g.data(), channels, n});
    return {y, g};
}

/// Streams x through a prepared processor in blocks of random lengths in [1, max_len]; `change` (if
/// set) is called with the processor before the block that starts at sample `change_at`.
template <class P, class Change = std::nullptr_t>
auto stream(P& p, const std::vector<typename P::sample_type>& x, std::size_t channels, unsigned seed,
            std::size_t max_len, const std::vector<typename P::sample_type>* key = nullptr, std::size_t change_at = 0,
            Change change = nullptr) {
    using T = typename P::sample_type;
    const std::size_t n = x.size() / channels;
    std::vector<T> y(x.size()), g(x.size());
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> len(1, max_len);
    for (std::size_t t = 0; t < n;) {
        std::size_t m = std::min(len(rng), n - t);
        if constexpr (!std::is_same_v<Change, std::nullptr_t>) {
            if (t < change_at && t + m > change_at) m = change_at - t;
            if (t == change_at) change(p);
        }
        auto in = rows(x, channels, n, t);
        auto out = rows(y, channels, n, t);
        auto gain = rows(g, channels, n, t);
        std::vector<const T*> sc;
        if (key) sc = rows(*key, channels, n, t);
        p.process(in.data(), out.data(), m, key ? sc.data() : nullptr, gain.data());
        t += m;
    }
    return std::make_pair(y, g);
}

template <class T> double max_abs_diff(const std::vector<T>& a, const std::vector<T>& b) {
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(double(a[i]) - double(b[i])));
    return d;
}

template <class F> void expect_argument_error(F&& f, const std::string& name) {
    try {
        f();
        ADD_FAILURE() << "no error for " << name;
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), name) << e.what();
        EXPECT_EQ(std::string(e.what()).rfind(name + ": ", 0), 0u) << e.what();
    }
}

// Settings that exercise every part of the chain.
dd::compressor_audio_settings busy_compressor() {
    dd::compressor_audio_settings s;
    s.threshold_db = -26;
    s.ratio = 5;
    s.knee_db = 4;
    s.exp_threshold_db = -50;
    s.exp_ratio = 0.5;
    s.attack_ms = 2;
    s.release_ms = 40;
    s.lookahead_ms = 1.5;
    s.max_lookahead_ms = 3;
    s.mix = 0.8;
    s.auto_makeup = true;
    return s;
}
dd::limiter_audio_settings busy_limiter() {
    dd::limiter_audio_settings s;
    s.threshold_db = -9;
    s.attack_ms = 0.3;
    s.release_ms = 30;
    s.lookahead_ms = 0.5;
    s.mix = 0.9;
    s.makeup_db = 2.5;
    return s;
}
dd::ssl_audio_settings busy_ssl() {
    dd::ssl_audio_settings s;
    s.threshold_db = -24;
    s.ratio = 4;
    s.attack_ms = 1;
    s.feedback = 0.3;
    s.lookahead_ms = 2;
    s.mix = 0.6;
    s.auto_makeup = true;
    return s;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Streaming against batch

template <class P, class Settings>
void expect_splits_equal_batch(const Settings& s, std::size_t channels, bool with_key, unsigned seed) {
    using T = typename P::sample_type;
    const double fs = 44100;
    const std::size_t n = 30000;
    const auto x = program<T>(channels, n, seed);
    const auto key = program<T>(channels, n, seed + 1, 1.5);
    const auto whole = batch(x, channels, s, fs, with_key ? &key : nullptr, channels);
    for (std::size_t max_len : {std::size_t(1), std::size_t(7), std::size_t(300), std::size_t(4096)}) {
        P p;
        p.prepare(dd::process_spec{fs, channels, 512}, s);
        const auto blocks = stream(p, x, channels, seed + unsigned(max_len), max_len, with_key ? &key : nullptr);
        EXPECT_TRUE(same_bits(blocks.first, whole.first)) << P::name << " blocks up to " << max_len;
        EXPECT_TRUE(same_bits(blocks.second, whole.second)) << P::name << " gain, blocks up to " << max_len;
    }
}

template <class T> void splits_equal_batch_for_every_processor() {
    for (bool key : {false, true}) {
        auto c = busy_compressor();
        expect_splits_equal_batch<dd::compressor_audio_processor<T>>(c, 2, key, 11);
        c.link = dd::channel_link::none;
        c.detector = dd::level_detector::peak;
        c.gate = dd::ar_mode::sigmoid;
        c.k = 0.7;
        expect_splits_equal_batch<dd::compressor_audio_processor<T>>(c, 3, key, 12);
        c.link = dd::channel_link::mean;
        expect_splits_equal_batch<dd::compressor_audio_processor<T>>(c, 3, key, 13);
        auto l = busy_limiter();
        expect_splits_equal_batch<dd::limiter_audio_processor<T>>(l, 2, key, 14);
        l.link = dd::channel_link::none;
        expect_splits_equal_batch<dd::limiter_audio_processor<T>>(l, 2, key, 15);
        auto s = busy_ssl();
        expect_splits_equal_batch<dd::ssl_audio_processor<T>>(s, 2, key, 16);
        s.link = dd::channel_link::mean;
        s.auto_release = false;
        s.release_ms = 450;
        expect_splits_equal_batch<dd::ssl_audio_processor<T>>(s, 2, key, 17);
    }
}

TEST(AudioStreaming, RandomBlockSplitsEqualBatchFloat32) { splits_equal_batch_for_every_processor<float>(); }
TEST(AudioStreaming, RandomBlockSplitsEqualBatchFloat64) { splits_equal_batch_for_every_processor<double>(); }

TEST(AudioStreaming, SettingsChangedAtTheSameSampleGiveTheSameBitsForAnySplit) {
    const std::size_t channels = 2, n = 20000, change_at = 7777;
    const auto x = program<float>(channels, n, 21);
    auto change = [](dd::compressor_audio_processor<float>& p) {
        auto s = busy_compressor();
        s.threshold_db = -30;
        s.ratio = 8;
        s.mix = 0.5;
        s.auto_makeup = false;
        s.makeup_db = 3;
        s.lookahead_ms = 2.5;  // within max_lookahead_ms
        s.link = dd::channel_link::none;
        p.set_settings(s);
    };
    std::vector<std::pair<std::vector<float>, std::vector<float>>> runs;
    for (unsigned seed : {1u, 2u, 3u}) {
        dd::compressor_audio_processor<float> p;
        p.prepare(dd::process_spec{48000, channels, 256}, busy_compressor());
        runs.push_back(stream(p, x, channels, seed, seed == 1 ? 1 : 3000, nullptr, change_at, change));
    }
    for (std::size_t r = 1; r < runs.size(); ++r) {
        EXPECT_TRUE(same_bits(runs[r].first, runs[0].first));
        EXPECT_TRUE(same_bits(runs[r].second, runs[0].second));
    }
    // The change took effect: a processor that never changed differs after change_at only.
    const auto unchanged = batch(x, channels, busy_compressor(), 48000.0);
    EXPECT_TRUE(std::equal(unchanged.first.begin(), unchanged.first.begin() + change_at, runs[0].first.begin()));
    EXPECT_FALSE(std::equal(unchanged.first.begin() + change_at, unchanged.first.begin() + n, runs[0].first.begin() + change_at));
}

// ------------------------------------------------------------------------------------------------
// The gain computers are the library's, and the chain is the one docs/reference/audio.md describes

template <class T> void compressor_gain_is_compexp_on_the_detector() {
    const std::size_t channels = 2, n = 6000;
    const double fs = 44100;
    const auto x = program<T>(channels, n, 31);
    dd::compressor_audio_settings s;
    s.threshold_db = -30;
    s.ratio = 6;
    s.attack_ms = 3;
    s.release_ms = 60;
    for (auto link : {dd::channel_link::none, dd::channel_link::max, dd::channel_link::mean}) {
        s.link = link;
        const auto out = batch(x, channels, s, fs);
        // The library's batch functions: avg of |x| (20 ms), floored, linked, then compexp_gain_mode.
        std::vector<T> magnitude(x.size()), level(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) magnitude[i] = std::abs(x[i]);
        dd::avg(signal_view<T>{magnitude.data(), channels, n}, T(dd::ms2coef(20.0, fs)),
                signal_span<T>{level.data(), channels, n});
        for (auto& v : level) v = std::max(v, T(1e-7));
        std::size_t rows_of_gain = channels;
        if (link != dd::channel_link::none) {
            for (std::size_t t = 0; t < n; ++t)
                level[t] = link == dd::channel_link::max ? std::max(level[t], level[n + t])
                                                         : T((double(level[t]) + double(level[n + t])) / 2);
            rows_of_gain = 1;
        }
        std::vector<T> gain(rows_of_gain * n);
        dd::compexp_gain_mode(signal_view<T>{level.data(), rows_of_gain, n},
                              dd::compexp_params<T>{T(-30), T(6), T(-1000), T(1), T(0)}, T(dd::ms2coef(3.0, fs)),
                              T(dd::ms2coef(60.0, fs)), dd::ar_mode::hard, T(1), signal_span<T>{gain.data(), rows_of_gain, n});
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t t = 0; t < n; ++t) {
                const T g = gain[(rows_of_gain == 1 ? 0 : c) * n + t];
                ASSERT_EQ(out.second[c * n + t], g) << "link " << dd::channel_link_name(link) << " c " << c << " t " << t;
                ASSERT_EQ(out.first[c * n + t], T(double(x[c * n + t]) * double(g)));
            }
        // The chain of docs/reference/audio.md transcribed plainly (double), per channel when unlinked.
        if (link == dd::channel_link::none && std::is_same_v<T, double>) {
            for (std::size_t c = 0; c < channels; ++c) {
                std::vector<double> lv(n);
                double avg = 0, coef = dd::ms2coef(20.0, fs);
                for (std::size_t t = 0; t < n; ++t) {
                    avg = coef * std::abs(double(x[c * n + t])) + (1 - coef) * avg;
                    lv[t] = std::max(avg, 1e-7);
                }
                const auto ref = ddtest::ref_compexp_gain(lv, -30, 6, -1000, 1, dd::ms2coef(3.0, fs), dd::ms2coef(60.0, fs));
                for (std::size_t t = 0; t < n; ++t) ASSERT_NEAR(double(out.second[c * n + t]), ref[t], 1e-12);
            }
        }
    }
}
TEST(AudioCompressor, GainIsCompexpOnTheLinkedDetectorFloat32) { compressor_gain_is_compexp_on_the_detector<float>(); }
TEST(AudioCompressor, GainIsCompexpOnTheLinkedDetectorFloat64) { compressor_gain_is_compexp_on_the_detector<double>(); }

TEST(AudioLimiter, UnlinkedIsLimiterGainTimesTheInput) {
    const std::size_t channels = 2, n = 5000;
    const double fs = 48000;
    const auto x = program<double>(channels, n, 41);
    dd::limiter_audio_settings s;
    s.threshold_db = -12;
    s.attack_ms = 0.2;
    s.release_ms = 25;
    s.link = dd::channel_link::none;
    const auto out = batch(x, channels, s, fs);
    std::vector<double> gain(x.size()), peak(x.size());
    dd::limiter_gain(signal_view<double>{x.data(), channels, n}, -12.0, dd::ms2coef(0.2, fs), dd::ms2coef(25.0, fs),
                     signal_span<double>{gain.data(), channels, n}, signal_span<double>{peak.data(), channels, n});
    EXPECT_TRUE(same_bits(out.second, gain));
    for (std::size_t c = 0; c < channels; ++c) {
        std::vector<double> row(x.begin() + c * n, x.begin() + (c + 1) * n);
        const auto ref = ddtest::ref_limiter_gain(row, -12, dd::ms2coef(0.2, fs), dd::ms2coef(25.0, fs));
        for (std::size_t t = 0; t < n; ++t) ASSERT_NEAR(out.second[c * n + t], ref[t], 1e-12);
    }
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(out.first[i], x[i] * gain[i]);
    EXPECT_LT(*std::min_element(gain.begin(), gain.end()), 0.5);  // it limited
}

TEST(AudioSSL, UnlinkedFloat64IsSslCompressBitForBit) {
    const std::size_t channels = 2, n = 5000;
    const double fs = 44100;
    const auto x = program<double>(channels, n, 51);
    auto s = busy_ssl();
    s.link = dd::channel_link::none;
    s.lookahead_ms = 0;
    s.mix = 1;
    s.auto_makeup = false;
    const auto out = batch(x, channels, s, fs);
    const dd::ssl_knob_params k = dd::ssl_front_panel(1.0, dd::ssl_release_auto, 4.0, fs);
    const dd::ssl_params<double> p{-24.0, 4.0, k.T_attack_fast, k.T_attack_slow, k.T_shunt_fast, k.T_shunt_slow, 0.3, fs};
    std::vector<double> gain_db(x.size()), y(x.size());
    dd::ssl_compress(signal_view<double>{x.data(), channels, n}, p, signal_span<double>{gain_db.data(), channels, n},
                     signal_span<double>{y.data(), channels, n});
    EXPECT_TRUE(same_bits(out.first, y));
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(out.second[i], std::exp(gain_db[i] * (std::log(10.0) / 20)));
    EXPECT_LT(*std::min_element(gain_db.begin(), gain_db.end()), -3.0);  // it compressed

    // float32: the gain is rounded to float before it is applied.
    std::vector<float> xf(x.begin(), x.end());
    const auto outf = batch(xf, channels, s, fs);
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(outf.first[i], y[i], 2e-6 * std::abs(y[i]) + 1e-9);
}

// ------------------------------------------------------------------------------------------------
// Channel link, side chain

TEST(AudioLink, LinkedChannelsGetOneGainAndUnlinkedDoNot) {
    const std::size_t channels = 2, n = 8000;
    const auto x = program<float>(channels, n, 61);
    auto check = [&](auto settings, const char* what) {
        for (auto link : {dd::channel_link::max, dd::channel_link::mean, dd::channel_link::none}) {
            settings.link = link;
            const auto out = batch(x, channels, settings, 44100.0);
            const bool one_gain = std::equal(out.second.begin(), out.second.begin() + n, out.second.begin() + n);
            EXPECT_EQ(one_gain, link != dd::channel_link::none) << what << " link " << dd::channel_link_name(link);
        }
    };
    check(busy_compressor(), "compressor");
    check(busy_limiter(), "limiter");
    check(busy_ssl(), "ssl");
}

TEST(AudioLink, SwitchingToLinkedContinuesFromTheLowestGain) {
    const std::size_t channels = 2, n = 6000, half = 3000;
    std::vector<double> x(channels * n);
    for (std::size_t t = 0; t < n; ++t) {
        x[t] = 0.01 * std::sin(0.05 * double(t));    // quiet: no reduction
        x[n + t] = 0.9 * std::sin(0.05 * double(t));  // loud: strong reduction
    }
    auto s = busy_compressor();
    s.lookahead_ms = 0;
    s.link = dd::channel_link::none;
    dd::compressor_audio_processor<double> p;
    p.prepare(dd::process_spec{44100, channels, 1024}, s);
    auto change = [&](dd::compressor_audio_processor<double>& q) {
        s.link = dd::channel_link::max;
        q.set_settings(s);
    };
    const auto out = stream(p, x, channels, 5, 700, nullptr, half, change);
    const auto& g = out.second;
    EXPECT_GT(g[half - 1] / g[n + half - 1], 2.0);  // unlinked: the quiet channel keeps its gain
    for (std::size_t t = half; t < n; ++t) ASSERT_EQ(g[t], g[n + t]);
    EXPECT_LT(g[half], 1.01 * g[n + half - 1]);  // no jump up to the quiet channel's gain
}

template <class Settings> void side_chain_drives_the_gain(Settings s, const char* what) {
    const std::size_t channels = 2, n = 6000;
    std::vector<double> x(channels * n), key = program<double>(1, n, 71), stereo_key(channels * n);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.005 * std::sin(0.01 * double(i));  // far below threshold
    std::copy(key.begin(), key.end(), stereo_key.begin());
    std::copy(key.begin(), key.end(), stereo_key.begin() + n);
    s.lookahead_ms = 0;
    s.mix = 1;
    s.makeup_db = 0;
    s.auto_makeup = false;
    const auto plain = batch(x, channels, s, 44100.0);
    EXPECT_TRUE(std::all_of(plain.second.begin(), plain.second.end(), [](double g) { return g == 1.0; })) << what;
    const auto keyed = batch(x, channels, s, 44100.0, &key, 1);
    const auto keyed_stereo = batch(x, channels, s, 44100.0, &stereo_key, 2);
    EXPECT_TRUE(same_bits(keyed.first, keyed_stereo.first)) << what;
    // The gain is the one the key itself would get as the input; it is applied to x.
    const auto key_as_input = batch(stereo_key, channels, s, 44100.0);
    EXPECT_TRUE(same_bits(keyed.second, key_as_input.second)) << what;
    EXPECT_LT(*std::min_element(keyed.second.begin(), keyed.second.end()), 0.7) << what;
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(keyed.first[i], x[i] * keyed.second[i]) << what;
}
TEST(AudioSideChain, TheSideChainDrivesTheGainAppliedToTheInput) {
    auto compressor = busy_compressor();
    compressor.exp_ratio = 1;  // no expander: the quiet input alone is left alone
    side_chain_drives_the_gain(compressor, "compressor");
    side_chain_drives_the_gain(busy_limiter(), "limiter");
    side_chain_drives_the_gain(busy_ssl(), "ssl");
}

// ------------------------------------------------------------------------------------------------
// Lookahead, makeup, mix, glide

template <class P> void impulse_is_delayed_by_the_latency(typename P::settings_type s, const char* what) {
    using T = typename P::sample_type;
    const double fs = 48000;
    s.threshold_db = 0;  // the impulse (0.5) stays below: the gain is 1
    s.mix = 1;
    s.makeup_db = 0;
    s.auto_makeup = false;
    s.link = dd::channel_link::max;
    for (std::size_t lookahead : {std::size_t(0), std::size_t(1), std::size_t(240), std::size_t(1000)}) {
        s.lookahead_ms = double(lookahead) * 1000.0 / fs;
        s.max_lookahead_ms = 0;
        const std::size_t channels = 2, n = 3000, at = 100;
        std::vector<T> x(channels * n, T(0));
        x[at] = T(0.5);
        x[n + at + 7] = T(-0.25);
        P p;
        p.prepare(dd::process_spec{fs, channels, 64}, s);
        EXPECT_EQ(p.latency(), lookahead) << what;
        EXPECT_EQ(p.delay_line_size(), lookahead) << what;
        const auto out = stream(p, x, channels, 9, 1);  // one sample per block
        std::vector<T> expected(channels * n, T(0));
        if (at + lookahead < n) expected[at + lookahead] = T(0.5);
        if (at + 7 + lookahead < n) expected[n + at + 7 + lookahead] = T(-0.25);
        EXPECT_TRUE(same_bits(out.first, expected)) << what << " lookahead " << lookahead;
        EXPECT_TRUE(same_bits(batch(x, channels, s, fs).first, expected)) << what << " lookahead " << lookahead;
    }
    s.lookahead_ms = 5;
    P p;
    p.prepare(dd::process_spec{fs, 1, 64}, s);
    EXPECT_EQ(p.latency(), 240u) << what;  // 5 ms at 48 kHz
}
TEST(AudioLookahead, AnImpulseIsDelayedByTheReportedLatency) {
    impulse_is_delayed_by_the_latency<dd::compressor_audio_processor<float>>({}, "compressor");
    impulse_is_delayed_by_the_latency<dd::limiter_audio_processor<double>>({}, "limiter");
    impulse_is_delayed_by_the_latency<dd::ssl_audio_processor<float>>({}, "ssl");
    EXPECT_EQ(dd::ms_to_samples(1.0, 44100), 44u);
    EXPECT_EQ(dd::ms_to_samples(0.5 * 1000 / 44100, 44100), 1u);  // a half sample rounds up
}

/// y = mix·(x_{t−L}·g·m) + (1 − mix)·x_{t−L} written out plainly, from the processor's gain.
template <class T>
std::vector<T> chain_reference(const std::vector<T>& x, const std::vector<T>& gain, std::size_t channels,
                               std::size_t lookahead, double makeup_db, double mix) {
    const std::size_t n = x.size() / channels;
    const double m = std::pow(10.0, makeup_db / 20.0);
    std::vector<T> y(x.size());
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t t = 0; t < n; ++t) {
            const double xd = t >= lookahead ? double(x[c * n + t - lookahead]) : 0.0;
            y[c * n + t] = T(mix * (xd * double(gain[c * n + t]) * m) + (1.0 - mix) * xd);
        }
    return y;
}

template <class T> void makeup_and_mix_follow_the_formula() {
    const std::size_t channels = 2, n = 5000;
    const double fs = 44100;
    const auto x = program<T>(channels, n, 81);
    auto s = busy_compressor();
    s.auto_makeup = false;
    s.makeup_db = 4.5;
    s.mix = 0.3;
    s.lookahead_ms = 7 * 1000.0 / fs;
    auto out = batch(x, channels, s, fs);
    EXPECT_TRUE(same_bits(out.first, chain_reference(x, out.second, channels, 7, 4.5, 0.3)));
    s.mix = 0;  // dry: the delayed input itself
    out = batch(x, channels, s, fs);
    EXPECT_TRUE(same_bits(out.first, chain_reference(x, std::vector<T>(x.size(), T(1)), channels, 7, 0, 1)));
    auto l = busy_limiter();
    out = batch(x, channels, l, fs);
    EXPECT_TRUE(same_bits(out.first, chain_reference(x, out.second, channels, 22, 2.5, 0.9)));  // 0.5 ms → 22 samples
}
TEST(AudioChain, MakeupAndMixFollowThePlainFormulaFloat32) { makeup_and_mix_follow_the_formula<float>(); }
TEST(AudioChain, MakeupAndMixFollowThePlainFormulaFloat64) { makeup_and_mix_follow_the_formula<double>(); }

TEST(AudioChain, AutomaticMakeupIsHalfTheStaticReductionAtFullScale) {
    dd::compressor_audio_processor<double> c;
    auto s = busy_compressor();
    s.threshold_db = -24;
    s.ratio = 4;
    s.knee_db = 0;
    s.auto_makeup = true;
    s.makeup_db = 50;  // ignored
    c.prepare(dd::process_spec{}, s);
    EXPECT_DOUBLE_EQ(c.makeup_db(), 9.0);
    s.threshold_db = -2;  // 0 dBFS inside the 6 dB knee: −s·(e + W/2)²/(2W) with e = 2
    s.knee_db = 6;
    c.set_settings(s);
    EXPECT_DOUBLE_EQ(c.makeup_db(), 0.5 * 0.75 * 25 / 12);
    s.auto_makeup = false;
    c.set_settings(s);
    EXPECT_EQ(c.makeup_db(), 50.0);

    dd::limiter_audio_processor<float> l;
    auto ls = busy_limiter();
    ls.threshold_db = -6;
    ls.auto_makeup = true;
    l.prepare(dd::process_spec{}, ls);
    EXPECT_DOUBLE_EQ(l.makeup_db(), 3.0);

    dd::ssl_audio_processor<float> q;
    auto qs = busy_ssl();
    qs.threshold_db = -20;
    qs.ratio = 4;
    qs.feedback = 0.5;
    q.prepare(dd::process_spec{}, qs);
    EXPECT_DOUBLE_EQ(q.makeup_db(), 0.5 * 0.75 * 20 / (1 + 0.75 * 0.5));
    // It is applied: the output is the formula's with that makeup.
    const auto x = program<float>(2, 3000, 82);
    const auto out = batch(x, 2, qs, 44100.0);
    EXPECT_TRUE(same_bits(out.first, chain_reference(x, out.second, 2, 88, q.makeup_db(), 0.6)));  // 2 ms → 88
}

TEST(AudioChain, GlideRampsMakeupAndMixOverTheNextBlock) {
    const std::size_t channels = 2, n1 = 1000, n2 = 777, n3 = 500, n = n1 + n2 + n3;
    const auto x = program<double>(channels, n, 91);
    for (bool glide : {true, false}) {
        auto s = busy_limiter();
        s.lookahead_ms = 0;
        s.glide = glide;
        s.makeup_db = 0;
        s.mix = 1;
        dd::limiter_audio_processor<double> p;
        p.prepare(dd::process_spec{44100, channels, 128}, s);
        std::vector<double> y(x.size()), g(x.size());
        auto run = [&](std::size_t t0, std::size_t m) {
            auto in = rows(x, channels, n, t0);
            auto out = rows(y, channels, n, t0);
            auto gain = rows(g, channels, n, t0);
            p.process(in.data(), out.data(), m, nullptr, gain.data());
        };
        run(0, n1);
        s.makeup_db = 6;
        s.mix = 0.5;
        p.set_settings(s);
        run(n1, n2);
        run(n1 + n2, n3);
        const double m0 = 1.0, m1 = std::pow(10.0, 6.0 / 20.0), w0 = 1.0, w1 = 0.5;
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t t = 0; t < n; ++t) {
                double m = t < n1 ? m0 : m1, w = t < n1 ? w0 : w1;
                if (glide && t >= n1 && t < n1 + n2) {
                    const double r = double(t - n1 + 1) / double(n2);
                    m = m0 * (1.0 - r) + m1 * r;
                    w = w0 * (1.0 - r) + w1 * r;
                }
                const double xd = x[c * n + t];
                ASSERT_EQ(y[c * n + t], w * (xd * g[c * n + t] * m) + (1.0 - w) * xd) << "glide " << glide << " t " << t;
            }
    }
}

// ------------------------------------------------------------------------------------------------
// State, in place

TEST(AudioState, StateAndDelayLineCarryAProcessorOver) {
    const std::size_t channels = 2, n = 6000, half = 2345;
    const auto x = program<float>(channels, n, 101);
    const auto s = busy_ssl();
    const auto whole = batch(x, channels, s, 44100.0);
    dd::ssl_audio_processor<float> a, b;
    a.prepare(dd::process_spec{44100, channels, 300}, s);
    b.prepare(dd::process_spec{44100, channels, 300}, s);
    std::vector<float> y(x.size());
    auto in = rows(x, channels, n);
    auto out = rows(y, channels, n);
    a.process(in.data(), out.data(), half);
    std::vector<double> state(channels * a.state_size);
    std::vector<float> delay(channels * a.delay_line_size());
    ASSERT_EQ(a.delay_line_size(), 88u);
    a.get_state(state.data());
    a.get_delay_line(delay.data());
    b.set_state(state.data());
    b.set_delay_line(delay.data());
    auto in2 = rows(x, channels, n, half);
    auto out2 = rows(y, channels, n, half);
    b.process(in2.data(), out2.data(), n - half);
    EXPECT_TRUE(same_bits(y, whole.first));
    // reset() is a fresh start.
    b.reset();
    b.process(in.data(), out.data(), n);
    EXPECT_TRUE(same_bits(y, whole.first));
}

TEST(AudioState, InPlaceEqualsSeparateBuffers) {
    const std::size_t channels = 2, n = 5000;
    const auto x = program<double>(channels, n, 111);
    const auto s = busy_compressor();
    const auto expected = batch(x, channels, s, 44100.0);
    auto y = x;
    dd::compressor_audio_processor<double> p;
    p.prepare(dd::process_spec{44100, channels, 100}, s);
    for (std::size_t t = 0; t < n; t += 333) {
        auto io = rows(y, channels, n, t);
        p.process(io.data(), io.data(), std::min<std::size_t>(333, n - t));
    }
    EXPECT_TRUE(same_bits(y, expected.first));
}

// ------------------------------------------------------------------------------------------------
// SSL front panel

TEST(SSLFrontPanel, PositionsMapToTheHardwareValues) {
    for (std::size_t i = 0; i < 6; ++i)
        EXPECT_EQ(dd::ssl_attack_ohms(dd::ssl_attack_ms_positions[i]), dd::ssl_attack_ohms_positions[i]);
    for (std::size_t i = 0; i < 4; ++i)
        EXPECT_EQ(dd::ssl_release_ohms(dd::ssl_release_s_positions[i]), dd::ssl_release_ohms_positions[i]);
    const double attack_ms[6] = {0.1, 0.3, 1, 3, 10, 30}, attack_ohms[6] = {820, 2.7e3, 8.2e3, 27e3, 82e3, 270e3};
    const double release_s[4] = {0.1, 0.3, 0.6, 1.2}, release_ohms[4] = {180e3, 270e3, 560e3, 1.2e6};
    for (std::size_t i = 0; i < 6; ++i)
        for (std::size_t j = 0; j < 5; ++j)
            for (double ratio : {2.0, 4.0, 10.0}) {
                const bool is_auto = j == 4;
                const auto panel = dd::ssl_front_panel(attack_ms[i], is_auto ? 0.0 : release_s[j], ratio, 48000);
                const auto ohms = dd::ssl_preset(attack_ohms[i], is_auto ? 0.0 : release_ohms[j], ratio, 48000);
                EXPECT_EQ(panel.comp_ratio, ratio);
                EXPECT_EQ(panel.T_attack_fast, attack_ohms[i] * 0.47e-6);
                EXPECT_EQ(panel.T_attack_fast, ohms.T_attack_fast);
                EXPECT_EQ(panel.T_attack_slow, ohms.T_attack_slow);
                EXPECT_EQ(panel.T_shunt_fast, ohms.T_shunt_fast);
                EXPECT_EQ(panel.T_shunt_slow, ohms.T_shunt_slow);
                EXPECT_EQ(panel.T_shunt_fast, is_auto ? 91e3 * 0.47e-6 : release_ohms[j] * 0.47e-6);
            }
}

TEST(SSLFrontPanel, BetweenPositionsTheResistorIsLogLogInterpolated) {
    EXPECT_NEAR(dd::ssl_attack_ohms(std::sqrt(0.1 * 0.3)), std::sqrt(820.0 * 2700.0), 1e-9 * 2700);
    EXPECT_NEAR(dd::ssl_attack_ohms(10 * std::pow(3.0, 0.25)), 82e3 * std::pow(270.0 / 82.0, 0.25), 1e-9 * 270e3);
    EXPECT_NEAR(dd::ssl_release_ohms(std::sqrt(0.6 * 1.2)), std::sqrt(560e3 * 1.2e6), 1e-3);
    double last = 0;
    for (double ms = 0.1; ms <= 30.0; ms *= 1.01) {
        const double r = dd::ssl_attack_ohms(ms);
        EXPECT_GT(r, last);
        last = r;
    }
    EXPECT_NEAR(dd::ssl_attack_ohms(3.0 * (1 + 1e-7)), 27e3, 27e3 * 1e-6);  // continuous at a position
    EXPECT_NEAR(dd::ssl_attack_ohms(3.0 * (1 - 1e-7)), 27e3, 27e3 * 1e-6);
    const auto k = dd::ssl_front_panel(5.0, 0.45, 3.0, 44100);  // continuous everything
    EXPECT_EQ(k.comp_ratio, 3.0);
    EXPECT_NEAR(k.T_attack_fast, dd::ssl_attack_ohms(5.0) * 0.47e-6, 1e-18);
    EXPECT_GT(k.T_shunt_fast, 270e3 * 0.47e-6);
    EXPECT_LT(k.T_shunt_fast, 560e3 * 0.47e-6);
}

TEST(SSLFrontPanel, OutOfRangeValuesNameTheArgument) {
    expect_argument_error([] { dd::ssl_attack_ohms(0.05); }, "attack_ms");
    expect_argument_error([] { dd::ssl_attack_ohms(31); }, "attack_ms");
    expect_argument_error([] { dd::ssl_front_panel(NAN, 0.1, 4, 44100); }, "attack_ms");
    expect_argument_error([] { dd::ssl_front_panel(1, 2.0, 4, 44100); }, "release_s");
    expect_argument_error([] { dd::ssl_front_panel(1, -0.1, 4, 44100); }, "release_s");
    expect_argument_error([] { dd::ssl_front_panel(1, 0.1, 1.0, 44100); }, "ratio");
    expect_argument_error([] { dd::ssl_front_panel(1, 0.1, 4, 0); }, "fs");
}

// ------------------------------------------------------------------------------------------------
// Errors

TEST(AudioErrors, BadSettingsNameTheField) {
    auto prepare_compressor = [](auto change) {
        auto s = busy_compressor();
        change(s);
        dd::compressor_audio_processor<float> p;
        p.prepare(dd::process_spec{44100, 2, 64}, s);
    };
    using C = dd::compressor_audio_settings;
    expect_argument_error([&] { prepare_compressor([](C& s) { s.mix = 1.5; }); }, "mix");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.ratio = 0.5; }); }, "ratio");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.makeup_db = 200; }); }, "makeup_db");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.threshold_db = NAN; }); }, "threshold_db");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.knee_db = -1; }); }, "knee_db");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.exp_ratio = 2; }); }, "exp_ratio");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.detector_ms = 0; }); }, "detector_ms");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.attack_ms = 1e-6; }); }, "attack_ms");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.release_ms = -3; }); }, "release_ms");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.lookahead_ms = -1; }); }, "lookahead_ms");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.lookahead_ms = 1e12; }); }, "lookahead_ms");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.gate = dd::ar_mode::sigmoid, s.k = 0; }); }, "k");
    expect_argument_error([&] { prepare_compressor([](C& s) { s.threshold_db = -900; }); }, "auto_makeup");
    expect_argument_error([] { dd::parse_channel_link("stereo"); }, "link");
    expect_argument_error([] { dd::parse_level_detector("loud"); }, "detector");

    dd::limiter_audio_processor<double> l;
    auto ls = busy_limiter();
    ls.threshold_db = 1;
    expect_argument_error([&] { l.prepare(dd::process_spec{}, ls); }, "threshold_db");
    dd::ssl_audio_processor<double> q;
    auto qs = busy_ssl();
    qs.attack_ms = 50;
    expect_argument_error([&] { q.prepare(dd::process_spec{}, qs); }, "attack_ms");
    qs = busy_ssl();
    qs.auto_release = false;
    qs.release_ms = 50;
    expect_argument_error([&] { q.prepare(dd::process_spec{}, qs); }, "release_ms");
    qs = busy_ssl();
    qs.feedback = 2;
    expect_argument_error([&] { q.prepare(dd::process_spec{}, qs); }, "feedback");
    expect_argument_error([&] { q.prepare(dd::process_spec{44100, 0, 64}, busy_ssl()); }, "spec.channels");

    // A longer lookahead than the delay line prepared for; the settings stay as they were.
    dd::compressor_audio_processor<float> p;
    p.prepare(dd::process_spec{44100, 2, 64}, busy_compressor());  // 3 ms of delay line
    auto longer = busy_compressor();
    longer.lookahead_ms = 4;
    expect_argument_error([&] { p.set_settings(longer); }, "lookahead_ms");
    EXPECT_EQ(p.settings().lookahead_ms, 1.5);
    EXPECT_THROW(dd::compressor_audio_processor<float>().latency(), std::logic_error);
}

TEST(AudioErrors, BadSignalsNameTheArgumentAndLeaveTheStateAsItWas) {
    const std::size_t channels = 2, n = 400;
    auto x = program<float>(channels, n, 121);
    dd::compressor_audio_processor<float> p, fresh;
    p.prepare(dd::process_spec{44100, channels, 64}, busy_compressor());
    fresh.prepare(dd::process_spec{44100, channels, 64}, busy_compressor());
    std::vector<float> y(x.size()), y_fresh(x.size());
    auto bad = x;
    bad[n + 17] = NAN;
    auto in_bad = rows(bad, channels, n);
    auto out = rows(y, channels, n);
    expect_argument_error([&] { p.process(in_bad.data(), out.data(), n); }, "in");
    auto in = rows(x, channels, n);
    expect_argument_error([&] { p.process(in.data(), out.data(), n, in_bad.data()); }, "sidechain");
    p.process(in.data(), out.data(), n);
    auto out_fresh = rows(y_fresh, channels, n);
    fresh.process(in.data(), out_fresh.data(), n);
    EXPECT_TRUE(same_bits(y, y_fresh));

    // Batch
    const auto s = busy_compressor();
    std::vector<float> short_y(channels * (n - 1)), key(3 * n, 0.1f);
    auto xv = signal_view<float>{x.data(), channels, n};
    auto ys = signal_span<float>{y.data(), channels, n};
    expect_argument_error([&] { dd::process_audio(signal_view<float>{bad.data(), channels, n}, s, 44100, ys); }, "x");
    expect_argument_error([&] { dd::process_audio(signal_view<float>{x.data(), 0, n}, s, 44100, ys); }, "x");
    expect_argument_error([&] { dd::process_audio(xv, s, 44100, signal_span<float>{short_y.data(), channels, n - 1}); }, "y");
    expect_argument_error([&] { dd::process_audio(xv, s, 44100, ys, signal_view<float>{key.data(), 3, n}); }, "sidechain");
    expect_argument_error([&] { dd::process_audio(xv, s, 44100, ys, {}, signal_span<float>{short_y.data(), channels, n - 1}); }, "gain");
    expect_argument_error([&] { dd::process_audio(xv, s, 0.0, ys); }, "fs");
    auto nan_mix = s;
    nan_mix.mix = NAN;
    expect_argument_error([&] { dd::process_audio(xv, nan_mix, 44100, ys); }, "mix");
}
