// Number + unit suffix parsing for the command line (apps/ddyn/units.hpp). Written here: CLI11's
// AsNumberWithUnit maps suffixes to factors but cannot read "4:1" or report which unit was expected.
#include "units.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <utility>

namespace ddyn {
namespace {

std::string lower(std::string s) {
    for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

/// The number at the start of `text` times the factor of its suffix (case-insensitive; "" is the
/// plain unit). `expected` says what was wanted, for the error message.
double parse_with_suffixes(const std::string& text, const std::string& option,
                           std::initializer_list<std::pair<const char*, double>> suffixes, const char* expected) {
    const char* begin = text.c_str();
    char* end = nullptr;
    const double value = std::strtod(begin, &end);
    std::string suffix = end == begin ? "?" : std::string(end);
    while (!suffix.empty() && std::isspace(static_cast<unsigned char>(suffix.front()))) suffix.erase(0, 1);
    suffix = lower(suffix);
    if (end != begin && std::isfinite(value))
        for (const auto& [name, factor] : suffixes)
            if (suffix == name) return value * factor;
    throw usage_error(option + ": '" + text + "' is not " + expected);
}

}  // namespace

double parse_decibels(const std::string& text, const std::string& option) {
    return parse_with_suffixes(text, option, {{"", 1.0}, {"db", 1.0}}, "a level in dB (e.g. -18dB or -18)");
}

double parse_ratio(const std::string& text, const std::string& option) {
    return parse_with_suffixes(text, option, {{"", 1.0}, {":1", 1.0}}, "a ratio (e.g. 4:1 or 4)");
}

double parse_milliseconds(const std::string& text, const std::string& option) {
    return parse_with_suffixes(text, option, {{"", 1.0}, {"ms", 1.0}, {"s", 1000.0}, {"us", 1e-3}},
                               "a time (e.g. 10ms, 1.2s, or 10 for milliseconds)");
}

double parse_seconds(const std::string& text, const std::string& option) {
    return parse_with_suffixes(text, option, {{"", 1.0}, {"s", 1.0}, {"ms", 1e-3}, {"min", 60.0}},
                               "a duration (e.g. 10s, 500ms, 2min, or 10 for seconds)");
}

double parse_fraction(const std::string& text, const std::string& option) {
    return parse_with_suffixes(text, option, {{"", 1.0}, {"%", 0.01}}, "a fraction (e.g. 0.5 or 50%)");
}

double parse_hertz(const std::string& text, const std::string& option) {
    return parse_with_suffixes(text, option, {{"", 1.0}, {"hz", 1.0}, {"khz", 1000.0}},
                               "a frequency (e.g. 1kHz, 44100Hz, or 44100 for Hz)");
}

}  // namespace ddyn
