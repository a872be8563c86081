// SIMD layer (xsimd): the vector type, scalar/vector-generic helpers, fast dB conversions and the
// (rows × time) ↔ (time × lanes) transposes used by the rows-in-lanes kernels.
//
// Every elementwise function here is written once for xsimd batches; scalar calls go through a
// broadcast batch and read lane 0. Each lane of a SIMD operation rounds exactly like the scalar IEEE
// operation, so a value computes to the same bits in any lane, in any kernel (batch, streaming,
// single-row, rows-in-lanes) — which the bit-exact chunking/streaming/threading guarantees rely on.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <xsimd/xsimd.hpp>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "core/arch.hpp"

/// Forces inlining of the small vector building blocks: an out-of-line call passes its batches
/// through memory, and GCC's size heuristics give up on the long fused kernels.
#if defined(__GNUC__)
#define DD_INLINE [[gnu::always_inline]] inline
#define DD_INLINE_LAMBDA __attribute__((always_inline))
#else
#define DD_INLINE inline
#define DD_INLINE_LAMBDA
#endif

// GCC 12 reports the _mm512_undefined_* pass-through operands inside its own AVX-512 intrinsics as
// uninitialized once they are inlined into these helpers: false positives, silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

DD_ARCH_BEGIN
namespace simd {

#if defined(__AVX2__) && defined(__FMA__)
using arch = xsimd::fma3<xsimd::avx2>;  // 256-bit: on Zen 4 512-bit ops are double-pumped anyway
#else
using arch = xsimd::default_arch;
#endif

/// Rows-in-lanes vectors (recursions, transposes) and scalar broadcasts.
template <class T> using vec = xsimd::batch<T, arch>;
template <class T> inline constexpr std::size_t lanes = vec<T>::size;

/// The widest vectors, for elementwise phases with time in lanes. Each lane computes the same bits
/// as a `vec` lane (the same IEEE operations), only more of them at once.
#if defined(__AVX512F__) && defined(__AVX512BW__)
using wide_arch = xsimd::avx512bw;
#else
using wide_arch = arch;
#endif
template <class T> using wide = xsimd::batch<T, wide_arch>;
template <class T> inline constexpr std::size_t wide_lanes = wide<T>::size;

/// The element type of V = T or xsimd::batch<T, A>.
template <class V> struct scalar_of { using type = V; };
template <class T, class A> struct scalar_of<xsimd::batch<T, A>> { using type = T; };

// --------------------------------------------------------------------------------------------
// Helpers that read the same for scalars and batches.

/// m ? a : b, lane-wise for batches.
inline float pick(bool m, float a, float b) { return m ? a : b; }
inline double pick(bool m, double a, double b) { return m ? a : b; }
template <class T, class A>
DD_INLINE xsimd::batch<T, A> pick(const xsimd::batch_bool<T, A>& m, const xsimd::batch<T, A>& a,
                               const xsimd::batch<T, A>& b) {
    return xsimd::select(m, a, b);
}
/// [a < b] as 1 or 0, for finite scalars a and b, from the sign bit of a − b: it is exact in sign (0
/// only when a = b), and adding +0 turns the one −0 it can be (−0 − +0) into +0. Scalar code whose
/// comparison feeds a select is compiled to a branch, which mispredicts when the outcome flips every
/// few samples (the sign of audio, a peak level around a threshold); an integer shift is not.
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>> inline T less_indicator(T a, T b) {
    using I = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    const T d = (a - b) + T(0);
    I bits;
    std::memcpy(&bits, &d, sizeof bits);
    return T(bits >> (8 * sizeof(T) - 1));
}

/// a·b + c with one rounding (explicit: the build disables implicit contraction).
inline float fmadd(float a, float b, float c) { return std::fma(a, b, c); }
inline double fmadd(double a, double b, double c) { return std::fma(a, b, c); }
template <class T, class A>
DD_INLINE xsimd::batch<T, A> fmadd(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b,
                                const xsimd::batch<T, A>& c) {
#if defined(__FMA__)
    return xsimd::fma(a, b, c);
#else
    // Without FMA instructions xsimd rounds a·b and then the sum: lane by lane with std::fma instead,
    // so that the baseline kernels give the bits of the AVX2 and AVX-512 ones (slower, but exact).
    using V = xsimd::batch<T, A>;
    alignas(64) T va[V::size], vb[V::size], vc[V::size];
    a.store_aligned(va);
    b.store_aligned(vb);
    c.store_aligned(vc);
    for (std::size_t i = 0; i < V::size; ++i) va[i] = std::fma(va[i], vb[i], vc[i]);
    return V::load_aligned(va);
#endif
}
#if defined(__AVX512F__) && defined(__AVX512BW__)
// xsimd 8.1 has no fused multiply-add for AVX-512 (it falls back to a·b + c, rounded twice): use the
// instruction, so that wide lanes round exactly like the 256-bit ones and the scalar form.
DD_INLINE xsimd::batch<float, xsimd::avx512bw> fmadd(const xsimd::batch<float, xsimd::avx512bw>& a,
                                                  const xsimd::batch<float, xsimd::avx512bw>& b,
                                                  const xsimd::batch<float, xsimd::avx512bw>& c) {
    return _mm512_fmadd_ps(a, b, c);
}
DD_INLINE xsimd::batch<double, xsimd::avx512bw> fmadd(const xsimd::batch<double, xsimd::avx512bw>& a,
                                                   const xsimd::batch<double, xsimd::avx512bw>& b,
                                                   const xsimd::batch<double, xsimd::avx512bw>& c) {
    return _mm512_fmadd_pd(a, b, c);
}
#endif

// --------------------------------------------------------------------------------------------
// Fast dB conversions, accurate to a few ulp (docs/derivations/simd_math.md; tested in tests/cpp/simd/simd_tests.cpp).
//   amp2db: x = m·2^e, m ∈ (√½, √2];  float: ln m = r + r²(−½ + r·Q(r)), r = m − 1, Q of degree 7;
//           double: ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716, series to s^21;
//           dB = e·20·log10(2) + ln m · 20/ln 10.
//           Valid for normal positive x (x ≥ 1.2e-38 in float, 2.2e-308 in double).
//   db2amp: 10^(g/20) = 2^z, z = g·log2(10)/20 = n + r, n = round(z), |r| ≤ ½;
//           2^r by its Taylor series to r^7 (float) / r^13 (double); 2^n put into the exponent.
//           z = g·log2(10)/20 is formed in double-word precision (head·g + exact residual + tail·g),
//           else its rounding error (relative 2^-24, absolute up to 2^-17 for |z| ~ 100) would be
//           amplified by the exponential. g is clamped so z ∈ [−126, 127] (float) / [−1022, 1023]
//           (double): gains below −758 dB (float) round up to 1.2e-38 instead of flushing to 0.

namespace detail {
template <class T> struct bits_of;
// Unsigned, so that >> is a logical shift (AVX2 has no 64-bit arithmetic shift).
template <> struct bits_of<float> { using type = std::uint32_t; };
template <> struct bits_of<double> { using type = std::uint64_t; };
}  // namespace detail

namespace detail {
/// x = 2^e·m with m ∈ (T(√2)/2, T(√2)]: e (an integer, exact in T) and ln m. amp2db's first part, shared
/// with the float32 curve's accurate targets (curve/curve_math.hpp: hard_curve_target, knee_curve_target).
template <class T, class A>
DD_INLINE void log_parts(const xsimd::batch<T, A>& x, xsimd::batch<T, A>& e_out, xsimd::batch<T, A>& ln_m_out) {
    using V = xsimd::batch<T, A>;
    using I = typename detail::bits_of<T>::type;
    using VI = xsimd::batch<I, A>;
    constexpr int mant = std::is_same_v<T, float> ? 23 : 52;
    constexpr I mant_mask = (I(1) << mant) - 1;
    constexpr I one_bits = std::is_same_v<T, float> ? I(0x3f800000) : I(0x3ff0000000000000LL);
    // The bits of the smallest m, the successor of T(√2)/2 (m ∈ (T(√2)/2, T(√2)]).
    constexpr I low_bits = std::is_same_v<T, float> ? I(0x3fb504f3) - (I(1) << mant) + 1
                                                    : I(0x3ff6a09e667f3bcdLL) - (I(1) << mant) + 1;
    // 2^mant as a float whose low mantissa bits receive the biased exponent: exact int → float.
    constexpr I magic_bits = std::is_same_v<T, float> ? I(0x4b000000) : I(0x4330000000000000LL);
    constexpr T magic_and_bias = std::is_same_v<T, float> ? T(8388608.0 + 127) : T(4503599627370496.0 + 1023);

    // Adding one_bits − low_bits carries into the exponent exactly where the mantissa 1.M exceeds
    // T(√2): e + 1 there, and the mantissa field plus low_bits is then 1.M/2, else 1.M (integer
    // operations only, in place of a compare and two selects).
    const VI shifted = xsimd::bitwise_cast<VI>(x) + VI(one_bits - low_bits);
    const V e = xsimd::bitwise_cast<V>(VI(magic_bits) | (shifted >> mant)) - V(magic_and_bias);
    const V m = xsimd::bitwise_cast<V>((shifted & VI(mant_mask)) + VI(low_bits));
    V ln_m;
    if constexpr (std::is_same_v<T, float>) {
        // ln(1 + r) = r + r²·(−½ + r·Q(r)), Q a degree-7 least-squares fit on Chebyshev nodes over
        // r ∈ [√½ − 1, √2 − 1] (relative error 7e-9): no division, which costs more than the fmas.
        const V r = m - V(T(1));
        const T q[8] = {T(-7.362867871e-02), T(1.262032749e-01), T(-1.320210421e-01), T(1.422711404e-01),
                        T(-1.662136991e-01), T(1.999982657e-01), T(-2.500085194e-01), T(3.333335405e-01)};
        // Q by Estrin's scheme (q[0] is the highest-order coefficient): depth 3 instead of 7.
        const V r2 = r * r, r4 = r2 * r2;
        const V a = fmadd(r, V(q[6]), V(q[7])), b = fmadd(r, V(q[4]), V(q[5])), c = fmadd(r, V(q[2]), V(q[3])),
                d = fmadd(r, V(q[0]), V(q[1]));
        const V p = fmadd(r4, fmadd(r2, d, c), fmadd(r2, b, a));
        // r − r²/2 and r³ are ready before p: one fma after it (latency: the sigmoid gate's state
        // takes a log every step).
        ln_m = fmadd(r2 * r, p, fmadd(r2, V(T(-0.5)), r));
    } else {
        const V s = (m - V(T(1))) / (m + V(T(1)));
        const V s2 = s * s;
        // Σ_{k=0..10} s^{2k}/(2k+1) by Estrin's scheme (depth 4 instead of 10: latency-bound in double).
        const V s4 = s2 * s2, s8 = s4 * s4;
        auto c = [](int k) { return V(T(1.0 / (2 * k + 1))); };
        const V p01 = fmadd(s2, c(1), c(0)), p23 = fmadd(s2, c(3), c(2)), p45 = fmadd(s2, c(5), c(4));
        const V p67 = fmadd(s2, c(7), c(6)), p89 = fmadd(s2, c(9), c(8));
        const V p03 = fmadd(s4, p23, p01), p47 = fmadd(s4, p67, p45), p8_10 = fmadd(s4, c(10), p89);
        const V p = fmadd(s8, fmadd(s8, p8_10, p47), p03);
        ln_m = (s + s) * p;
    }
    e_out = e;
    ln_m_out = ln_m;
}
}  // namespace detail

/// amp2db from detail::log_parts's e and ln m.
template <class T, class A> DD_INLINE xsimd::batch<T, A> level_from_parts(const xsimd::batch<T, A>& e, const xsimd::batch<T, A>& ln_m) {
    using V = xsimd::batch<T, A>;
    constexpr T db_per_octave = T(6.0205999132796239042747778944899);  // 20·log10(2)
    constexpr T db_per_neper = T(8.6858896380650365530225783783321);   // 20/ln 10
    return fmadd(ln_m, V(db_per_neper), e * V(db_per_octave));  // e·20·log10(2) is ready before ln m
}

template <class T, class A> DD_INLINE xsimd::batch<T, A> amp2db(const xsimd::batch<T, A>& x) {
    xsimd::batch<T, A> e, ln_m;
    detail::log_parts(x, e, ln_m);
    return level_from_parts(e, ln_m);
}

namespace detail {
/// 2^n·e^r for |r| ≤ ln2/2 (+tiny), n an integer in [−126, 127] (float) / [−1022, 1023] (double) held
/// in the low mantissa bits of `shifted` = n + 1.5·2^mant: e^r by its Taylor series, 2^n put into the
/// exponent. exp2_scaled's second part.
template <class T, class A> DD_INLINE xsimd::batch<T, A> exp_parts(const xsimd::batch<T, A>& shifted, const xsimd::batch<T, A>& r) {
    using V = xsimd::batch<T, A>;
    using I = typename detail::bits_of<T>::type;
    using VI = xsimd::batch<I, A>;
    constexpr int mant = std::is_same_v<T, float> ? 23 : 52;
    constexpr I bias = std::is_same_v<T, float> ? I(127) : I(1023);
    constexpr int degree = std::is_same_v<T, float> ? 7 : 13;
    T inv_fact[degree + 1];
    inv_fact[0] = T(1);
    for (int k = 1; k <= degree; ++k) inv_fact[k] = inv_fact[k - 1] / T(k);
    V p;
    if constexpr (std::is_same_v<T, float>) {  // degree 7 by Estrin's scheme (depth 3 instead of 7)
        const V r2 = r * r, r4 = r2 * r2;
        auto c = [&](int k) { return V(inv_fact[k]); };
        const V q0 = fmadd(r, c(1), c(0)), q1 = fmadd(r, c(3), c(2)), q2 = fmadd(r, c(5), c(4)),
                q3 = fmadd(r, c(7), c(6));
        p = fmadd(r4, fmadd(r2, q3, q2), fmadd(r2, q1, q0));
    } else {  // degree 13 by Estrin's scheme (depth 4 instead of 13)
        const V r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
        auto c = [&](int k) { return V(inv_fact[k]); };
        const V q0 = fmadd(r, c(1), c(0)), q1 = fmadd(r, c(3), c(2)), q2 = fmadd(r, c(5), c(4)),
                q3 = fmadd(r, c(7), c(6)), q4 = fmadd(r, c(9), c(8)), q5 = fmadd(r, c(11), c(10)),
                q6 = fmadd(r, c(13), c(12));
        const V h0 = fmadd(r2, q1, q0), h1 = fmadd(r2, q3, q2), h2 = fmadd(r2, q5, q4);
        const V lo = fmadd(r4, h1, h0), hi = fmadd(r4, q6, h2);
        p = fmadd(r8, hi, lo);
    }
    const VI scale_bits = (xsimd::bitwise_cast<VI>(shifted) + VI(bias)) << mant;
    return p * xsimd::bitwise_cast<V>(scale_bits);
}

/// 2^(g·c) for a constant c given as long double: c is split into a head and a tail, so that z = g·c
/// carries ~2× the working precision (|z| reaches 100 and its rounding error would otherwise be
/// amplified by the exponential's condition number).
template <class T, class A> DD_INLINE xsimd::batch<T, A> exp2_scaled(const xsimd::batch<T, A>& g, long double c_exact) {
    using V = xsimd::batch<T, A>;
    constexpr T lo = std::is_same_v<T, float> ? T(-126) : T(-1022);
    constexpr T hi = std::is_same_v<T, float> ? T(127) : T(1023);
    constexpr T round_magic = std::is_same_v<T, float> ? T(12582912.0) : T(6755399441055744.0);  // 1.5·2^mant
    const T c_head = T(c_exact);
    const T c_tail = T(c_exact - (long double)c_head);
    constexpr T ln2 = T(0.69314718055994530941723212145818);

    const V gc = xsimd::min(xsimd::max(g, V(lo / c_head)), V(hi / c_head));
    const V z = gc * V(c_head);
    const V z_tail = fmadd(gc, V(c_head), -z) + gc * V(c_tail);  // exact residual + tail
    const V shifted = z + V(round_magic);  // rounds z to the nearest integer n in its low bits
    const V n = shifted - V(round_magic);
    const V r = ((z - n) + z_tail) * V(ln2);  // 2^(z−n) = e^r, |r| ≤ ln2/2 (+tiny)
    return exp_parts(shifted, r);
}

}  // namespace detail

template <class T, class A> DD_INLINE xsimd::batch<T, A> db2amp(const xsimd::batch<T, A>& g) {
    return detail::exp2_scaled(g, 0.166096404744368117393515971474469508L);  // log2(10)/20
}
/// e^z, by the same method (used by the sigmoid gate; named apart from xsimd::exp, found by ADL).
template <class T, class A> DD_INLINE xsimd::batch<T, A> exponential(const xsimd::batch<T, A>& z) {
    return detail::exp2_scaled(z, 1.44269504088896340735992468100189214L);  // log2(e)
}

/// Scalar versions: the batch code on a broadcast value, so the bits equal any lane's.
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>> inline T amp2db(T x) {
    return amp2db(vec<T>(x)).get(0);
}
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>> inline T db2amp(T g) {
    return db2amp(vec<T>(g)).get(0);
}
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>> inline T exponential(T z) {
    return exponential(vec<T>(z)).get(0);
}

// --------------------------------------------------------------------------------------------
// Input scans for validation: true if every x[i] is finite (and > 0 with Positive).

/// The scalar test: finite (v − v is NaN for ±Inf and NaN), and > 0 with Positive.
template <bool Positive, class T> inline bool acceptable(T v) {
    return (v - v) == T(0) && (!Positive || v > T(0));
}

template <bool Positive, class T> inline bool all_finite(const T* x, std::size_t n) {
    using V = wide<T>;
    constexpr std::size_t WW = V::size;
    auto ok = [](const V& v) {
        const auto finite = (v - v) == V(T(0));  // false for ±Inf and NaN
        if constexpr (Positive) return finite & (v > V(T(0)));
        return finite;
    };
    auto acc = ok(V(T(1)));
    std::size_t i = 0;
    for (; i + WW <= n; i += WW) acc = acc & ok(V::load_unaligned(x + i));
    if (!xsimd::all(acc)) return false;
    for (; i < n; ++i)
        if (!acceptable<Positive>(x[i])) return false;
    return true;
}

// --------------------------------------------------------------------------------------------
// Time in lanes: lane shifts and the in-register scan of a first-order linear recurrence.

/// Lane j of the result is lane j + S of the concatenation (v, next): v[j + S] while j + S < W, then
/// next[j + S − W]. With v the samples t..t+W−1 and next the samples t+W.., this reads "one step later".
template <std::size_t S, class T, class A>
DD_INLINE xsimd::batch<T, A> shift_down(const xsimd::batch<T, A>& v, const xsimd::batch<T, A>& next) {
    using V = xsimd::batch<T, A>;
    static_assert(S > 0 && S < V::size, "shift by 1 … W−1 lanes");
#if defined(__AVX512F__)
    if constexpr (V::size == 16 && std::is_same_v<T, float>) {
        return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(v), S));
    } else if constexpr (V::size == 8 && std::is_same_v<T, double>) {
        return _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(next), _mm512_castpd_si512(v), S));
    } else
