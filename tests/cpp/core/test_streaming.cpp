// Every processor's streaming form against its batch form, and the batch form in pieces against one
// call: random block splits (lengths 1 … 4096) with the settings changed at block boundaries equal
// batch calls on the same pieces with the state carried over, bit for bit, in float32 and float64;
// results do not depend on the thread count or on the SIMD level.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"

namespace {

constexpr std::size_t channels = 3;

/// Audio-like rows: noise bursts under random dB steps (attack and release alternate), no zeros.
template <class T> std::vector<T> audio(std::size_t rows, std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::uniform_real_distribution<double> level_db(-70.0, 0.0), hold(0.002, 0.05);
    std::vector<T> x(rows * n);
    for (std::size_t b = 0; b < rows; ++b) {
        std::size_t t = 0;
        while (t < n) {
            const double amp = std::pow(10.0, level_db(rng) / 20.0);
            const std::size_t len = std::max<std::size_t>(1, std::size_t(hold(rng) * 44100.0));
            for (std::size_t e = std::min(n, t + len); t < e; ++t) {
                double v = amp * noise(rng);
                if (std::abs(v) < 1e-6) v = 1e-6;
                x[b * n + t] = T(v);
            }
        }
    }
    return x;
}

/// A positive level: avg(|audio|) floored, as the classical compressor's detector gives it.
template <class T> std::vector<T> level(std::size_t rows, std::size_t n, unsigned seed) {
    std::vector<T> x = audio<T>(rows, n, seed);
    for (std::size_t b = 0; b < rows; ++b) {
        double y = 0;
        for (std::size_t t = 0; t < n; ++t) {
            y = 0.01 * std::abs(double(x[b * n + t])) + 0.99 * y;
            x[b * n + t] = T(std::max(y, 1e-7));
        }
    }
    return x;
}

template <class T> std::vector<T> level_db(std::size_t rows, std::size_t n, unsigned seed) {
    std::vector<T> x = audio<T>(rows, n, seed);
    for (auto& v : x) v = T(20.0 * std::log10(std::max(std::abs(double(v)), 1e-7)));
    return x;
}

template <class T> testing::AssertionResult same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    if (a.size() != b.size()) return testing::AssertionFailure() << "sizes " << a.size() << " and " << b.size();
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0)
            return testing::AssertionFailure() << "first difference at " << i << ": " << a[i] << " vs " << b[i];
    return testing::AssertionSuccess();
}

/// One processor under test: its settings type, a settings generator, the batch call on (rows × n)
/// with state in/out, and the streaming class.
template <class T, class Processor> struct harness {
    using settings = typename Processor::settings_type;
    std::function<std::vector<T>(std::size_t, std::size_t, unsigned)> signal;
    std::function<settings(std::mt19937_64&)> random_settings;
    /// out = batch(x) for `rows` rows of n samples, one settings for all rows, state in/out.
    std::function<void(const T* x, std::size_t rows, std::size_t n, const settings& s, const double* zi, double* final,
                       T* out)>
        batch;
    std::size_t outputs = 1;  // outputs per sample (ssl_processor: y and gain)
    /// Streaming: out[c] (and out2[c]) from in[c].
    std::function<void(Processor&, const T* const* in, T* const* out, T* const* out2, std::size_t n)> process;
};

