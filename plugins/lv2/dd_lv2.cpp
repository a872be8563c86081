// The library's audio processors (differential_dynamics/audio.hpp) as LV2 plugins: each plugin's
// port table (in the order of its .ttl), control values → the processor's settings, and run() →
// the processor's process(). No DSP here: the output is the streaming processor's, sample for
// sample. run() does not allocate, lock or do I/O. Reference: docs/reference/lv2.md.
#include <lv2/core/lv2.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iterator>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include <differential_dynamics/audio.hpp>

namespace {

// ------------------------------------------------------------------------------------------------
// Ports

/// Every control any of the plugins has. A plugin's port table says which it has, and where.
enum class control { threshold, ratio, knee, attack, release, detector, makeup, auto_makeup, mix, lookahead, link,
                     auto_release, sidechain, count };
constexpr std::size_t control_count = std::size_t(control::count);

enum class port_kind { audio_in, audio_out, key_in, control_in, latency_out };
struct port {
    port_kind kind;
    int which;  // the channel of an audio port, the control of a control port
};
constexpr port audio_in(int channel) { return {port_kind::audio_in, channel}; }
constexpr port audio_out(int channel) { return {port_kind::audio_out, channel}; }
constexpr port key_in(int channel) { return {port_kind::key_in, channel}; }
constexpr port input(control c) { return {port_kind::control_in, int(c)}; }
constexpr port latency_out() { return {port_kind::latency_out, 0}; }

/// A control's lv2:minimum, lv2:maximum and lv2:default (as in the .ttl): values are clamped to the
/// range, so that every value a host sends gives valid settings; NaN becomes the default.
struct control_range {
    double minimum, maximum, fallback;
};

/// The ranges every model shares.
constexpr control_range common_range(control c) {
    switch (c) {
    case control::makeup: return {-24.0, 24.0, 0.0};
    case control::auto_makeup: return {0.0, 1.0, 0.0};
    case control::mix: return {0.0, 1.0, 1.0};
    case control::lookahead: return {0.0, 20.0, 0.0};
    case control::link: return {0.0, 2.0, 1.0};
    case control::sidechain: return {0.0, 1.0, 1.0};
    default: return {0.0, 0.0, 0.0};  // not a control of this model
    }
}

/// A plugin's control values after clamping, indexed by control.
struct control_values {
    double value[control_count];
    double operator[](control c) const { return value[std::size_t(c)]; }
    bool on(control c) const { return value[std::size_t(c)] > 0.0; }  // lv2:toggled: > 0 is on
};

dd::channel_link link_of(const control_values& v) {
    const long link = std::lround(v[control::link]);
    return link == 0 ? dd::channel_link::none : link == 2 ? dd::channel_link::mean : dd::channel_link::max;
}

/// What every model's settings take from the common controls. Makeup and mix glide in the plugin
/// (below) and within each block in the processor (glide = true).
template <class Settings> void read_common(const control_values& v, double max_lookahead_ms, Settings& s) {
    s.makeup_db = v[control::makeup];
    s.mix = v[control::mix];
    s.lookahead_ms = v[control::lookahead];
    s.max_lookahead_ms = max_lookahead_ms;
    s.link = link_of(v);
    s.glide = true;
}

// ------------------------------------------------------------------------------------------------
// Models: the processor, its control ranges, and control values → settings. `glided` lists the
// settings that move gradually after a change (the ones that set a level; times, modes and the
// lookahead change at once: they move no level by themselves).

struct classical_model {
    using processor = dd::compressor_audio_processor<float>;
    using settings = dd::compressor_audio_settings;
    static constexpr double settings::*glided[] = {&settings::threshold_db, &settings::ratio, &settings::knee_db,
                                                   &settings::makeup_db, &settings::mix};
    static constexpr control_range range(control c) {
        switch (c) {
        case control::threshold: return {-60.0, 0.0, -24.0};
        case control::ratio: return {1.1, 20.0, 4.0};
        case control::knee: return {0.0, 24.0, 0.0};
        case control::attack: return {0.1, 200.0, 10.0};
        case control::release: return {1.0, 2000.0, 100.0};
        case control::detector: return {0.0, 1.0, 0.0};
        default: return common_range(c);
        }
    }
    static settings read(const control_values& v) {
        settings s;
        read_common(v, range(control::lookahead).maximum, s);
        s.threshold_db = v[control::threshold];
        s.ratio = v[control::ratio];
        s.knee_db = v[control::knee];
        s.attack_ms = v[control::attack];
        s.release_ms = v[control::release];
        s.detector = std::lround(v[control::detector]) == 1 ? dd::level_detector::peak : dd::level_detector::rms;
        // The automatic makeup as a value (the library's rule), so that switching it glides too.
        if (v.on(control::auto_makeup)) s.makeup_db = dd::compressor_side_chain<float>::auto_makeup_db(s);
        return s;
    }
};

struct limiter_model {
    using processor = dd::limiter_audio_processor<float>;
    using settings = dd::limiter_audio_settings;
    static constexpr double settings::*glided[] = {&settings::threshold_db, &settings::makeup_db, &settings::mix};
    static constexpr control_range range(control c) {
        switch (c) {
        case control::threshold: return {-30.0, 0.0, -1.0};
        case control::attack: return {0.05, 50.0, 0.1};
        case control::release: return {1.0, 1000.0, 50.0};
        case control::lookahead: return {0.0, 10.0, 0.0};
        default: return common_range(c);
        }
    }
    static settings read(const control_values& v) {
        settings s;
        read_common(v, range(control::lookahead).maximum, s);
        s.threshold_db = v[control::threshold];
        s.attack_ms = v[control::attack];
        s.release_ms = v[control::release];
        return s;
    }
};

/// `value` (a port's float, in double) as the front-panel position it stands for, if it is that
/// position rounded to float: the circuit then gets the hardware's resistor exactly.
template <std::size_t N> double panel_position(double value, const double (&positions)[N]) {
    for (double p : positions)
        if (float(p) == float(value)) return p;
    return value;
}

struct ssl_model {
    using processor = dd::ssl_audio_processor<float>;
    using settings = dd::ssl_audio_settings;
    static constexpr double settings::*glided[] = {&settings::threshold_db, &settings::ratio, &settings::makeup_db,
                                                   &settings::mix};
    static constexpr control_range range(control c) {
        switch (c) {
        case control::threshold: return {-40.0, 0.0, -20.0};
        case control::ratio: return {2.0, 10.0, 4.0};
        case control::attack: return {0.1, 30.0, 10.0};
        case control::release: return {0.1, 1.2, 0.1};  // seconds, as on the panel
        case control::auto_release: return {0.0, 1.0, 1.0};
        case control::lookahead: return {0.0, 0.0, 0.0};  // none: the bus compressor has no latency
        default: return common_range(c);
        }
    }
    static settings read(const control_values& v) {
        settings s;
        read_common(v, 0.0, s);
        s.link = dd::channel_link::max;  // a bus compressor: one gain for both channels
        s.threshold_db = v[control::threshold];
        s.ratio = v[control::ratio];
        s.attack_ms = panel_position(v[control::attack], dd::ssl_attack_ms_positions);
        s.release_ms = 1000.0 * panel_position(v[control::release], dd::ssl_release_s_positions);
        s.auto_release = v.on(control::auto_release);
        return s;
    }
};

// ------------------------------------------------------------------------------------------------
// Plugins

/// One plugin of the bundle: its URI, channel count and port table.
struct variant {
    const char* uri;
    std::size_t channels;
    const port* ports;
    std::size_t port_count;
};

constexpr std::size_t max_channels = 2;
/// The processor is prepared for blocks of this length; a longer run() is processed in pieces.
constexpr std::size_t max_block = 1024;
/// A change of a glided control reaches its new value linearly over this time, in pieces of at most
/// glide_step samples (each a linear ramp of makeup and mix in the processor), whatever the host's
/// block size.
constexpr double glide_ms = 20.0;
constexpr std::size_t glide_step = 16;

/// Flush-to-zero and denormals-are-zero while run() works (x86 SSE; elsewhere the host's mode):
/// silence decaying through the detector and the smoothers would otherwise reach the slow
/// subnormal range. The caller's mode is restored.
class denormals_flushed {
public:
#if defined(__x86_64__) || defined(__i386__)
    denormals_flushed() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }  // FTZ (bit 15) | DAZ (bit 6)
    ~denormals_flushed() { _mm_setcsr(saved_); }

private:
    unsigned saved_;
#else
    denormals_flushed() {}
#endif
};