#endif
#if defined(__AVX2__)
    // 256-bit vectors: [v_hi, next_lo] by one cross-lane permute, then a byte shift within 128-bit
    // lanes. (Through memory, the load straddles two stores: a failed store forwarding on the
    // backward scan's chain, measured 2× slower in the sigmoid gate's backward.)
    if constexpr (sizeof(V) == 32 && std::is_same_v<T, float>) {
        const __m256 mid = _mm256_permute2f128_ps(v, next, 0x21);
        if constexpr (S == 4) {
            return mid;
        } else if constexpr (S < 4) {
            return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(mid), _mm256_castps_si256(v), 4 * S));
        } else {
            return _mm256_castsi256_ps(
                _mm256_alignr_epi8(_mm256_castps_si256(next), _mm256_castps_si256(mid), 4 * (S - 4)));
        }
    } else if constexpr (sizeof(V) == 32 && std::is_same_v<T, double>) {
        const __m256d mid = _mm256_permute2f128_pd(v, next, 0x21);
        if constexpr (S == 2) {
            return mid;
        } else if constexpr (S == 1) {
            return _mm256_castsi256_pd(_mm256_alignr_epi8(_mm256_castpd_si256(mid), _mm256_castpd_si256(v), 8));
        } else {
            return _mm256_castsi256_pd(_mm256_alignr_epi8(_mm256_castpd_si256(next), _mm256_castpd_si256(mid), 8));
        }
    } else
