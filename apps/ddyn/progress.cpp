// apps/ddyn/progress.hpp. Written here (Debian has no small C++ progress-bar library); a carriage
// return redraws the line, so it is only drawn where a terminal shows it or when asked for.
#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ddyn {

progress_bar::progress_bar(std::string label, std::size_t total_frames, double rate, progress_mode mode)
    : label_(std::move(label)), total_(total_frames), rate_(rate) {
    const bool long_audio = double(total_frames) / rate > 30.0;
    enabled_ = mode == progress_mode::always || (mode == progress_mode::automatic && long_audio && isatty(STDERR_FILENO));
}

progress_bar::~progress_bar() {
    if (enabled_ && !finished_) std::fputc('\n', stderr);  // leave the cursor on a new line after an error
}

void progress_bar::update(std::size_t done) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    draw(done);
}

void progress_bar::finish() {
    if (!enabled_ || finished_) return;
    draw(total_);
    std::fputc('\n', stderr);
    finished_ = true;
}

void progress_bar::draw(std::size_t done) {
    constexpr int width = 30;
    const double fraction = total_ ? std::min(1.0, double(done) / double(total_)) : 1.0;
    const int filled = int(fraction * width);
    std::fprintf(stderr, "\r%s %3d%% [%.*s%*s] %.1f of %.1f s", label_.c_str(), int(fraction * 100.0), filled,
                 "##############################", width - filled, "", double(done) / rate_, double(total_) / rate_);
    std::fflush(stderr);
}

}  // namespace ddyn
