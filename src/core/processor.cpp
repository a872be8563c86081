// The streaming processors' shared checks.
#include "differential_dynamics/processor.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace dd::detail {

void check_process_spec(const process_spec& spec) {
    if (!std::isfinite(spec.fs) || !(spec.fs > 0))
        throw argument_error("spec.fs", "sample rate must be finite and > 0 (got " + std::to_string(spec.fs) + ")");
    if (spec.channels < 1 || spec.channels > 4096)
        throw argument_error("spec.channels", "must be in [1, 4096] (got " + std::to_string(spec.channels) + ")");
    if (spec.max_block < 1 || spec.max_block > (std::size_t(1) << 24))
        throw argument_error("spec.max_block", "must be in [1, 2^24] (got " + std::to_string(spec.max_block) + ")");
}

void check_channel(std::size_t channel, std::size_t channels) {
    if (channel >= channels)
        throw argument_error("channel", "must be < " + std::to_string(channels) + " (got " + std::to_string(channel) + ")");
}

void check_prepared(bool prepared, const char* processor) {
    if (!prepared) throw std::logic_error(std::string(processor) + ": call prepare() first");
}

}  // namespace dd::detail
