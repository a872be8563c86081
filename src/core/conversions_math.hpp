// dB and time-constant conversions inside the library (unchecked; the public, validated ones are in
// differential_dynamics/conversions.hpp), with their derivatives.
#pragma once
#include <algorithm>
#include <cmath>

#include "core/arch.hpp"
#include "differential_dynamics/conversions.hpp"

DD_ARCH_BEGIN

template <class T> inline constexpr T ln10 = T(2.302585092994045684017991454684364208);
/// d amp2db / dx = 20 / (ln10 · x)
template <class T> inline constexpr T db_per_neper = T(20) / ln10<T>;
/// The floor of the "safe" dB conversion: 1e-7 (−140 dB).
template <class T> inline constexpr T safe_amp_floor = T(safe_amplitude_floor);

template <class T> inline T amp2db_raw(T x) { return T(20) * std::log10(x); }
template <class T> inline T db2amp_raw(T db) { return std::exp(db * (ln10<T> / T(20))); }

/// 20·log10(max(x, 1e-7)).
template <class T> inline T safe_amp2db(T x) { return amp2db_raw(std::max(x, safe_amp_floor<T>)); }
/// Derivative of safe_amp2db: 0 where the floor is active (x < 1e-7).
template <class T> inline T safe_amp2db_derivative(T x) {
    return x < safe_amp_floor<T> ? T(0) : db_per_neper<T> / x;
}

DD_ARCH_END
