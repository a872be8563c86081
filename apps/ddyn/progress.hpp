// A progress bar on stderr for long files: "compress  42% [########        ] 126.0 of 300.0 s".
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace ddyn {

/// When to draw: asked for (--progress), forbidden (--no-progress), or by default when stderr is a
/// terminal and the audio is longer than 30 s.
enum class progress_mode { automatic, always, never };

class progress_bar {
public:
    progress_bar(std::string label, std::size_t total_frames, double rate, progress_mode mode);
    ~progress_bar();
    /// `done` frames so far; redraws at most ten times a second.
    void update(std::size_t done);
    /// Draws 100 % and ends the line (if drawing).
    void finish();

private:
    void draw(std::size_t done);
    std::string label_;
    std::size_t total_;
    double rate_;
    bool enabled_, finished_ = false;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace ddyn
