// dB and time-constant conversions, validated. Reference: docs/reference/conversions.md.
//   amp2db(x)       = 20·log10(x)                     x finite, > 0
//   db2amp(d)       = 10^(d/20)                       d finite, result finite
//   ms2coef(ms, fs) = 1 − exp(−2200/(ms·fs))          ms, fs finite, > 0; in (0, 1]
//   coef2ms(c, fs)  = −2200/(fs·ln(1 − c))            c in (0, 1), fs finite, > 0
// "ms" is the 10 % → 90 % rise time of the one-pole smoother y_t = (1 − c)·y_{t−1} + c·x_t
// (2200 = 1000·ln 9). Every function computes in double (ms2coef and coef2ms through expm1 and
// log1p, which do not cancel) and rounds once, so the float overloads are correctly rounded to
// within an ulp. Bad input throws argument_error naming the argument ("x", "db", "ms", "coef", "fs").
#pragma once

#include "core.hpp"

namespace dd {

/// 2200 = 1000·ln 9: "ms" is the 10 %→90 % rise time of the one-pole.
inline constexpr double rise_time_constant = 2200.0;
/// The floor of the "safe" dB conversion the detectors use: 1e-7 (−140 dB).
inline constexpr double safe_amplitude_floor = 1e-7;

float amp2db(float x);
double amp2db(double x);
float db2amp(float db);
double db2amp(double db);
float ms2coef(float ms, float fs);
double ms2coef(double ms, double fs);
float coef2ms(float coef, float fs);
double coef2ms(double coef, double fs);

}  // namespace dd