#endif
    {
        alignas(64) T both[2 * V::size];
        v.store_aligned(both);
        next.store_aligned(both + V::size);
        return V::load_unaligned(both + S);
    }
}

/// x[k … k + W) of n values (lanes at k + i ≥ n get `fill`).
template <class V, class T> DD_INLINE V load_padded(const T* x, std::size_t k, std::size_t n, T fill) {
    constexpr std::size_t W = V::size;
    if (k + W <= n) return V::load_unaligned(x + k);
    alignas(64) T tmp[W];
    for (std::size_t i = 0; i < W; ++i) tmp[i] = k + i < n ? x[k + i] : fill;
    return V::load_aligned(tmp);
}

/// y_{t−1} for t = t0 … t0 + W − 1 of a recursion's output y of n values, with y_{−1} = first (lanes
/// at t ≥ n, past the row's end, also get `first`): what a backward pass reads as each step's state.
template <class V, class T> DD_INLINE V load_previous(const T* y, std::size_t t0, std::size_t n, T first) {
    constexpr std::size_t W = V::size;
    if (t0 > 0 && t0 + W <= n) return V::load_unaligned(y + t0 - 1);
    alignas(64) T tmp[W];
    for (std::size_t i = 0; i < W; ++i) {
        const std::size_t t = t0 + i;
        tmp[i] = t == 0 || t >= n ? first : y[t - 1];
    }
    return V::load_aligned(tmp);
}