/// Streams `x` (channels × n) through the processor in random blocks of 1 … 4096 samples, changing
/// the settings at random boundaries, and compares with batch calls on the same pieces with the
/// state carried over.
template <class T, class Processor> void check_streaming_equals_batch(const harness<T, Processor>& h, unsigned seed) {
    const std::size_t n = 30000;
    const std::vector<T> x = h.signal(channels, n, seed);
    std::mt19937_64 rng(seed + 1);
    std::uniform_int_distribution<std::size_t> block_len(1, 4096);
    std::bernoulli_distribution change(0.3), tiny(0.2);
    std::uniform_int_distribution<std::size_t> small(1, 16);

    Processor p;
    typename Processor::settings_type s = h.random_settings(rng);
    p.prepare(dd::process_spec{44100.0, channels, 4096}, s);
    std::vector<double> state(channels * Processor::state_size);
    p.get_state(state.data());  // the initial state, as batch's zi

    std::vector<T> streamed(h.outputs * channels * n), batched(h.outputs * channels * n);
    std::size_t t0 = 0;
    while (t0 < n) {
        const std::size_t len = std::min(n - t0, tiny(rng) ? small(rng) : block_len(rng));
        if (t0 > 0 && change(rng)) {
            s = h.random_settings(rng);
            p.set_settings(s);
        }
        // Streaming: channel pointers into x and into the outputs at t0.
        const T* in[channels];
        T *out[channels], *out2[channels];
        for (std::size_t c = 0; c < channels; ++c) {
            in[c] = x.data() + c * n + t0;
            out[c] = streamed.data() + c * n + t0;
            out2[c] = streamed.data() + (channels + c) * n + t0;
        }
        h.process(p, in, out, out2, len);
        // Batch: the piece copied into contiguous rows, from the carried state.
        std::vector<T> piece(channels * len), piece_out(h.outputs * channels * len);
        for (std::size_t c = 0; c < channels; ++c)
            std::copy(x.begin() + c * n + t0, x.begin() + c * n + t0 + len, piece.begin() + c * len);
        std::vector<double> final(state.size());
        h.batch(piece.data(), channels, len, s, state.data(), final.data(), piece_out.data());
        state = final;
        for (std::size_t o = 0; o < h.outputs; ++o)
            for (std::size_t c = 0; c < channels; ++c)
                std::copy(piece_out.begin() + (o * channels + c) * len, piece_out.begin() + (o * channels + c + 1) * len,
                          batched.begin() + (o * channels + c) * n + t0);
        t0 += len;
    }
    ASSERT_TRUE(same_bits(streamed, batched)) << "streaming differs from batch";
    std::vector<double> streamed_state(state.size());
    p.get_state(streamed_state.data());
    ASSERT_TRUE(same_bits(streamed_state, state)) << "final states differ";

    // Without settings changes, batch in pieces equals one batch call.
    const auto s0 = h.random_settings(rng);
    std::vector<double> zi(state.size());
    Processor fresh;
    fresh.prepare(dd::process_spec{44100.0, channels, 64}, s0);
    fresh.get_state(zi.data());
    std::vector<T> whole(h.outputs * channels * n), pieces(h.outputs * channels * n);
    std::vector<double> whole_final(zi.size());
    h.batch(x.data(), channels, n, s0, zi.data(), whole_final.data(), whole.data());
    std::vector<double> carried = zi;
    for (std::size_t a = 0; a < n;) {
        const std::size_t len = std::min(n - a, block_len(rng));
        std::vector<T> piece(channels * len), piece_out(h.outputs * channels * len);
        for (std::size_t c = 0; c < channels; ++c) std::copy(x.begin() + c * n + a, x.begin() + c * n + a + len, piece.begin() + c * len);
        std::vector<double> final(carried.size());
        h.batch(piece.data(), channels, len, s0, carried.data(), final.data(), piece_out.data());
        carried = final;
        for (std::size_t o = 0; o < h.outputs; ++o)
            for (std::size_t c = 0; c < channels; ++c)
                std::copy(piece_out.begin() + (o * channels + c) * len, piece_out.begin() + (o * channels + c + 1) * len,
                          pieces.begin() + (o * channels + c) * n + a);
        a += len;
    }
    EXPECT_TRUE(same_bits(whole, pieces)) << "batch in pieces differs from one call";
    EXPECT_TRUE(same_bits(whole_final, carried)) << "final states differ";
}

template <class T> double coef(std::mt19937_64& rng, double lo_ms, double hi_ms) {
    std::uniform_real_distribution<double> u(std::log(lo_ms), std::log(hi_ms));
    return double(T(dd::ms2coef(std::exp(u(rng)), 44100.0)));
}

