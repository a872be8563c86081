// libsndfile wrappers for ddyn (apps/ddyn/audio_file.hpp).
#include "audio_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <system_error>
#include <type_traits>

#include "units.hpp"

namespace ddyn {
namespace {

std::string quoted(const std::string& role, const std::string& path) { return role + " '" + path + "'"; }

std::string extension_of(const std::string& path) {
    std::string ext = std::filesystem::path(path).extension().string();
    for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return ext;
}

int container_for(const std::string& path) {
    const std::string ext = extension_of(path);
    if (ext == ".wav") return SF_FORMAT_WAV;
    if (ext == ".flac") return SF_FORMAT_FLAC;
    if (ext == ".aif" || ext == ".aiff") return SF_FORMAT_AIFF;
    if (ext == ".ogg" || ext == ".oga" || ext == ".opus") return SF_FORMAT_OGG;
    if (ext == ".caf") return SF_FORMAT_CAF;
    if (ext == ".w64") return SF_FORMAT_W64;
    throw usage_error("OUT '" + path + "': unknown output type '" + ext +
                      "' (use .wav, .flac, .aif/.aiff, .ogg/.oga, .opus, .caf or .w64)");
}

int default_subtype(int container, const std::string& path) {
    switch (container) {
        case SF_FORMAT_FLAC: return SF_FORMAT_PCM_24;
        case SF_FORMAT_OGG: return extension_of(path) == ".opus" ? SF_FORMAT_OPUS : SF_FORMAT_VORBIS;
        default: return SF_FORMAT_FLOAT;
    }
}

/// Whether libsndfile's log says the audio chunk is shorter than its header announces (a truncated
/// WAV or AIFF, which libsndfile reads as far as it goes). 0xFFFFFFFF is the placeholder of
/// streaming writers, not a truncation. The log is text, so this reads its "data : N (should be M)"
/// lines; no API reports it.
bool truncated_per_log(SNDFILE* file) {
    std::string log(16384, '\0');
    sf_command(file, SFC_GET_LOG_INFO, log.data(), int(log.size()));
    std::istringstream lines(log.c_str());
    for (std::string line; std::getline(lines, line);) {
        unsigned long long announced = 0, present = 0;
        char chunk[8] = {};
        if (std::sscanf(line.c_str(), " %4s : %llu (should be %llu)", chunk, &announced, &present) == 3 &&
            (std::string(chunk) == "data" || std::string(chunk) == "SSND") && announced > present &&
            announced != 0xFFFFFFFFULL)
            return true;
    }
    return false;
}

}  // namespace

audio_reader::audio_reader(const std::string& path, const std::string& role) : path_(path), role_(role) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) throw file_error(quoted(role, path) + ": no such file");
    if (std::filesystem::is_directory(status)) throw file_error(quoted(role, path) + ": is a directory, not an audio file");
    if (std::filesystem::is_regular_file(status) && std::filesystem::file_size(path, ec) == 0)
        throw file_error(quoted(role, path) + ": is empty (0 bytes)");
    file_.reset(sf_open(path.c_str(), SFM_READ, &info_));
    if (!file_) {
        std::string why = sf_strerror(nullptr);
        while (!why.empty() && (why.back() == '.' || why.back() == '\n')) why.pop_back();
        throw file_error(quoted(role, path) + ": not an audio file libsndfile can read (" + why + ")");
    }
    if (info_.frames <= 0) throw file_error(quoted(role, path) + ": contains no audio (0 frames)");
    if (truncated_per_log(file_.get()))
        throw file_error(quoted(role, path) + ": truncated or corrupt: its audio data is shorter than its header says");
    if (info_.samplerate <= 0 || info_.channels <= 0)
        throw file_error(quoted(role, path) + ": header gives no sample rate or channel count");
}

template <class T> std::size_t audio_reader::read_checked(T* interleaved, std::size_t frames) {
    sf_count_t got = 0;
    if constexpr (std::is_same_v<T, float>) got = sf_readf_float(file_.get(), interleaved, sf_count_t(frames));
    else got = sf_readf_double(file_.get(), interleaved, sf_count_t(frames));
    if (sf_error(file_.get()) != SF_ERR_NO_ERROR)
        throw file_error(quoted(role_, path_) + ": read error (" + sf_strerror(file_.get()) + ")");
    const std::size_t n = std::size_t(std::max<sf_count_t>(got, 0));
    const std::size_t samples = n * channels();
    for (std::size_t i = 0; i < samples; ++i)
        if (!std::isfinite(interleaved[i])) {
            std::ostringstream s;
            s << quoted(role_, path_) << ": sample " << (frames_read_ + i / channels()) << " of channel "
              << (i % channels() + 1) << " is " << interleaved[i] << " (not a finite number)";
            throw file_error(s.str());
        }
    frames_read_ += n;
    if (n == 0 && frames > 0 && frames_read_ < this->frames()) {
        std::ostringstream s;
        s << quoted(role_, path_) << ": truncated or corrupt: ";
        if (length_known()) s << "the header announces " << this->frames() << " frames, only " << frames_read_ << " could be read";
        else s << "decoding stopped after " << frames_read_ << " frames";
        throw file_error(s.str());
    }
    return n;
}

