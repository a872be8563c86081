// The audio processors' side chains: settings in user units → the settings of the library's streaming
// processors, the level detectors, and each gain computer on its levels.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "core/conversions_math.hpp"
#include "core/validate.hpp"
#include "differential_dynamics/audio.hpp"
#include "differential_dynamics/conversions.hpp"
#include "ssl/ssl_model.hpp"

namespace dd {

level_detector parse_level_detector(const std::string& name) {
    if (name == "rms") return level_detector::rms;
    if (name == "peak") return level_detector::peak;
    throw argument_error("detector", "must be \"rms\" or \"peak\" (got \"" + name + "\")");
}
const char* level_detector_name(level_detector detector) { return detector == level_detector::peak ? "peak" : "rms"; }

channel_link parse_channel_link(const std::string& name) {
    if (name == "none") return channel_link::none;
    if (name == "max") return channel_link::max;
    if (name == "mean") return channel_link::mean;
    throw argument_error("link", "must be \"none\", \"max\" or \"mean\" (got \"" + name + "\")");
}
const char* channel_link_name(channel_link link) {
    return link == channel_link::none ? "none" : link == channel_link::max ? "max" : "mean";
}

std::size_t ms_to_samples(double ms, double fs) {
    if (!std::isfinite(ms) || ms < 0) throw argument_error("ms", "must be finite and >= 0 " + setting_value(ms));
    if (!std::isfinite(fs) || !(fs > 0)) throw argument_error("fs", "must be finite and > 0 " + setting_value(fs));
    const double samples = std::round(ms * fs / 1000.0);
    if (!(samples <= 9.0e15)) throw argument_error("ms", "is too long " + setting_value(ms));
    return static_cast<std::size_t>(samples);
}

namespace {

std::string hertz(double fs) {
    std::ostringstream s;
    s << fs << " Hz";
    return s.str();
}

/// ms2coef(ms, fs) for an attack or release time: the smoothers need a coefficient in (0, 1).
double time_coefficient(double ms, double fs, const char* name) {
    const double coef = ms2coef(ms, fs);
    if (!(coef > 0.0 && coef < 1.0))
        throw argument_error(name, std::string("is too ") + (coef > 0.0 ? "short" : "long") + " for the sample rate " +
                                       hertz(fs) + ": its coefficient ms2coef(ms, fs) rounds to " +
                                       (coef > 0.0 ? "1 " : "0 ") + setting_value(ms));
    return coef;
}

double detector_coefficient(const compressor_audio_settings& s, double fs) {
    const double coef = ms2coef(s.detector_ms, fs);
    if (!(coef > 0.0))
        throw argument_error("detector_ms", "is too long for the sample rate " + hertz(fs) + " " + setting_value(s.detector_ms));
    return coef;
}

void check_ratio(double ratio, const char* name) {
    if (!(ratio > 1.0) || !std::isfinite(ratio)) throw argument_error(name, "must be finite and > 1 " + setting_value(ratio));
}
void check_knee(double knee, const char* name) {
    check_finite_setting(knee, name);
    if (knee < 0 || knee > max_knee_db) throw argument_error(name, "must be in [0, 1000] dB " + setting_value(knee));
}

/// |s| for n samples of each channel.
template <class T> void magnitudes(const T* const* source, T* const* out, std::size_t channels, std::size_t n) {
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t t = 0; t < n; ++t) out[c][t] = std::fabs(source[c][t]);
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Classical compressor

template <class T> void compressor_side_chain<T>::check_settings(const settings_type& s) {
    if (s.detector != level_detector::rms && s.detector != level_detector::peak)
        throw argument_error("detector", "must be rms or peak");
    check_positive_setting(s.detector_ms, "detector_ms");
    check_threshold_setting(s.threshold_db, "threshold_db");
    check_ratio(s.ratio, "ratio");
    check_knee(s.knee_db, "knee_db");
    check_threshold_setting(s.exp_threshold_db, "exp_threshold_db");
    if (!(s.exp_ratio >= min_exp_ratio && s.exp_ratio <= 1.0))
        throw argument_error("exp_ratio", "must be in [1e-6, 1] (1 = no expander) " + setting_value(s.exp_ratio));
    check_positive_setting(s.attack_ms, "attack_ms");
    check_positive_setting(s.release_ms, "release_ms");
    if (s.gate == ar_mode::sigmoid)
        check_gate_k_setting(s.k, "k");
    else if (s.gate == ar_mode::hard)
        check_finite_setting(s.k, "k");
    else
        throw argument_error("gate", "must be hard or sigmoid");
}

template <class T> void compressor_side_chain<T>::check_at_rate(const settings_type& s, double fs) {
    gain_settings(s, fs);
    detector_coefficient(s, fs);
}

template <class T> compexp_settings compressor_side_chain<T>::gain_settings(const settings_type& s, double fs) {
    compexp_settings g;
    g.comp_thresh = s.threshold_db;
    g.comp_ratio = s.ratio;
    g.exp_thresh = s.exp_threshold_db;
    g.exp_ratio = s.exp_ratio;
    g.knee = s.knee_db;
    g.at = time_coefficient(s.attack_ms, fs, "attack_ms");
    g.rt = time_coefficient(s.release_ms, fs, "release_ms");
    g.mode = s.gate;
    g.k = s.k;
    return g;
}

template <class T> double compressor_side_chain<T>::auto_makeup_db(const settings_type& s) {
    const compexp_curve<double> curve{s.threshold_db, s.ratio, s.exp_threshold_db, s.exp_ratio, s.knee_db};
    return -0.5 * gain_db(curve, 0.0);
}

template <class T> void compressor_side_chain<T>::check_state(const double* state) {
    check_finite_setting(state[0], "state");
    compexp_processor<T>::check_state(state + 1);
}

template <class T> void compressor_side_chain<T>::prepare(const process_spec& spec) {
    average_.prepare(spec);
    magnitude_.assign(spec.channels * spec.max_block, T(0));
    magnitude_rows_.resize(spec.channels);
    for (std::size_t c = 0; c < spec.channels; ++c) magnitude_rows_[c] = magnitude_.data() + c * spec.max_block;
    detector_state_.assign(spec.channels, 0.0);
}

template <class T> void compressor_side_chain<T>::set_settings(const settings_type& s, double fs) {
    detector_ = s.detector;
    avg_settings a;
    a.coef = detector_coefficient(s, fs);
    average_.set_settings(a);
}

template <class T> void compressor_side_chain<T>::load_detector_state(const double* state, std::size_t stride) {
    for (std::size_t c = 0; c < detector_state_.size(); ++c) detector_state_[c] = state[c * stride];
    average_.set_state(detector_state_.data());
}

template <class T> void compressor_side_chain<T>::save_detector_state(double* state, std::size_t stride) {
    average_.get_state(detector_state_.data());
    for (std::size_t c = 0; c < detector_state_.size(); ++c) state[c * stride] = detector_state_[c];
}

template <class T> void compressor_side_chain<T>::detect(const T* const* source, T* const* level, std::size_t n) {
    const std::size_t channels = magnitude_rows_.size();
    if (detector_ == level_detector::rms) {
        magnitudes(source, magnitude_rows_.data(), channels, n);
        average_.process(magnitude_rows_.data(), level, n);
    } else {
        magnitudes(source, level, channels, n);
    }
    // compexp_gain takes the level's logarithm: the safe floor of the library's detectors.
    const T floor = T(safe_amplitude_floor);
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t t = 0; t < n; ++t) level[c][t] = std::max(level[c][t], floor);
}

template <class T>
void compressor_side_chain<T>::gain(gain_processor& gain_computer, T* const* level, T* const* gain, std::size_t n) {
    gain_computer.process(level, gain, n);
}

// ------------------------------------------------------------------------------------------------
// Limiter

template <class T> void limiter_side_chain<T>::check_settings(const settings_type& s) {
    check_finite_setting(s.threshold_db, "threshold_db");
    if (s.threshold_db > 0 || s.threshold_db < -max_threshold_db)
        throw argument_error("threshold_db", "must be in [-1e4, 0] dB " + setting_value(s.threshold_db));
    check_positive_setting(s.attack_ms, "attack_ms");
    check_positive_setting(s.release_ms, "release_ms");
}

template <class T> limiter_settings limiter_side_chain<T>::gain_settings(const settings_type& s, double fs) {
    limiter_settings g;
    g.threshold = s.threshold_db;
    g.at = time_coefficient(s.attack_ms, fs, "attack_ms");
    g.rt = time_coefficient(s.release_ms, fs, "release_ms");
    return g;
}

template <class T> void limiter_side_chain<T>::detect(const T* const* source, T* const* level, std::size_t n) {
    magnitudes(source, level, channels_, n);
}

template <class T>
void limiter_side_chain<T>::gain(gain_processor& gain_computer, T* const* level, T* const* gain, std::size_t n) {
    gain_computer.process(level, gain, n);
}

// ------------------------------------------------------------------------------------------------
// SSL bus compressor

template <class T> void ssl_side_chain<T>::check_settings(const settings_type& s) {
    check_threshold_setting(s.threshold_db, "threshold_db");
    check_ratio(s.ratio, "ratio");
    // The front panel's ranges, with the names of these settings.
    if (!(s.attack_ms >= ssl_attack_ms_positions[0] && s.attack_ms <= ssl_attack_ms_positions[5]))
        throw argument_error("attack_ms", "must be in [0.1, 30] ms, the front panel's range " + setting_value(s.attack_ms));
    if (!s.auto_release && !(s.release_ms >= 1000.0 * ssl_release_s_positions[0] &&
                             s.release_ms <= 1000.0 * ssl_release_s_positions[3]))
        throw argument_error("release_ms",
                             "must be in [100, 1200] ms, the front panel's range, or auto " + setting_value(s.release_ms));
    if (!(s.feedback >= 0.0 && s.feedback <= 1.0))
        throw argument_error("feedback", "must be in [0, 1] " + setting_value(s.feedback));
    check_knee(s.knee_db, "knee_db");
}

template <class T> ssl_settings ssl_side_chain<T>::gain_settings(const settings_type& s, double fs) {
    const ssl_knob_params k =
        ssl_front_panel(s.attack_ms, s.auto_release ? ssl_release_auto : s.release_ms / 1000.0, s.ratio, fs);
    ssl_settings g;
    g.comp_thresh = s.threshold_db;
    g.comp_ratio = k.comp_ratio;
    g.T_attack_fast = k.T_attack_fast;
    g.T_attack_slow = k.T_attack_slow;
    g.T_shunt_fast = k.T_shunt_fast;
    g.T_shunt_slow = k.T_shunt_slow;
    g.feedback_coeff = s.feedback;
    g.knee = s.knee_db;
    return g;
}

template <class T> double ssl_side_chain<T>::auto_makeup_db(const settings_type& s) {
    const double slope = 1.0 - 1.0 / s.ratio;
    const double gain_at_full_scale = std::min(0.0, slope * s.threshold_db / (1.0 + slope * s.feedback));
    return -0.5 * gain_at_full_scale;
}

template <class T> void ssl_side_chain<T>::detect(const T* const* source, T* const* level, std::size_t n) {
    magnitudes(source, level, channels_, n);
}

template <class T>
void ssl_side_chain<T>::gain(gain_processor& gain_computer, T* const* level, T* const* gain, std::size_t n) {
    const std::size_t channels = gain_computer.channels();
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t t = 0; t < n; ++t) level[c][t] = T(ssl_audio_level(level[c][t]));
    gain_computer.process(level, gain, n);
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t t = 0; t < n; ++t) gain[c][t] = T(db2amp_raw(double(gain[c][t])));
}

template class compressor_side_chain<float>;
template class compressor_side_chain<double>;
template class limiter_side_chain<float>;
template class limiter_side_chain<double>;
template class ssl_side_chain<float>;
template class ssl_side_chain<double>;

}  // namespace dd