template <class T> harness<T, dd::hard_smoother_processor<T>> hard_smoother() {
    harness<T, dd::hard_smoother_processor<T>> h;
    h.signal = level<T>;
    h.random_settings = [](std::mt19937_64& rng) { return dd::hard_smoother_settings{coef<T>(rng, 0.5, 20), coef<T>(rng, 20, 500), 1.0}; };
    h.batch = [](const T* x, std::size_t rows, std::size_t n, const dd::hard_smoother_settings& s, const double* zi,
                 double* final, T* out) {
        dd::attack_release_smoother<T>({x, rows, n}, dd::row_param<double>(zi, rows), T(s.at), T(s.rt), {out, rows, n}, final);
    };
    h.process = [](auto& p, const T* const* in, T* const* out, T* const*, std::size_t n) { p.process(in, out, n); };
    return h;
}

template <class T> harness<T, dd::sigmoid_smoother_processor<T>> sigmoid_smoother() {
    harness<T, dd::sigmoid_smoother_processor<T>> h;
    h.signal = level<T>;
    h.random_settings = [](std::mt19937_64& rng) {
        std::uniform_real_distribution<double> k(0.2, 5.0);
        return dd::sigmoid_smoother_settings{coef<T>(rng, 0.5, 20), coef<T>(rng, 20, 500), double(T(k(rng))), 1.0};
    };
    h.batch = [](const T* x, std::size_t rows, std::size_t n, const dd::sigmoid_smoother_settings& s, const double* zi,
                 double* final, T* out) {
        dd::sigmoid_smoother<T>({x, rows, n}, dd::row_param<double>(zi, rows), T(s.alpha_a), T(s.alpha_r), T(s.k),
                                {out, rows, n}, final);
    };
    h.process = [](auto& p, const T* const* in, T* const* out, T* const*, std::size_t n) { p.process(in, out, n); };
    return h;
}

template <class T> harness<T, dd::avg_processor<T>> averaging() {
    harness<T, dd::avg_processor<T>> h;
    h.signal = audio<T>;
    h.random_settings = [](std::mt19937_64& rng) { return dd::avg_settings{coef<T>(rng, 1, 100), 0.0}; };
    h.batch = [](const T* x, std::size_t rows, std::size_t n, const dd::avg_settings& s, const double* zi, double* final,
                 T* out) { dd::avg<T>({x, rows, n}, T(s.coef), {out, rows, n}, zi, final); };
    h.process = [](auto& p, const T* const* in, T* const* out, T* const*, std::size_t n) { p.process(in, out, n); };
    return h;
}

template <class T> harness<T, dd::compexp_processor<T>> compexp(dd::ar_mode mode) {
    harness<T, dd::compexp_processor<T>> h;
    h.signal = level<T>;
    h.random_settings = [mode](std::mt19937_64& rng) {
        std::uniform_real_distribution<double> ct(-40, -10), cr(1.5, 10), knee(0, 12), k(0.3, 4);
        std::bernoulli_distribution with_knee(0.5), with_expander(0.5);
        dd::compexp_settings s;
        s.comp_thresh = double(T(ct(rng)));
        s.comp_ratio = double(T(cr(rng)));
        if (with_expander(rng)) {
            s.exp_thresh = double(T(-55.0));
            s.exp_ratio = double(T(0.5));
        }
        s.knee = with_knee(rng) ? double(T(knee(rng))) : 0.0;
        s.at = coef<T>(rng, 0.5, 20);
        s.rt = coef<T>(rng, 20, 500);
        s.mode = mode;
        s.k = double(T(k(rng)));
        return s;
    };
    h.batch = [](const T* x, std::size_t rows, std::size_t n, const dd::compexp_settings& s, const double* zi,
                 double* final, T* out) {
        const dd::compexp_params<T> curve{T(s.comp_thresh), T(s.comp_ratio), T(s.exp_thresh), T(s.exp_ratio), T(s.knee)};
        dd::compexp_gain_mode<T>({x, rows, n}, curve, T(s.at), T(s.rt), s.mode, T(s.k), {out, rows, n}, zi, final);
    };
    h.process = [](auto& p, const T* const* in, T* const* out, T* const*, std::size_t n) { p.process(in, out, n); };
    return h;
}

