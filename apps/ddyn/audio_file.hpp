// Audio files through libsndfile: reading any format it knows (WAV, FLAC, AIFF, OGG, …) block by
// block as interleaved samples, and writing with the container chosen by the file name's extension.
// Every failure throws file_error naming the file's role and path.
#pragma once
#include <sndfile.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace ddyn {

/// An unreadable or unwritable file: main prints it on one line and exits with status 1.
struct file_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct sndfile_closer {
    void operator()(SNDFILE* f) const { sf_close(f); }
};

class audio_reader {
public:
    /// Opens `path` for reading; `role` names it in errors ("IN", "--sidechain"). Refuses missing,
    /// empty, non-audio and audio-less files.
    audio_reader(const std::string& path, const std::string& role);
    double rate() const { return double(info_.samplerate); }
    std::size_t channels() const { return std::size_t(info_.channels); }
    /// Frames the header announces; SF_COUNT_MAX for a stream of unknown length (length_known()).
    std::size_t frames() const { return std::size_t(info_.frames); }
    bool length_known() const { return info_.frames != SF_COUNT_MAX; }
    int format() const { return info_.format; }
    const std::string& path() const { return path_; }
    /// Reads up to `frames` interleaved frames; returns how many (0 at the end). Throws file_error for
    /// a read error, a file shorter than its header says, or a NaN/Inf sample.
    std::size_t read(float* interleaved, std::size_t frames);
    std::size_t read(double* interleaved, std::size_t frames);

private:
    template <class T> std::size_t read_checked(T* interleaved, std::size_t frames);
    std::string path_, role_;
    SF_INFO info_{};
    std::unique_ptr<SNDFILE, sndfile_closer> file_;
    std::size_t frames_read_ = 0;
};

/// Output sample formats (--format): "float", "double", "pcm16", "pcm24", "pcm32"; "" = default.
/// Returns libsndfile's format for `path`'s extension (wav, flac, aif/aiff, ogg/oga, opus, caf, w64)
/// with that subtype; the default subtype is `like_format`'s if the container takes it (0: none),
/// else float (WAV, AIFF, CAF, W64), 24-bit PCM (FLAC), Vorbis (OGG) or Opus. Throws usage_error.
int output_format(const std::string& path, const std::string& sample_format, int like_format);
/// A readable name for a libsndfile format, e.g. "WAV float" or "FLAC 24-bit PCM".
std::string describe_format(int format);

class audio_writer {
public:
    audio_writer(const std::string& path, const std::string& role, int format, double rate, std::size_t channels);
    /// Writes interleaved frames. Samples beyond ±1 are counted (and clipped if the format is not
    /// floating point).
    void write(const float* interleaved, std::size_t frames);
    void write(const double* interleaved, std::size_t frames);
    /// Flushes and closes; throws file_error if that fails.
    void close();
    bool floating_point() const;
    std::uint64_t samples_beyond_full_scale() const { return beyond_; }
    double peak() const { return peak_; }
    const std::string& path() const { return path_; }

private:
    template <class T> void write_checked(const T* interleaved, std::size_t frames);
    std::string path_, role_;
    SF_INFO info_{};
    std::unique_ptr<SNDFILE, sndfile_closer> file_;
    std::uint64_t beyond_ = 0;
    double peak_ = 0.0;
};

/// The warning line for samples beyond full scale in `w` (empty if none): clipped in PCM and lossy
/// formats, kept in floating point. Never silent about either.
std::string full_scale_report(const audio_writer& w);

}  // namespace ddyn