/// Whether a sample is NaN or ±inf (all exponent bits set), without branches.
inline bool not_finite(float x) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return (bits & 0x7f800000u) == 0x7f800000u;
}
bool any_not_finite(const float* x, std::size_t n) {
    bool any = false;
    for (std::size_t t = 0; t < n; ++t) any |= not_finite(x[t]);
    return any;
}

template <class Model> class plugin {
public:
    using settings = typename Model::settings;
    static constexpr std::size_t glided_count = std::size(Model::glided);

    /// Allocates everything run() needs. Throws if the sample rate makes a control's range invalid.
    plugin(const variant& v, double fs) : variant_(v) {
        for (std::size_t i = 0; i < v.port_count; ++i)
            if (v.ports[i].kind == port_kind::key_in) has_key_ = true;
        const dd::process_spec spec{fs, v.channels, max_block};
        // The extremes of every range are valid settings at this rate (each check is monotonic).
        processor_.prepare(spec, Model::read(values_at(&control_range::minimum)));
        processor_.prepare(spec, Model::read(values_at(&control_range::maximum)));
        processor_.prepare(spec, Model::read(values_at(&control_range::fallback)));
        input_copy_.assign(v.channels * max_block, 0.0f);
        key_copy_.assign(v.channels * max_block, 0.0f);
        glide_length_ = std::max<std::size_t>(1, std::size_t(std::lround(glide_ms * fs / 1000.0)));
        // One sample of silence, so that one-time initialisation (the kernel table) happens here,
        // not in the first run(); activate() resets the processor.
        float silence[max_channels] = {};
        const float* in[max_channels] = {silence, silence + 1};
        float out[max_channels];
        float* outs[max_channels] = {out, out + 1};
        processor_.process(in, outs, 1);
    }

    void connect(std::uint32_t index, void* data) {
        if (index >= variant_.port_count) return;
        const port p = variant_.ports[index];
        switch (p.kind) {
        case port_kind::audio_in: in_[p.which] = static_cast<const float*>(data); break;
        case port_kind::audio_out: out_[p.which] = static_cast<float*>(data); break;
        case port_kind::key_in: key_[p.which] = static_cast<const float*>(data); break;
        case port_kind::control_in: control_port_[p.which] = static_cast<const float*>(data); break;
        case port_kind::latency_out: latency_port_ = static_cast<float*>(data); break;
        }
    }

    void activate() {
        processor_.reset();
        first_run_ = starting_ = true;
    }

    void run(std::size_t n) noexcept {
        const denormals_flushed flushed;
        try {
            read_controls();
            for (std::size_t t = 0; t < n;) {
                std::size_t m = std::min(n - t, max_block);
                if (glide_done_ < glide_length_) m = advance_glide(std::min(m, glide_step));
                if (settings_changed_) {
                    // The first settings after activate() apply from the first sample: no ramp from
                    // the ones the processor was prepared with.
                    current_.glide = !starting_;
                    processor_.set_settings(current_);
                    current_.glide = true;
                    settings_changed_ = starting_ = false;
                }
                process(t, m);
                t += m;
            }
            if (latency_port_) *latency_port_ = float(processor_.latency());
        } catch (...) {
            // Unreachable with clamped controls and finite audio; a host thread must not unwind.
            for (std::size_t c = 0; c < variant_.channels; ++c) std::fill_n(out_[c], n, 0.0f);
        }
    }

private:
    static control_values values_at(double control_range::*which) {
        control_values v{};
        for (std::size_t c = 0; c < control_count; ++c) v.value[c] = Model::range(control(c)).*which;
        return v;
    }

    /// Control ports → values_ (clamped) → target settings. A changed glided setting starts a new
    /// glide from where the current one is; every other setting changes at once.
    void read_controls() {
        bool changed = first_run_;
        for (std::size_t c = 0; c < control_count; ++c) {
            const control_range r = Model::range(control(c));
            const float* p = control_port_[c];
            const float raw = p ? *p : float(r.fallback);
            if (!first_run_ && std::memcmp(&raw, &raw_[c], sizeof raw) == 0) continue;
            raw_[c] = raw;
            values_.value[c] = std::isnan(raw) ? r.fallback : std::clamp(double(raw), r.minimum, r.maximum);
            changed = true;
        }
        if (!changed) return;
        const settings target = Model::read(values_);
        settings next = target;
        bool retarget = false;
        for (std::size_t k = 0; k < glided_count; ++k) {
            const auto field = Model::glided[k];
            if (first_run_) glide_to_[k] = target.*field;
            if (target.*field != glide_to_[k]) retarget = true;
            if (!first_run_) next.*field = current_.*field;  // where the glide is now
        }
        current_ = next;
        settings_changed_ = true;
        if (first_run_) glide_done_ = glide_length_;  // the first values apply from the first sample
        first_run_ = false;
        if (!retarget) return;
        for (std::size_t k = 0; k < glided_count; ++k) {
            glide_from_[k] = current_.*Model::glided[k];
            glide_to_[k] = target.*Model::glided[k];
        }
        glide_done_ = 0;
    }

    /// Moves the glide on by up to `m` samples; returns the samples of this piece. The settings
    /// are those at the piece's end; the processor ramps makeup and mix within the piece.
    std::size_t advance_glide(std::size_t m) {
        m = std::min(m, glide_length_ - glide_done_);
        glide_done_ += m;
        const double w = double(glide_done_) / double(glide_length_);
        for (std::size_t k = 0; k < glided_count; ++k)
            current_.*Model::glided[k] =
                glide_done_ == glide_length_ ? glide_to_[k] : glide_from_[k] + (glide_to_[k] - glide_from_[k]) * w;
        settings_changed_ = true;
        return m;
    }

    /// Samples t … t + n − 1 (n ≤ max_block) through the processor. Non-finite input (which the
    /// processor refuses) reads as 0, and inputs that alias another channel's output are copied
    /// first, into buffers allocated up front.
    void process(std::size_t t, std::size_t n) {
        const std::size_t channels = variant_.channels;
        const float* in[max_channels];
        const float* key[max_channels];
        float* out[max_channels];
        const bool keyed = has_key_ && values_.on(control::sidechain) && (key_[0] || key_[1]);
        bool copy = false;
        for (std::size_t c = 0; c < channels; ++c) {
            in[c] = in_[c] + t;
            out[c] = out_[c] + t;
            key[c] = keyed ? (key_[c] ? key_[c] : key_[1 - c]) + t : nullptr;  // one key port: both read it
        }
        for (std::size_t c = 0; c < channels; ++c) {
            copy = copy || any_not_finite(in[c], n) || (keyed && any_not_finite(key[c], n));
            for (std::size_t d = 0; d < channels; ++d)
                copy = copy || (d != c && in[d] == out[c]) || (keyed && key[d] == out[c]);
        }
        if (copy) {
            for (std::size_t c = 0; c < channels; ++c) {
                in[c] = finite_copy(in[c], n, input_copy_.data() + c * max_block);
                if (keyed) key[c] = finite_copy(key[c], n, key_copy_.data() + c * max_block);
            }
        }
        processor_.process(in, out, n, keyed ? key : nullptr);
    }

    static const float* finite_copy(const float* x, std::size_t n, float* copy) {
        for (std::size_t t = 0; t < n; ++t) copy[t] = not_finite(x[t]) ? 0.0f : x[t];
        return copy;
    }

    const variant& variant_;
    bool has_key_ = false;
    typename Model::processor processor_;
    std::vector<float> input_copy_, key_copy_;

    const float* in_[max_channels] = {};
    const float* key_[max_channels] = {};
    float* out_[max_channels] = {};
    const float* control_port_[control_count] = {};
    float* latency_port_ = nullptr;

    float raw_[control_count] = {};  // the control values last read, as the host sent them
    control_values values_{};
    settings current_{};
    bool first_run_ = true, starting_ = true, settings_changed_ = false;
    double glide_from_[glided_count] = {}, glide_to_[glided_count] = {};
    std::size_t glide_done_ = 0, glide_length_ = 1;
};

