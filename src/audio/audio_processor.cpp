// The chain around a side chain: settings checks, the exchange of state with the side chain's
// streaming processors, the channel link, the lookahead delay line, makeup, mix and their glide; and
// the batch function, which runs a processor over the whole signal.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/validate.hpp"
#include "differential_dynamics/audio.hpp"
#include "differential_dynamics/conversions.hpp"

namespace dd {

namespace {

constexpr double makeup_limit_db = 100.0;
constexpr double max_delay_samples = double(std::size_t(1) << 24);

void check_chain_settings(const audio_chain_settings& s) {
    check_finite_setting(s.makeup_db, "makeup_db");
    if (std::fabs(s.makeup_db) > makeup_limit_db)
        throw argument_error("makeup_db", "must be in [-100, 100] dB " + setting_value(s.makeup_db));
    if (!(s.mix >= 0.0 && s.mix <= 1.0)) throw argument_error("mix", "must be in [0, 1] " + setting_value(s.mix));
    if (s.link != channel_link::none && s.link != channel_link::max && s.link != channel_link::mean)
        throw argument_error("link", "must be none, max or mean");
    check_finite_setting(s.lookahead_ms, "lookahead_ms");
    if (s.lookahead_ms < 0) throw argument_error("lookahead_ms", "must be >= 0 " + setting_value(s.lookahead_ms));
    check_finite_setting(s.max_lookahead_ms, "max_lookahead_ms");
    if (s.max_lookahead_ms < 0)
        throw argument_error("max_lookahead_ms", "must be >= 0 " + setting_value(s.max_lookahead_ms));
}

/// A delay in samples at rate fs, at most 2^24.
std::size_t delay_samples(double ms, double fs, const char* name) {
    if (!(ms * fs / 1000.0 <= max_delay_samples))
        throw argument_error(name, "must be at most 2^24 samples at the sample rate " + setting_value(ms));
    return ms_to_samples(ms, fs);
}

/// The glide of a linear factor from `from` to `to` at fraction r ∈ (0, 1] of the block.
double glide_value(double from, double to, double r) { return from == to ? to : from * (1.0 - r) + to * r; }

}  // namespace

// ------------------------------------------------------------------------------------------------
// Settings, lifecycle and state

template <class SC> void audio_processor<SC>::check_settings(const settings_type& s) {
    check_chain_settings(s);
    SC::check_settings(s);
    if (s.auto_makeup && !(std::fabs(SC::auto_makeup_db(s)) <= makeup_limit_db))
        throw argument_error("auto_makeup", "the automatic makeup " + setting_value(SC::auto_makeup_db(s)) +
                                                " is outside [-100, 100] dB (is the threshold that low?)");
}

template <class SC> void audio_processor<SC>::check_state(const double* state) { SC::check_state(state); }

template <class SC> void audio_processor<SC>::check_at_rate(const settings_type& s, double fs) {
    SC::check_at_rate(s, fs);
    delay_samples(s.lookahead_ms, fs, "lookahead_ms");
    delay_samples(s.max_lookahead_ms, fs, "max_lookahead_ms");
}

template <class SC> void audio_processor<SC>::prepare(const process_spec& spec, const settings_type& settings) {
    detail::check_process_spec(spec);
    check_settings(settings);
    check_at_rate(settings, spec.fs);
    base::prepare(spec, settings);
}

template <class SC> void audio_processor<SC>::set_settings(const settings_type& settings) {
    this->check();
    check_settings(settings);
    check_at_rate(settings, this->spec_.fs);
    if (ms_to_samples(settings.lookahead_ms, this->spec_.fs) > delay_capacity_)
        throw argument_error("lookahead_ms", "exceeds the delay line of " + std::to_string(delay_capacity_) +
                                                 " samples this processor was prepared for (prepare it again with a "
                                                 "larger max_lookahead_ms) " + setting_value(settings.lookahead_ms));
    base::set_settings(settings);
}

template <class SC> void audio_processor<SC>::on_prepare() {
    const process_spec& spec = this->spec_;
    const settings_type& s = this->settings_[0];
    const std::size_t channels = spec.channels, block = spec.max_block;
    delay_capacity_ = ms_to_samples(std::max(s.lookahead_ms, s.max_lookahead_ms), spec.fs);
    ring_size_ = delay_capacity_ ? delay_capacity_ + block : 0;
    ring_.assign(channels * ring_size_, T(0));
    delayed_.assign(block, T(0));
    level_.assign(channels * block, T(0));
    gain_.assign(channels * block, T(0));
    linked_level_.assign(block, T(0));
    source_.assign(channels, nullptr);
    level_rows_.resize(channels);
    gain_rows_.resize(channels);
    for (std::size_t c = 0; c < channels; ++c) {
        level_rows_[c] = level_.data() + c * block;
        gain_rows_[c] = gain_.data() + c * block;
    }
    linked_gain_rows_.assign(channels, gain_.data());  // every channel reads the one linked gain
    gain_state_.assign(channels * SC::gain_processor::state_size, 0.0);
    side_chain_.prepare(spec);
    const auto gain_settings = SC::gain_settings(s, spec.fs);
    channel_gain_.prepare(spec, gain_settings);
    linked_gain_.prepare(process_spec{spec.fs, 1, block}, gain_settings);
}  // the base calls on_settings() next

template <class SC> void audio_processor<SC>::on_settings() {
    const settings_type& s = this->settings_[0];
    const double fs = this->spec_.fs;
    const auto gain_settings = SC::gain_settings(s, fs);
    channel_gain_.set_settings(gain_settings);
    linked_gain_.set_settings(gain_settings);
    side_chain_.set_settings(s, fs);
    linked_ = s.link != channel_link::none && this->spec_.channels > 1;
    lookahead_ = ms_to_samples(s.lookahead_ms, fs);
    makeup_to_ = db2amp(makeup_db());
    mix_to_ = s.mix;
}

template <class SC> void audio_processor<SC>::on_reset() {
    std::fill(ring_.begin(), ring_.end(), T(0));
    ring_pos_ = 0;
    makeup_from_ = makeup_to_;
    mix_from_ = mix_to_;
}

/// state_ → the side chain's processors. Linked, the one gain computer continues from the channel
/// whose gain state reduces most (after a switch to linked no channel's gain jumps up).
template <class SC> void audio_processor<SC>::load_state() {
    constexpr std::size_t gs = SC::gain_processor::state_size;
    const std::size_t channels = this->spec_.channels;
    const double* state = this->state_.data();
    side_chain_.load_detector_state(state, state_size);
    if (linked_) {
        std::size_t lowest = 0;
        for (std::size_t c = 1; c < channels; ++c)
            if (SC::state_gain(state + c * state_size + detector_state_size) <
                SC::state_gain(state + lowest * state_size + detector_state_size))
                lowest = c;
        linked_gain_.set_state(state + lowest * state_size + detector_state_size);
        return;
    }
    for (std::size_t c = 0; c < channels; ++c)
        std::copy_n(state + c * state_size + detector_state_size, gs, gain_state_.data() + c * gs);
    channel_gain_.set_state(gain_state_.data());
}

/// The side chain's processors → state_ (linked: the one gain state in every channel).
template <class SC> void audio_processor<SC>::save_state() {
    constexpr std::size_t gs = SC::gain_processor::state_size;
    const std::size_t channels = this->spec_.channels;
    double* state = this->state_.data();
    side_chain_.save_detector_state(state, state_size);
    if (linked_)
        linked_gain_.get_state(gain_state_.data());
    else
        channel_gain_.get_state(gain_state_.data());
    for (std::size_t c = 0; c < channels; ++c)
        std::copy_n(gain_state_.data() + (linked_ ? 0 : c * gs), gs, state + c * state_size + detector_state_size);
}

template <class SC> std::size_t audio_processor<SC>::latency() const {
    this->check();
    return lookahead_;
}

template <class SC> double audio_processor<SC>::makeup_db() const {
    this->check();
    const settings_type& s = this->settings_[0];
    return s.auto_makeup ? SC::auto_makeup_db(s) : s.makeup_db;
}

template <class SC> std::size_t audio_processor<SC>::delay_line_size() const {
    this->check();
    return delay_capacity_;
}

template <class SC> void audio_processor<SC>::get_delay_line(T* out) const {
    this->check();
    for (std::size_t c = 0; c < this->spec_.channels; ++c)
        for (std::size_t k = 0; k < delay_capacity_; ++k)
            out[c * delay_capacity_ + k] =
                ring_[c * ring_size_ + (ring_pos_ + ring_size_ - delay_capacity_ + k) % ring_size_];
}

template <class SC> void audio_processor<SC>::set_delay_line(const T* in) {
    this->check();
    if (delay_capacity_ == 0) return;
    check_signal(signal_view<T>{in, this->spec_.channels, delay_capacity_}, "delay_line");
    for (std::size_t c = 0; c < this->spec_.channels; ++c)
        for (std::size_t k = 0; k < delay_capacity_; ++k)
            ring_[c * ring_size_ + (ring_pos_ + ring_size_ - delay_capacity_ + k) % ring_size_] =
                in[c * delay_capacity_ + k];
}

// ------------------------------------------------------------------------------------------------
// Processing

template <class SC>
void audio_processor<SC>::process(const T* const* in, T* const* out, std::size_t n, const T* const* sidechain,
                                  T* const* gain_out) {
    this->check();
    if (n == 0) return;
    const std::size_t channels = this->spec_.channels, block = this->spec_.max_block;
    for (std::size_t c = 0; c < channels; ++c) {
        check_signal(signal_view<T>{in[c], 1, n}, "in");
        if (sidechain) check_signal(signal_view<T>{sidechain[c], 1, n}, "sidechain");
    }
    load_state();
    for (std::size_t t0 = 0; t0 < n; t0 += block) {
        const std::size_t m = std::min(block, n - t0);
        for (std::size_t c = 0; c < channels; ++c) source_[c] = (sidechain ? sidechain[c] : in[c]) + t0;
        side_chain_.detect(source_.data(), level_rows_.data(), m);
        T* const* gain = gain_rows_.data();
        if (linked_) {
            link_levels(m);
            T* linked_level = linked_level_.data();
            T* linked_gain = gain_.data();
            side_chain_.gain(linked_gain_, &linked_level, &linked_gain, m);
            gain = linked_gain_rows_.data();
        } else {
            side_chain_.gain(channel_gain_, level_rows_.data(), gain_rows_.data(), m);
        }
        write_output(in, out, gain_out, gain, t0, m, n);
    }
    save_state();
    makeup_from_ = makeup_to_;
    mix_from_ = mix_to_;
}

/// linked_level_ = the max or mean over channels of the levels (the mean summed in double).
template <class SC> void audio_processor<SC>::link_levels(std::size_t n) {
    const std::size_t channels = this->spec_.channels;
    T* linked = linked_level_.data();
    if (this->settings_[0].link == channel_link::max) {
        std::copy_n(level_rows_[0], n, linked);
        for (std::size_t c = 1; c < channels; ++c)
            for (std::size_t t = 0; t < n; ++t) linked[t] = std::max(linked[t], level_rows_[c][t]);
        return;
    }
    for (std::size_t t = 0; t < n; ++t) {
        double sum = 0.0;
        for (std::size_t c = 0; c < channels; ++c) sum += double(level_rows_[c][t]);
        linked[t] = T(sum / double(channels));
    }
}

/// Channel c's input x (n samples) delayed by the lookahead. The input goes into the ring first: with
/// out == in it is about to be overwritten.
template <class SC>
auto audio_processor<SC>::delayed_input(std::size_t c, const T* x, std::size_t n) -> const T* {
    if (ring_size_ == 0) return x;
    T* ring = ring_.data() + c * ring_size_;
    const std::size_t head = std::min(n, ring_size_ - ring_pos_);
    std::copy_n(x, head, ring + ring_pos_);
    std::copy_n(x + head, n - head, ring);
    if (lookahead_ == 0) return x;
    const std::size_t start = (ring_pos_ + ring_size_ - lookahead_) % ring_size_;
    const std::size_t first = std::min(n, ring_size_ - start);
    std::copy_n(ring + start, first, delayed_.data());
    std::copy_n(ring, n - first, delayed_.data() + first);
    return delayed_.data();
}

/// Samples t0 … t0 + n − 1 of a block of `block` samples: y = mix·(x·g·m) + (1 − mix)·x in double, x
/// the delayed input. With glide, m and mix move linearly over the block from the last block's values.
template <class SC>
void audio_processor<SC>::write_output(const T* const* in, T* const* out, T* const* gain_out, T* const* gain,
                                       std::size_t t0, std::size_t n, std::size_t block) {
    const bool ramp = this->settings_[0].glide && (makeup_from_ != makeup_to_ || mix_from_ != mix_to_);
    for (std::size_t c = 0; c < this->spec_.channels; ++c) {
        const T* x = delayed_input(c, in[c] + t0, n);
        const T* g = gain[c];
        T* y = out[c] + t0;
        if (gain_out) std::copy_n(g, n, gain_out[c] + t0);
        if (!ramp) {
            const double makeup = makeup_to_, wet = mix_to_, dry = 1.0 - mix_to_;
            for (std::size_t t = 0; t < n; ++t) {
                const double xd = double(x[t]);
                y[t] = T(wet * (xd * double(g[t]) * makeup) + dry * xd);
            }
            continue;
        }
        for (std::size_t t = 0; t < n; ++t) {
            const double r = double(t0 + t + 1) / double(block);
            const double makeup = glide_value(makeup_from_, makeup_to_, r), wet = glide_value(mix_from_, mix_to_, r);
            const double xd = double(x[t]);
            y[t] = T(wet * (xd * double(g[t]) * makeup) + (1.0 - wet) * xd);
        }
    }
    if (ring_size_) ring_pos_ = (ring_pos_ + n) % ring_size_;
}

// ------------------------------------------------------------------------------------------------
// Batch

namespace {

template <class Processor, class T>
void run_batch(signal_view<T> x, const typename Processor::settings_type& settings, double fs, signal_span<T> y,
               signal_view<T> sidechain, signal_span<T> gain) {
    check_signal(x, "x");
    if (x.rows > 4096) throw argument_error("x", "has " + std::to_string(x.rows) + " channels (at most 4096)");
    check_output(y, x, "y");
    if (gain.data) check_output(gain, x, "gain");
    if (sidechain.data) {
        if (sidechain.cols != x.cols || (sidechain.rows != 1 && sidechain.rows != x.rows))
            throw argument_error("sidechain", "must have x's length and 1 or x's channel count (" +
                                                  std::to_string(x.rows) + ") of channels");
        check_signal(sidechain, "sidechain");
    }
    if (!std::isfinite(fs) || !(fs > 0)) throw argument_error("fs", "sample rate must be finite and > 0 " + setting_value(fs));
    Processor p;
    p.prepare(process_spec{fs, x.rows, std::min<std::size_t>(x.cols, std::size_t(1) << 16)}, settings);
    std::vector<const T*> in(x.rows), key(x.rows);
    std::vector<T*> out(x.rows), gains(x.rows);
    for (std::size_t c = 0; c < x.rows; ++c) {
        in[c] = x.row(c);
        out[c] = y.row(c);
        if (sidechain.data) key[c] = sidechain.row(sidechain.rows == 1 ? 0 : c);
        if (gain.data) gains[c] = gain.row(c);
    }
    p.process(in.data(), out.data(), x.cols, sidechain.data ? key.data() : nullptr, gain.data ? gains.data() : nullptr);
}

}  // namespace

template <class T>
void process_audio(signal_view<T> x, const compressor_audio_settings& settings, double fs, signal_span<T> y,
                   signal_view<T> sidechain, signal_span<T> gain) {
    run_batch<compressor_audio_processor<T>>(x, settings, fs, y, sidechain, gain);
}
template <class T>
void process_audio(signal_view<T> x, const limiter_audio_settings& settings, double fs, signal_span<T> y,
                   signal_view<T> sidechain, signal_span<T> gain) {
    run_batch<limiter_audio_processor<T>>(x, settings, fs, y, sidechain, gain);
}
template <class T>
void process_audio(signal_view<T> x, const ssl_audio_settings& settings, double fs, signal_span<T> y,
                   signal_view<T> sidechain, signal_span<T> gain) {
    run_batch<ssl_audio_processor<T>>(x, settings, fs, y, sidechain, gain);
}

#define DD_INSTANTIATE(T)                                                                                          \
    template class audio_processor<compressor_side_chain<T>>;                                                      \
    template class audio_processor<limiter_side_chain<T>>;                                                         \
    template class audio_processor<ssl_side_chain<T>>;                                                             \
    template void process_audio<T>(signal_view<T>, const compressor_audio_settings&, double, signal_span<T>,        \
                                   signal_view<T>, signal_span<T>);                                                \
    template void process_audio<T>(signal_view<T>, const limiter_audio_settings&, double, signal_span<T>,          \
                                   signal_view<T>, signal_span<T>);                                                \
    template void process_audio<T>(signal_view<T>, const ssl_audio_settings&, double, signal_span<T>,              \
                                   signal_view<T>, signal_span<T>);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