/// The sum of v's lanes, added in lane order. (Where a sum is taken once per block, this is as cheap as
/// xsimd::hadd, whose AVX-512 form makes GCC 12 warn about an undefined half in its own headers.)
template <class T, class A> inline T sum_lanes(const xsimd::batch<T, A>& v) {
    alignas(64) T lanes_of_v[xsimd::batch<T, A>::size];
    v.store_aligned(lanes_of_v);
    T sum = T(0);
    for (T x : lanes_of_v) sum += x;
    return sum;
}

/// v with `value` added to lane `lane` (< V::size).
template <class T, class A>
inline xsimd::batch<T, A> add_to_lane(const xsimd::batch<T, A>& v, std::size_t lane, T value) {
    using V = xsimd::batch<T, A>;
    alignas(64) T lanes_of_v[V::size];
    v.store_aligned(lanes_of_v);
    lanes_of_v[lane] += value;
    return V::load_aligned(lanes_of_v);
}

/// Every lane holds lane 0 of v.
template <class T, class A> DD_INLINE xsimd::batch<T, A> broadcast_first(const xsimd::batch<T, A>& v) {
    using V = xsimd::batch<T, A>;
#if defined(__AVX512F__)
    if constexpr (V::size == 16 && std::is_same_v<T, float>) {
        return _mm512_broadcastss_ps(_mm512_castps512_ps128(v));
    } else if constexpr (V::size == 8 && std::is_same_v<T, double>) {
        return _mm512_broadcastsd_pd(_mm512_castpd512_pd128(v));
    } else
#endif
#if defined(__AVX2__)
    if constexpr (sizeof(V) == 32 && std::is_same_v<T, float>) {
        return _mm256_broadcastss_ps(_mm256_castps256_ps128(v));
    } else if constexpr (sizeof(V) == 32 && std::is_same_v<T, double>) {
        return _mm256_broadcastsd_pd(_mm256_castpd256_pd128(v));
    } else
#endif
    {
        return V(v.get(0));
    }
}