std::size_t audio_reader::read(float* interleaved, std::size_t frames) { return read_checked(interleaved, frames); }
std::size_t audio_reader::read(double* interleaved, std::size_t frames) { return read_checked(interleaved, frames); }

int output_format(const std::string& path, const std::string& sample_format, int like_format) {
    const int container = container_for(path);
    int subtype = 0;
    if (sample_format.empty()) {
        subtype = default_subtype(container, path);
        const int like = container | (like_format & SF_FORMAT_SUBMASK);
        SF_INFO probe{};
        probe.format = like, probe.channels = 1, probe.samplerate = 44100;
        if (like_format != 0 && sf_format_check(&probe)) subtype = like_format & SF_FORMAT_SUBMASK;
    } else if (sample_format == "float") subtype = SF_FORMAT_FLOAT;
    else if (sample_format == "double") subtype = SF_FORMAT_DOUBLE;
    else if (sample_format == "pcm16") subtype = SF_FORMAT_PCM_16;
    else if (sample_format == "pcm24") subtype = SF_FORMAT_PCM_24;
    else if (sample_format == "pcm32") subtype = SF_FORMAT_PCM_32;
    else throw usage_error("--format: '" + sample_format + "' is not one of float, double, pcm16, pcm24, pcm32");
    SF_INFO probe{};
    probe.format = container | subtype, probe.channels = 1, probe.samplerate = 44100;
    if (!sf_format_check(&probe))
        throw usage_error("--format: " + sample_format + " samples cannot be stored in a " + extension_of(path) + " file");
    return container | subtype;
}

std::string describe_format(int format) {
    SF_FORMAT_INFO major{}, sub{};
    major.format = format & SF_FORMAT_TYPEMASK;
    sub.format = format & SF_FORMAT_SUBMASK;
    sf_command(nullptr, SFC_GET_FORMAT_INFO, &major, sizeof major);
    sf_command(nullptr, SFC_GET_FORMAT_INFO, &sub, sizeof sub);
    return std::string(major.name ? major.name : "?") + ", " + (sub.name ? sub.name : "?");
}

audio_writer::audio_writer(const std::string& path, const std::string& role, int format, double rate,
                           std::size_t channels)
    : path_(path), role_(role) {
    info_.format = format;
    info_.samplerate = int(std::lround(rate));
    info_.channels = int(channels);
    if (!sf_format_check(&info_)) {
        std::ostringstream s;
        s << quoted(role, path) << ": cannot write " << describe_format(format) << " at " << info_.samplerate
          << " Hz with " << channels << " channels";
        throw file_error(s.str());
    }
    file_.reset(sf_open(path.c_str(), SFM_WRITE, &info_));
    if (!file_) throw file_error(quoted(role, path) + ": cannot be written (" + sf_strerror(nullptr) + ")");
    // Out-of-range samples saturate instead of wrapping around when converted to integers.
    sf_command(file_.get(), SFC_SET_CLIPPING, nullptr, SF_TRUE);
    // No PEAK chunk (floating-point WAV/AIFF): it records the time of writing, and the same command
    // must write the same bytes.
    sf_command(file_.get(), SFC_SET_ADD_PEAK_CHUNK, nullptr, SF_FALSE);
}

bool audio_writer::floating_point() const {
    const int sub = info_.format & SF_FORMAT_SUBMASK;
    return sub == SF_FORMAT_FLOAT || sub == SF_FORMAT_DOUBLE;
}

template <class T> void audio_writer::write_checked(const T* interleaved, std::size_t frames) {
    const std::size_t samples = frames * std::size_t(info_.channels);
    for (std::size_t i = 0; i < samples; ++i) {
        const double magnitude = std::fabs(double(interleaved[i]));
        beyond_ += magnitude > 1.0;
        peak_ = std::max(peak_, magnitude);
    }
    sf_count_t wrote = 0;
    if constexpr (std::is_same_v<T, float>) wrote = sf_writef_float(file_.get(), interleaved, sf_count_t(frames));
    else wrote = sf_writef_double(file_.get(), interleaved, sf_count_t(frames));
    if (wrote != sf_count_t(frames))
        throw file_error(quoted(role_, path_) + ": write failed (" + sf_strerror(file_.get()) + ")");
}

void audio_writer::write(const float* interleaved, std::size_t frames) { write_checked(interleaved, frames); }
void audio_writer::write(const double* interleaved, std::size_t frames) { write_checked(interleaved, frames); }

void audio_writer::close() {
    if (!file_) return;
    sf_write_sync(file_.get());
    const int status = sf_close(file_.release());
    if (status != 0) throw file_error(quoted(role_, path_) + ": closing failed (" + sf_error_number(status) + ")");
}

std::string full_scale_report(const audio_writer& w) {
    if (w.samples_beyond_full_scale() == 0) return {};
    std::ostringstream s;
    s.precision(3);
    s << w.samples_beyond_full_scale() << " samples beyond full scale (peak " << std::showpos
      << 20.0 * std::log10(w.peak()) << std::noshowpos << " dBFS) ";
    if (w.floating_point()) s << "kept in the floating-point file '" << w.path() << "'";
    else s << "were clipped to full scale in '" << w.path() << "' (use --format float, or less makeup)";
    return s.str();
}

}  // namespace ddyn
