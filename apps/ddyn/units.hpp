// Values with units on the command line: "-18dB", "4:1", "10ms", "1.2s", "50%", "1kHz". A plain
// number is read in the option's documented unit (dB, ratio, ms, fraction, Hz, s).
#pragma once
#include <stdexcept>
#include <string>

namespace ddyn {

/// A bad command-line argument: main prints it on one line and exits with status 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// "-18dB", "-18 dB" or "-18" → −18 (dB).
double parse_decibels(const std::string& text, const std::string& option);
/// "4:1" or "4" → 4.
double parse_ratio(const std::string& text, const std::string& option);
/// "10ms", "1.2s", "500us" or "10" (ms) → milliseconds.
double parse_milliseconds(const std::string& text, const std::string& option);
/// "10s", "500ms", "2min" or "10" (s) → seconds.
double parse_seconds(const std::string& text, const std::string& option);
/// "0.5" or "50%" → 0.5.
double parse_fraction(const std::string& text, const std::string& option);
/// "1kHz", "1000Hz" or "1000" (Hz) → Hz.
double parse_hertz(const std::string& text, const std::string& option);

}  // namespace ddyn
