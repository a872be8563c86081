// dB and time-constant conversions (SPEC §1), with their derivatives.
#pragma once
#include <algorithm>
#include <cmath>

namespace dd {

template <class T> inline constexpr T ln10 = T(2.302585092994045684017991454684364208);
/// d amp2db / dx = 20 / (ln10 · x)
template <class T> inline constexpr T db_per_neper = T(20) / ln10<T>;
/// The floor of the "safe" dB conversion: 1e-7 (−140 dB).
template <class T> inline constexpr T safe_amp_floor = T(1e-7);
/// 2200 = 1000·ln 9: "ms" is the 10 %→90 % rise time of the one-pole.
inline constexpr double rise_time_constant = 2200.0;

template <class T> inline T amp2db(T x) { return T(20) * std::log10(x); }
template <class T> inline T db2amp(T db) { return std::exp(db * (ln10<T> / T(20))); }

/// 20·log10(max(x, 1e-7)).
template <class T> inline T safe_amp2db(T x) { return amp2db(std::max(x, safe_amp_floor<T>)); }
/// Derivative of safe_amp2db: 0 where the floor is active (x < 1e-7).
template <class T> inline T safe_amp2db_derivative(T x) {
    return x < safe_amp_floor<T> ? T(0) : db_per_neper<T> / x;
}

template <class T> inline T ms2coef(T ms, T fs) { return T(1) - std::exp(T(-rise_time_constant) / (ms * fs)); }
template <class T> inline T coef2ms(T coef, T fs) { return T(-rise_time_constant) / (fs * std::log(T(1) - coef)); }

}  // namespace dd
