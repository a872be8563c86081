// Error type of the public API: every rejected input names the argument it came from.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace dd {

/// Thrown for invalid input (bad value, shape, range). `argument()` is the offending argument's name,
/// and what() starts with it, e.g. "comp_ratio: must be > 1 (got 0.5 in row 2)".
class argument_error : public std::invalid_argument {
public:
    argument_error(std::string argument, const std::string& problem)
        : std::invalid_argument(argument + ": " + problem), argument_(std::move(argument)) {}
    const std::string& argument() const noexcept { return argument_; }

private:
    std::string argument_;
};

}  // namespace dd