// ------------------------------------------------------------------------------------------------
// The bundle's plugins: port tables (the .ttl files list the same ports in the same order)

using c = control;
constexpr port compressor_mono_ports[] = {
    audio_in(0), audio_out(0), input(c::threshold), input(c::ratio), input(c::knee), input(c::attack),
    input(c::release), input(c::detector), input(c::makeup), input(c::auto_makeup), input(c::mix),
    input(c::lookahead), latency_out()};
constexpr port compressor_stereo_ports[] = {
    audio_in(0), audio_in(1), audio_out(0), audio_out(1), input(c::threshold), input(c::ratio), input(c::knee),
    input(c::attack), input(c::release), input(c::detector), input(c::makeup), input(c::auto_makeup),
    input(c::mix), input(c::lookahead), input(c::link), latency_out()};
constexpr port compressor_stereo_sidechain_ports[] = {
    audio_in(0), audio_in(1), audio_out(0), audio_out(1), key_in(0), key_in(1), input(c::threshold),
    input(c::ratio), input(c::knee), input(c::attack), input(c::release), input(c::detector), input(c::makeup),
    input(c::auto_makeup), input(c::mix), input(c::lookahead), input(c::link), input(c::sidechain), latency_out()};
constexpr port limiter_stereo_ports[] = {
    audio_in(0), audio_in(1), audio_out(0), audio_out(1), input(c::threshold), input(c::attack), input(c::release),
    input(c::makeup), input(c::mix), input(c::lookahead), input(c::link), latency_out()};