namespace detail {
/// f(integral_constant<size_t, S>) for S = 1, 2, 4, … below W: the doubling steps of a W-lane scan.
template <std::size_t W, class F> DD_INLINE void for_each_doubling(F&& f) {
    static_assert(W <= 16, "up to 16 lanes");
    if constexpr (W > 1) f(std::integral_constant<std::size_t, 1>{});
    if constexpr (W > 2) f(std::integral_constant<std::size_t, 2>{});
    if constexpr (W > 4) f(std::integral_constant<std::size_t, 4>{});
    if constexpr (W > 8) f(std::integral_constant<std::size_t, 8>{});
}
}  // namespace detail

/// The reverse first-order linear recurrence u_j = b_j + a_j·u_{j+1} over the W lanes of one vector,
/// with u_W = carry (every lane of `carry` holds it): log2(W) doubling steps (Hillis–Steele) that
/// fold b and the products of a, then one fma with the carry. Only that fma and the broadcast of
/// the result's lane 0 lie on the loop-carried path of a scan over many vectors, instead of one
/// fma per sample.
template <class T, class A>
DD_INLINE xsimd::batch<T, A> reverse_linear_scan(xsimd::batch<T, A> a, xsimd::batch<T, A> b,
                                              const xsimd::batch<T, A>& carry) {
    using V = xsimd::batch<T, A>;
    const V zero(T(0)), one(T(1));
    detail::for_each_doubling<V::size>([&](auto shift) {
        constexpr std::size_t S = decltype(shift)::value;
        b = fmadd(a, shift_down<S>(b, zero), b);
        a = a * shift_down<S>(a, one);
    });
    return fmadd(a, carry, b);
}