template <class T> harness<T, dd::limiter_processor<T>> limiter() {
    harness<T, dd::limiter_processor<T>> h;
    h.signal = audio<T>;
    h.random_settings = [](std::mt19937_64& rng) {
        std::uniform_real_distribution<double> thr(-20, 0);
        dd::limiter_settings s;
        s.threshold = double(T(thr(rng)));
        s.at = coef<T>(rng, 0.1, 5);
        s.rt = coef<T>(rng, 20, 300);
        return s;
    };
    h.batch = [](const T* x, std::size_t rows, std::size_t n, const dd::limiter_settings& s, const double* zi,
                 double* final, T* out) {
        std::vector<T> peak(rows * n);
        dd::limiter_gain<T>({x, rows, n}, T(s.threshold), T(s.at), T(s.rt), {out, rows, n}, {peak.data(), rows, n}, zi, final);
    };
    h.process = [](auto& p, const T* const* in, T* const* out, T* const*, std::size_t n) { p.process(in, out, n); };
    return h;
}

dd::ssl_settings random_ssl(std::mt19937_64& rng, bool as_float) {
    std::uniform_real_distribution<double> ct(-35, -5), fb(0, 1), knee(0, 6);
    std::uniform_int_distribution<int> pos(0, 5), rel(0, 4), ratio(0, 2);
    auto r = [as_float](double v) { return as_float ? double(float(v)) : v; };
    const dd::ssl_knob_params k = dd::ssl_preset(dd::ssl_attack_ohms_positions[pos(rng)],
                                                 rel(rng) == 4 ? dd::ssl_release_auto : dd::ssl_release_ohms_positions[rel(rng) % 4],
                                                 dd::ssl_ratio_positions[ratio(rng)], 44100.0);
    dd::ssl_settings s;
    s.comp_thresh = r(ct(rng));
    s.comp_ratio = r(k.comp_ratio);
    s.T_attack_fast = r(k.T_attack_fast);
    s.T_attack_slow = r(k.T_attack_slow);
    s.T_shunt_fast = r(k.T_shunt_fast);
    s.T_shunt_slow = r(k.T_shunt_slow);
    s.feedback_coeff = r(fb(rng));
    s.knee = rel(rng) < 2 ? r(knee(rng)) : 0.0;
    return s;
}

template <class T> dd::ssl_params<T> ssl_params_of(const dd::ssl_settings& s) {
    return {T(s.comp_thresh),  T(s.comp_ratio),     T(s.T_attack_fast), T(s.T_attack_slow), T(s.T_shunt_fast),
            T(s.T_shunt_slow), T(s.feedback_coeff), 44100.0,            T(s.knee)};
}

template <class T> harness<T, dd::ssl_gain_processor<T>> ssl_gain() {
    harness<T, dd::ssl_gain_processor<T>> h;
    h.signal = level_db<T>;
    h.random_settings = [](std::mt19937_64& rng) { return random_ssl(rng, sizeof(T) == 4); };
    h.batch = [](const T* x, std::size_t rows, std::size_t n, const dd::ssl_settings& s, const double* zi, double* final,
                 T* out) { dd::ssl_comp_gain<T>({x, rows, n}, ssl_params_of<T>(s), {out, rows, n}, nullptr, zi, final); };
    h.process = [](auto& p, const T* const* in, T* const* out, T* const*, std::size_t n) { p.process(in, out, n); };
    return h;
}

template <class T> harness<T, dd::ssl_processor<T>> ssl_audio() {
    harness<T, dd::ssl_processor<T>> h;
    h.signal = audio<T>;
    h.outputs = 2;
    h.random_settings = [](std::mt19937_64& rng) { return random_ssl(rng, sizeof(T) == 4); };
    h.batch = [](const T* x, std::size_t rows, std::size_t n, const dd::ssl_settings& s, const double* zi, double* final,
                 T* out) {
        // out: y (rows × n), then the gain (rows × n), as the streaming side writes them.
        dd::ssl_compress<T>({x, rows, n}, ssl_params_of<T>(s), {out + rows * n, rows, n}, {out, rows, n}, nullptr, zi, final);
    };
    h.process = [](auto& p, const T* const* in, T* const* out, T* const* out2, std::size_t n) { p.process(in, out, n, out2); };
    return h;
}