constexpr port ssl_bus_ports[] = {
    audio_in(0), audio_in(1), audio_out(0), audio_out(1), input(c::threshold), input(c::ratio), input(c::attack),
    input(c::release), input(c::auto_release), input(c::makeup), input(c::mix)};
constexpr port ssl_bus_sidechain_ports[] = {
    audio_in(0), audio_in(1), audio_out(0), audio_out(1), key_in(0), key_in(1), input(c::threshold),
    input(c::ratio), input(c::attack), input(c::release), input(c::auto_release), input(c::makeup), input(c::mix),
    input(c::sidechain)};

template <std::size_t N> constexpr variant make_variant(const char* uri, std::size_t channels, const port (&ports)[N]) {
    return {uri, channels, ports, N};
}
constexpr variant compressor_mono = make_variant("urn:differential-dynamics:compressor-mono", 1, compressor_mono_ports);
constexpr variant compressor_stereo = make_variant("urn:differential-dynamics:compressor-stereo", 2, compressor_stereo_ports);
constexpr variant compressor_stereo_sidechain =
    make_variant("urn:differential-dynamics:compressor-stereo-sidechain", 2, compressor_stereo_sidechain_ports);
constexpr variant limiter_stereo = make_variant("urn:differential-dynamics:limiter-stereo", 2, limiter_stereo_ports);
constexpr variant ssl_bus = make_variant("urn:differential-dynamics:ssl-bus", 2, ssl_bus_ports);
constexpr variant ssl_bus_sidechain = make_variant("urn:differential-dynamics:ssl-bus-sidechain", 2, ssl_bus_sidechain_ports);

