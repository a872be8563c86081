// The streaming processors' common part: the lifecycle prepare → (set_settings | process | state)* →
// reset, per-channel settings and state. Each processor (smoother.hpp, detectors.hpp, compexp.hpp,
// limiter.hpp, ssl.hpp) adds its `process`, which runs the batch kernels on the block with the state
// carried over, so that any split of a signal into blocks gives the one-call batch result bit for
// bit. prepare() allocates; process(), set_settings(), reset() and the state functions do not, and
// take no lock. Reference: docs/reference/streaming.md.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core.hpp"

namespace dd {

namespace detail {
/// Throws argument_error naming spec.fs / spec.channels / spec.max_block if the spec is unusable.
void check_process_spec(const process_spec& spec);
/// Throws argument_error("channel") if channel >= channels.
void check_channel(std::size_t channel, std::size_t channels);
/// Throws std::logic_error if a processor is used before prepare().
void check_prepared(bool prepared, const char* processor);
}  // namespace detail

/// Base of the streaming processors. `Derived` provides
///     static void check_settings(const Settings&)        throws argument_error naming the field
///     static void check_state(const double* channel_state) throws argument_error("state")
///     static void initial_state(const Settings&, double* channel_state)
///     static constexpr std::size_t state_size            doubles of state per channel
///     static constexpr const char* name
template <class Derived, class Settings> class streaming_processor {
public:
    using settings_type = Settings;

    /// Sizes the processor for `spec` (allocates), gives every channel `settings` and the initial state.
    void prepare(const process_spec& spec, const Settings& settings = Settings{}) {
        detail::check_process_spec(spec);
        Derived::check_settings(settings);
        spec_ = spec;
        settings_.assign(spec.channels, settings);
        state_.assign(spec.channels * Derived::state_size, 0.0);
        prepared_ = true;
        static_cast<Derived*>(this)->on_prepare();
        static_cast<Derived*>(this)->on_settings();  // what the settings derive (e.g. the SSL models)
        reset();
    }
    /// New settings for every channel, from the next sample on (the state is kept).
    void set_settings(const Settings& settings) {
        check();
        Derived::check_settings(settings);
        for (auto& s : settings_) s = settings;
        static_cast<Derived*>(this)->on_settings();
    }
    /// New settings for one channel, from the next sample on.
    void set_settings(std::size_t channel, const Settings& settings) {
        check();
        detail::check_channel(channel, spec_.channels);
        Derived::check_settings(settings);
        settings_[channel] = settings;
        static_cast<Derived*>(this)->on_settings();
    }
    const Settings& settings(std::size_t channel = 0) const {
        check();
        detail::check_channel(channel, spec_.channels);
        return settings_[channel];
    }
    /// Every channel back to its initial state (that of its current settings).
    void reset() {
        check();
        for (std::size_t c = 0; c < spec_.channels; ++c)
            Derived::initial_state(settings_[c], state_.data() + c * Derived::state_size);
        static_cast<Derived*>(this)->on_reset();
    }
    /// Copies the state (channels × state_size doubles, channel-major) to `out`.
    void get_state(double* out) const {
        check();
        for (std::size_t i = 0; i < state_.size(); ++i) out[i] = state_[i];
    }
    /// Sets the state from channels × state_size doubles (validated: finite, in the state's range).
    void set_state(const double* in) {
        check();
        for (std::size_t c = 0; c < spec_.channels; ++c) Derived::check_state(in + c * Derived::state_size);
        for (std::size_t i = 0; i < state_.size(); ++i) state_[i] = in[i];
    }
    const process_spec& spec() const { return spec_; }
    std::size_t channels() const { return spec_.channels; }
    bool prepared() const { return prepared_; }

protected:
    void check() const { detail::check_prepared(prepared_, Derived::name); }
    void on_prepare() {}
    void on_settings() {}
    void on_reset() {}  // state kept outside state_ (e.g. a delay line) goes back to its initial value
    process_spec spec_{};
    std::vector<Settings> settings_;
    std::vector<double> state_;
    bool prepared_ = false;
};

}  // namespace dd