template <class T> void check_every_processor(unsigned seed) {
    {
        SCOPED_TRACE("hard smoother");
        check_streaming_equals_batch(hard_smoother<T>(), seed);
    }
    {
        SCOPED_TRACE("sigmoid smoother");
        check_streaming_equals_batch(sigmoid_smoother<T>(), seed + 10);
    }
    {
        SCOPED_TRACE("avg");
        check_streaming_equals_batch(averaging<T>(), seed + 20);
    }
    {
        SCOPED_TRACE("compexp, hard gate");
        check_streaming_equals_batch(compexp<T>(dd::ar_mode::hard), seed + 30);
    }
    {
        SCOPED_TRACE("compexp, sigmoid gate");
        check_streaming_equals_batch(compexp<T>(dd::ar_mode::sigmoid), seed + 40);
    }
    {
        SCOPED_TRACE("limiter");
        check_streaming_equals_batch(limiter<T>(), seed + 50);
    }
    {
        SCOPED_TRACE("ssl gain");
        check_streaming_equals_batch(ssl_gain<T>(), seed + 60);
    }
    {
        SCOPED_TRACE("ssl audio");
        check_streaming_equals_batch(ssl_audio<T>(), seed + 70);
    }
}

}  // namespace

TEST(Streaming, EveryProcessorEqualsBatchOverRandomBlocksFloat32) { check_every_processor<float>(100); }
TEST(Streaming, EveryProcessorEqualsBatchOverRandomBlocksFloat64) { check_every_processor<double>(200); }

TEST(Streaming, ProcessorsRefuseUseBeforePrepareAndBadSettings) {
    dd::compexp_processor<float> p;
    float x = 0.5f, y;
    const float* in[1] = {&x};
    float* out[1] = {&y};
    EXPECT_THROW(p.process(in, out, 1), std::logic_error);
    EXPECT_THROW(p.prepare(dd::process_spec{0.0, 1, 16}), dd::argument_error);
    EXPECT_THROW(p.prepare(dd::process_spec{44100.0, 0, 16}), dd::argument_error);
    dd::compexp_settings bad;
    bad.comp_ratio = 0.5;
    try {
        p.prepare(dd::process_spec{44100.0, 1, 16}, bad);
        FAIL() << "accepted a ratio of 0.5";
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), "comp_ratio");
    }
    p.prepare(dd::process_spec{44100.0, 1, 16});
    const float bad_level = -1.f;
    const float* bad_in[1] = {&bad_level};
    double before, after;
    p.get_state(&before);
    EXPECT_THROW(p.process(bad_in, out, 1), dd::argument_error);
    p.get_state(&after);
    EXPECT_EQ(before, after);  // a refused block leaves the state as it was
    EXPECT_THROW(p.set_settings(5, dd::compexp_settings{}), dd::argument_error);
}

TEST(Streaming, BlocksLongerThanMaxBlockAndEmptyBlocks) {
    // A block longer than the prepared maximum is processed in pieces of that size, same bits.
    const std::size_t n = 10000;
    const auto x = level<float>(1, n, 5);
    std::vector<float> a(n), b(n);
    dd::compexp_processor<float> small, large;
    small.prepare(dd::process_spec{48000.0, 1, 37});
    large.prepare(dd::process_spec{48000.0, 1, n});
    const float* in[1] = {x.data()};
    float* out_a[1] = {a.data()};
    float* out_b[1] = {b.data()};
    small.process(in, out_a, 0);
    small.process(in, out_a, n);
    large.process(in, out_b, n);
    EXPECT_TRUE(same_bits(a, b));
}