// ------------------------------------------------------------------------------------------------
// LV2 entry points

template <class Model, const variant& V>
LV2_Handle instantiate(const LV2_Descriptor*, double fs, const char*, const LV2_Feature* const*) {
    try {
        return new plugin<Model>(V, fs);
    } catch (const std::exception& e) {  // not real-time: instantiate may report and refuse
        std::fprintf(stderr, "%s: cannot run at %g Hz: %s\n", V.uri, fs, e.what());
        return nullptr;
    }
}
template <class Model> void connect_port(LV2_Handle h, std::uint32_t index, void* data) {
    static_cast<plugin<Model>*>(h)->connect(index, data);
}
template <class Model> void activate(LV2_Handle h) { static_cast<plugin<Model>*>(h)->activate(); }
template <class Model> void run(LV2_Handle h, std::uint32_t n) { static_cast<plugin<Model>*>(h)->run(n); }
void deactivate(LV2_Handle) {}
template <class Model> void cleanup(LV2_Handle h) { delete static_cast<plugin<Model>*>(h); }
const void* extension_data(const char*) { return nullptr; }

template <class Model, const variant& V> constexpr LV2_Descriptor descriptor() {
    return {V.uri, instantiate<Model, V>, connect_port<Model>, activate<Model>, run<Model>, deactivate,
            cleanup<Model>, extension_data};
}

const LV2_Descriptor descriptors[] = {
    descriptor<classical_model, compressor_mono>(),
    descriptor<classical_model, compressor_stereo>(),
    descriptor<classical_model, compressor_stereo_sidechain>(),
    descriptor<limiter_model, limiter_stereo>(),
    descriptor<ssl_model, ssl_bus>(),
    descriptor<ssl_model, ssl_bus_sidechain>(),
};

}  // namespace

extern "C" LV2_SYMBOL_EXPORT const LV2_Descriptor* lv2_descriptor(std::uint32_t index) {
    return index < std::size(descriptors) ? &descriptors[index] : nullptr;
}