/// Bit i set where lane i of m is true.
template <class T, class A> DD_INLINE unsigned lane_bits(const xsimd::batch_bool<T, A>& m) {
    using B = xsimd::batch_bool<T, A>;
    constexpr std::size_t bytes = B::size * sizeof(T);
    if constexpr (sizeof(typename B::register_type) <= 8) {  // AVX-512 mask registers (an integer)
        return unsigned(typename B::register_type(m));
#if defined(__AVX__)
    } else if constexpr (bytes == 32 && std::is_same_v<T, float>) {
        return unsigned(_mm256_movemask_ps(m));
    } else if constexpr (bytes == 32 && std::is_same_v<T, double>) {
        return unsigned(_mm256_movemask_pd(m));
#endif
#if defined(__SSE2__)
    } else if constexpr (bytes == 16 && std::is_same_v<T, float>) {
        return unsigned(_mm_movemask_ps(m));
    } else if constexpr (bytes == 16 && std::is_same_v<T, double>) {
        return unsigned(_mm_movemask_pd(m));
#endif
    } else {
        alignas(64) bool lanes[B::size];
        m.store_aligned(lanes);
        unsigned bits = 0;
        for (std::size_t i = 0; i < B::size; ++i) bits |= unsigned(lanes[i]) << i;
        return bits;
    }
}

/// reverse_linear_scan for a vector whose factors a all equal one value c: the factors' products that
/// the doubling steps form depend on c alone, so they are formed once (from a vector of c, by the
/// same operations: the same bits as reverse_linear_scan on that vector).
template <class V> class uniform_reverse_scan {
public:
    explicit uniform_reverse_scan(const V& c) {
        V a = c;
        std::size_t i = 0;
        detail::for_each_doubling<V::size>([&](auto shift) {
            a_[i++] = a;
            a = a * shift_down<decltype(shift)::value>(a, V(1));
        });
        a_[i] = a;
    }
    DD_INLINE V operator()(V b, const V& carry) const {
        std::size_t i = 0;
        detail::for_each_doubling<V::size>([&](auto shift) {
            b = fmadd(a_[i++], shift_down<decltype(shift)::value>(b, V(0)), b);
        });
        return fmadd(a_[i], carry, b);
    }

private:
    V a_[5];
};

// --------------------------------------------------------------------------------------------
// Square block transposes between W row buffers and a lanes-major buffer: for k < W,
//     lanes[k·W + r] = rows[r][k]          (to_lanes)        rows[r][k] = lanes[k·W + r]   (from_lanes)
// In registers (unpack/shuffle/permute) for AVX float 8×8 and double 4×4, element by element otherwise.

namespace detail {
#if defined(__AVX__)
inline void transpose(__m256 (&r)[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
inline void transpose(__m256d (&r)[4]) {
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}
template <class T> inline constexpr bool transpose_in_registers = lanes<T> == 32 / sizeof(T);
inline __m256 load256(const float* p) { return _mm256_loadu_ps(p); }
inline __m256d load256(const double* p) { return _mm256_loadu_pd(p); }
inline void store256(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline void store256(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
#else
template <class T> inline constexpr bool transpose_in_registers = false;
#endif

template <class T> inline void transpose_block_generic(const T* const* src, T* const* dst) {
    constexpr std::size_t W = lanes<T>;
    T tmp[W][W];
    for (std::size_t i = 0; i < W; ++i)
        for (std::size_t j = 0; j < W; ++j) tmp[j][i] = src[i][j];
    for (std::size_t j = 0; j < W; ++j)
        for (std::size_t i = 0; i < W; ++i) dst[j][i] = tmp[j][i];
}
}  // namespace detail

namespace detail {
/// Transposes count/W square blocks: block k reads W vectors at src(i, k) and writes the transposed
/// block's vectors to dst(i, k), i < W. In registers for AVX float 8×8 and double 4×4 (the address
/// functions are inlined, so the row pointers stay in registers), element by element otherwise.
template <class T, class Src, class Dst> inline void transpose_blocks(std::size_t count, Src src, Dst dst) {
    constexpr std::size_t W = lanes<T>;
#if defined(__AVX__)
    if constexpr (transpose_in_registers<T>) {
        using R = decltype(load256(src(0, 0)));
        for (std::size_t k = 0; k < count; k += W) {
            R r[W];
            for (std::size_t i = 0; i < W; ++i) r[i] = load256(src(i, k));
            transpose(r);
            for (std::size_t i = 0; i < W; ++i) store256(dst(i, k), r[i]);
        }
        return;
    }
#endif
    for (std::size_t k = 0; k < count; k += W) {
        const T* from[W];
        T* to[W];
        for (std::size_t i = 0; i < W; ++i) {
            from[i] = src(i, k);
            to[i] = dst(i, k);
        }
        transpose_block_generic(from, to);
    }
}
}  // namespace detail

/// Whether transpose_square exists for T (AVX float 8×8, double 4×4).
#if defined(__AVX__)
template <class T> inline constexpr bool has_transpose_square = detail::transpose_in_registers<T>;
#else
template <class T> inline constexpr bool has_transpose_square = false;
#endif

/// In-register transpose of a square block: afterwards lane i of r[k] is what lane k of r[i] was.
/// For kernels that move rows into lanes a block at a time without a buffer in between.
template <class T> DD_INLINE void transpose_square(vec<T> (&r)[lanes<T>]) {
    static_assert(has_transpose_square<T>, "in-register transposes need AVX");
#if defined(__AVX__)
    using R = typename vec<T>::register_type;
    R m[lanes<T>];
    for (std::size_t i = 0; i < lanes<T>; ++i) m[i] = r[i];
    detail::transpose(m);
    for (std::size_t i = 0; i < lanes<T>; ++i) r[i] = vec<T>(m[i]);
#endif
}

/// lanes[k·W + r] = rows[r][t0 + k] for k < count (count a multiple of W).
template <class T>
inline void to_lanes(const T* const* rows, std::size_t t0, std::size_t count, T* lanes_buf) {
    constexpr std::size_t W = lanes<T>;
    const T* src[W];
    for (std::size_t i = 0; i < W; ++i) src[i] = rows[i] + t0;
    detail::transpose_blocks<T>(count, [&](std::size_t i, std::size_t k) { return src[i] + k; },
                                [&](std::size_t i, std::size_t k) { return lanes_buf + (k + i) * W; });
}

/// rows[r][t0 + k] = lanes[k·W + r] for k < count (count a multiple of W); every rows[r] is written.
template <class T>
inline void from_lanes(const T* lanes_buf, std::size_t t0, std::size_t count, T* const* rows) {
    constexpr std::size_t W = lanes<T>;
    T* dst[W];
    for (std::size_t i = 0; i < W; ++i) dst[i] = rows[i] + t0;
    detail::transpose_blocks<T>(count, [&](std::size_t i, std::size_t k) { return lanes_buf + (k + i) * W; },
                                [&](std::size_t i, std::size_t k) { return dst[i] + k; });
}

/// The W = lanes<float> floats of a vec<float> as doubles, in `double_parts` wide<double> vectors
/// (one on AVX-512, two on AVX2): float rows keep a smoother state in double beside their float
/// lanes (ballistics.hpp, hard_lanes). Exact.
inline constexpr std::size_t double_parts = lanes<float> / wide_lanes<double>;
DD_INLINE void widen_to_double(const vec<float>& f, wide<double> (&out)[double_parts]) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX2__)
    static_assert(double_parts == 1, "8 float lanes, 8 double lanes");
    out[0] = _mm512_cvtps_pd(f);
#elif defined(__AVX2__)
    static_assert(double_parts == 2, "8 float lanes, 2 × 4 double lanes");
    out[0] = _mm256_cvtps_pd(_mm256_castps256_ps128(f));
    out[1] = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
#else
    alignas(64) float a[lanes<float>];
    alignas(64) double d[lanes<float>];
    f.store_aligned(a);
    for (std::size_t i = 0; i < lanes<float>; ++i) d[i] = double(a[i]);
    for (std::size_t k = 0; k < double_parts; ++k) out[k] = wide<double>::load_aligned(d + k * wide_lanes<double>);
#endif
}

/// A double rounded up to float (toward +∞), scalar: the nearest float, then one float step toward
/// +∞ where that was below (bits + 1 for a positive float, bits − 1 for a negative one); branch-free
/// (a branch here would mispredict half the time).
inline float round_up_to_float(double d) {
    float t = float(d);
    std::int32_t bits;
    std::memcpy(&bits, &t, sizeof bits);
    const std::int32_t below = -std::int32_t(double(t) < d);  // 0 or −1
    bits += below & ((bits >> 31) | 1);                        // +1 (t ≥ +0) or −1 (t < 0) where below
    std::memcpy(&t, &bits, sizeof bits);
    return t;
}

/// The doubles of widen_to_double's layout rounded up to floats (toward +∞), the same bits as
/// round_up_to_float lane by lane.
DD_INLINE vec<float> narrow_up_from_double(const wide<double> (&in)[double_parts]) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX2__)
    return _mm512_cvt_roundpd_ps(in[0], _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
#elif defined(__AVX2__)
    // Nearest, then one step toward +∞ (round_up_to_float's bits ± 1) where that was below.
    auto half = [](const __m256d& v) {
        const __m128 t = _mm256_cvtpd_ps(v);
        const __m256i below = _mm256_castpd_si256(_mm256_cmp_pd(_mm256_cvtps_pd(t), v, _CMP_LT_OQ));
        const __m128i below32 =
            _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(below, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
        const __m128i bits = _mm_castps_si128(t);
        const __m128i step = _mm_and_si128(below32, _mm_or_si128(_mm_srai_epi32(bits, 31), _mm_set1_epi32(1)));
        return _mm_castsi128_ps(_mm_add_epi32(bits, step));
    };
    return _mm256_set_m128(half(in[1]), half(in[0]));
#else
    alignas(64) double d[lanes<float>];
    alignas(64) float a[lanes<float>];
    for (std::size_t k = 0; k < double_parts; ++k) in[k].store_aligned(d + k * wide_lanes<double>);
    for (std::size_t i = 0; i < lanes<float>; ++i) a[i] = round_up_to_float(d[i]);
    return vec<float>::load_aligned(a);
#endif
}

/// Lower end of narrow_up_from_normal_double's domain: the smallest normal float, 2^-126.
inline constexpr double narrow_up_min = 1.1754943508222875e-38;
/// Upper end of its domain: 2^127.
inline constexpr double narrow_up_max = 1.7014118346046923e+38;

/// narrow_up_from_double for doubles in [narrow_up_min, narrow_up_max] only (same bits there; other
/// values give unspecified floats). There, rounding up to float is an integer ceiling of the
/// double's bits at float's precision: add 2^29 − 1 to the 64-bit pattern, keep the bits above the
/// 29 that float lacks, and move the exponent from double's bias to float's. Fewer operations than
/// the general case on AVX2, where they sit in the float hard smoother's per-step work.
DD_INLINE vec<float> narrow_up_from_normal_double(const wide<double> (&in)[double_parts]) {
#if defined(__AVX2__) && !(defined(__AVX512F__) && defined(__AVX512BW__))
    const __m256i carry = _mm256_set1_epi64x((std::int64_t(1) << 29) - 1);
    const __m256i lo = _mm256_srli_epi64(_mm256_add_epi64(_mm256_castpd_si256(in[0]), carry), 29);
    const __m256i hi = _mm256_srli_epi64(_mm256_add_epi64(_mm256_castpd_si256(in[1]), carry), 29);
    // The low 32 bits of every 64-bit lane, in order: lo's 4 then hi's 4.
    const __m256 mixed = _mm256_shuffle_ps(_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi), _MM_SHUFFLE(2, 0, 2, 0));
    const __m256i ordered = _mm256_permute4x64_epi64(_mm256_castps_si256(mixed), _MM_SHUFFLE(3, 1, 2, 0));
    // Exponent bias 1023 → 127; the exponent's bits above bit 31 were dropped, which the
    // subtraction modulo 2^32 does not need.
    return _mm256_castsi256_ps(_mm256_sub_epi32(ordered, _mm256_set1_epi32(int(std::uint32_t(1023 - 127) << 23))));
#else
    return narrow_up_from_double(in);
#endif
}

/// Whether narrow_up_from_normal_double takes fewer operations than narrow_up_from_double (AVX2;
/// AVX-512 rounds up in one instruction, the baseline lane by lane).
inline constexpr bool has_cheaper_normal_narrow =
#if defined(__AVX2__) && !(defined(__AVX512F__) && defined(__AVX512BW__))
    true;
#else
    false;
#endif

/// Whether every float seen by add() has its bits, as an unsigned integer, in [Lo, Hi] (with
/// Hi < 0x80000000: positive floats from Lo's to Hi's; negative values and NaN are outside): such
/// bits, less Lo, are at most Hi − Lo; anything else wraps above it. One subtraction and one unsigned
/// max per vector.
template <class A, std::uint32_t Lo, std::uint32_t Hi> class float_bits_check {
public:
    using U = xsimd::batch<std::uint32_t, A>;
    DD_INLINE void add(const xsimd::batch<float, A>& f) { worst_ = xsimd::max(worst_, xsimd::bitwise_cast<U>(f) - U(Lo)); }
    bool all_inside() const {
        alignas(64) std::uint32_t w[U::size];
        worst_.store_aligned(w);
        for (std::size_t i = 0; i < U::size; ++i)
            if (w[i] > Hi - Lo) return false;
        return true;
    }

private:
    U worst_ = U(0u);
};

/// Floats in [2^-126, 1].
template <class A> using unit_normal_check = float_bits_check<A, 0x00800000u, 0x3f800000u>;

}  // namespace simd
DD_ARCH_END

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
