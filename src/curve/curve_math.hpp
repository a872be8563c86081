// The static compressor + downward-expander gain curve with an optional quadratic soft knee: value
// and partials, for scalars and SIMD vectors, and the float32 targets' accurate exponent pieces.
// Derivation: docs/derivations/gain_curve.md. Reference: docs/reference/curve.md.
#pragma once
#include <cmath>
#include <cstddef>

#include "differential_dynamics/curve.hpp"
#include "simd/simd.hpp"

DD_ARCH_BEGIN

/// Value and partials of one knee'd branch h(d; σ, W), where d is the distance (dB) into the
/// branch's active side and σ ≥ 0 its slope:
///     h = 0                       for 2d ≤ −W
///     h = −σ·(d + W/2)² / (2W)    for |2d| < W   (Giannoulis et al. 2012 quadratic knee)
///     h = −σ·d                    for 2d ≥ W
/// W = 0 gives the hard curve exactly: the knee case is never selected (its value, computed with
/// 1/(2W) = ∞, is discarded). Branch-free, for scalars and SIMD batches alike (V = T or vec<T>).
/// Knee = false skips the knee case: valid only for W = 0, where it gives the same bits.
template <class V> struct knee_branch {
    V value, d_distance, d_slope, d_width;
};

template <bool Knee = true, class V> DD_INLINE knee_branch<V> knee_gain(V d, V slope, V width, V inv_2w) {
    const V zero(0), half(0.5);
    if constexpr (!Knee) {
        const auto below = d <= zero;  // 2d ≤ −W with W = 0
        return {simd::pick(below, zero, -(slope * d)), simd::pick(below, zero, -slope), simd::pick(below, zero, -d),
                zero};
    }
    const auto below = (d + d) <= -width;
    const auto above = (d + d) >= width;
    const V a = d + half * width;
    const V sa = slope * a;
    const V quad = -(sa * a) * inv_2w;
    const V quad_dd = -(sa + sa) * inv_2w;
    const V quad_ds = -(a * a) * inv_2w;
    // ∂/∂W of −σa²/(2W) with ∂a/∂W = 1/2: −σ·a·(W − a)/(2W²)
    const V quad_dw = -(sa * (width - a)) * inv_2w / width;
    return {simd::pick(below, zero, simd::pick(above, -(slope * d), quad)),
            simd::pick(below, zero, simd::pick(above, -slope, quad_dd)),
            simd::pick(below, zero, simd::pick(above, -d, quad_ds)),
            simd::pick(below, zero, simd::pick(above, zero, quad_dw))};
}

/// A curve prepared for evaluation on V = T or vec<T>: slopes and their ratio derivatives
/// precomputed (σ_c = 1 − 1/CR, σ_e = 1/ER − 1 ≥ 0, dσ_c/dCR = 1/CR², dσ_e/dER = −1/ER²).
template <class V> struct prepared_curve {
    V comp_thresh, comp_slope, d_comp_slope, exp_thresh, exp_slope, d_exp_slope, knee, inv_2w;

    template <class T> static prepared_curve from(const compexp_curve<T>& c) {
        return {V(c.comp_thresh), V(T(1) - T(1) / c.comp_ratio), V(T(1) / (c.comp_ratio * c.comp_ratio)),
                V(c.exp_thresh), V(T(1) / c.exp_ratio - T(1)), V(-T(1) / (c.exp_ratio * c.exp_ratio)),
                V(c.knee), V(T(1) / (T(2) * c.knee))};
    }
};

/// float32 targets of the curve, f = 10^(g_dB(L)/20) for L = amp2db(x), to about an ulp
/// (docs/derivations/simd_math.md, "Accurate float32 targets"). Formed as amp2db then db2amp, f carries the
/// rounding of L and g_dB in float (absolute 2^-18 dB at 60 dB, 11 ulp-equivalent in f). Here the
/// exponent z = log2 f of branch b is taken from x = 2^e·m directly, in pieces that are exact or
/// small. Outside a knee it is affine in log2 x = e + ln m·log2(e): z_b = s_b·log2 x + K_b
/// (compressor: s = −σ_c, K = σ_c·CT·κ; expander: s = σ_e, K = −σ_e·ET·κ; κ = log2(10)/20), with
/// s_b split so that s_hi·e is exact and K_b as an integer, a fraction and a tail. In a knee it is
/// −q·a² with a = d + W/2 = ±(e·20log10 2 + ln m·20/ln 10) + (W/2 ∓ T) and q = κσ/(2W), a formed
/// as an exact part (e·c1_hi + c0_hi) and a small one. Per row, for V = wide<float>.
template <class V> struct hard_target_terms {
    V b[2], k[2];                                      // ln m's factor; K rounded to float (the rough z)
    V s_hi[2], s_lo[2], k_int[2], k_frac[2], k_lo[2];  // outside a knee
    V c1_hi[2], c1_lo[2], c2[2], c0_hi[2], c0_lo[2], nq_hi[2], nq_lo[2];  // in a knee (W > 0)
    /// Whether the pieces are exact for this curve: s_hi·e and the rounding of the rough z to an
    /// integer need |s|·2^8 < 2^22 (σ_e < 2^14: ER > 6.1e-5), the offsets |K| < 2^21, and a knee's
    /// e·c1_hi + c0_hi must stay below 2^11 (W and the thresholds within ±500 dB). Curves outside
    /// (an expander that steep is a gate) take the dB path: finite and in (0, 1], float32's dB
    /// accuracy.
    template <class T> static bool exact_for(const compexp_curve<T>& c) {
        const double kappa = 0.166096404744368117393515971474469508;
        const double sigma_e = 1.0 / double(c.exp_ratio) - 1.0, ct = double(c.comp_thresh), et = double(c.exp_thresh);
        const double w = double(c.knee);
        return sigma_e < 16384.0 && std::abs(kappa * ct) < 2097152.0 && std::abs(sigma_e * kappa * et) < 2097152.0 &&
               (w == 0.0 || (w < 500.0 && std::abs(ct) < 500.0 && std::abs(et) < 500.0));
    }
    template <class T> static hard_target_terms from(const compexp_curve<T>& c) {
        const double kappa = 0.166096404744368117393515971474469508;  // log2(10)/20
        const double log2e = 1.44269504088896340735992468100189214;
        const double db_per_octave = 6.0205999132796239042747778944899, db_per_neper = 8.6858896380650365530225783783321;
        const double sigma[2] = {1.0 - 1.0 / double(c.comp_ratio), 1.0 / double(c.exp_ratio) - 1.0};
        const double sign[2] = {1.0, -1.0};  // d = L − CT (compressor), ET − L (expander)
        const double thresh[2] = {double(c.comp_thresh), double(c.exp_thresh)}, w = double(c.knee);
        // v rounded to `bits` significant bits (0 stays 0).
        auto leading = [](double v, int bits) {
            return v == 0.0 ? 0.0 : std::ldexp(std::nearbyint(std::ldexp(v, bits - 1 - std::ilogb(v))), std::ilogb(v) - bits + 1);
        };
        const double c1_hi = leading(db_per_octave, 16), c1_ulp = std::ldexp(1.0, std::ilogb(db_per_octave) - 15);
        hard_target_terms t;
        for (int i = 0; i < 2; ++i) {
            const double slope = -sign[i] * sigma[i], offset = sign[i] * sigma[i] * kappa * thresh[i];
            const double hi = leading(slope, 16);  // s_hi·e is exact for |e| ≤ 2^8
            const float k_hi = float(offset);
            const float k_int = std::nearbyint(k_hi);
            t.b[i] = V(float(slope * log2e));
            t.k[i] = V(float(offset));
            t.s_hi[i] = V(float(hi));
            t.s_lo[i] = V(float(slope - hi));
            t.k_int[i] = V(k_int);
            t.k_frac[i] = V(k_hi - k_int);  // exact
            t.k_lo[i] = V(float(offset - double(k_hi)));
            // a = sign·L + (W/2 − sign·T): e·c1_hi and c0_hi are multiples of c1_hi's last bit, so
            // their sum (|·| < 2^11) is exact in float.
            const double c0 = 0.5 * w - sign[i] * thresh[i];
            const double c0_hi = std::nearbyint(c0 / c1_ulp) * c1_ulp;
            t.c1_hi[i] = V(float(sign[i] * c1_hi));
            t.c1_lo[i] = V(float(sign[i] * (db_per_octave - c1_hi)));
            t.c2[i] = V(float(sign[i] * db_per_neper));
            t.c0_hi[i] = V(float(c0_hi));
            t.c0_lo[i] = V(float(c0 - c0_hi));
            const double q = w > 0 ? kappa * sigma[i] / (2 * w) : 0.0;
            t.nq_hi[i] = V(-float(q));
            t.nq_lo[i] = V(-float(q - double(float(q))));
        }
        return t;
    }
};

namespace curve_detail {
/// 1.5·2^23: v + round_magic() rounds v (|v| < 2^22) to an integer held in the low mantissa bits.
template <class V> DD_INLINE V round_magic() { return V(12582912.0f); }

/// The affine branch's exponent z = s·log2 x + K in pieces (hard_target_terms: s_hi, s_lo, b, k, k_int,
/// k_frac, k_lo): small = ln m·b + (e·s_lo + k_lo) (|small| ≲ 0.75 for σ ≤ 1), and the rough
/// z = e·s_hi + (small + k), two roundings off z, which chooses the branch and n.
template <class V> DD_INLINE V affine_small(const V& e, const V& ln_m, const V& s_lo, const V& b, const V& k_lo) {
    return simd::fmadd(ln_m, b, simd::fmadd(e, s_lo, k_lo));
}
template <class V> DD_INLINE V affine_rough(const V& e, const V& small, const V& s_hi, const V& k) {
    return simd::fmadd(e, s_hi, small + k);
}

/// z = n + r of an affine branch, from its rough z and small part: n = round(z_rough),
/// p = e·s_hi + (k_int − n) in one fma, exact (e·s_hi has 24 bits, k_int − n is an integer, |p| ≲ 2
/// for σ ≤ 1), r = (p + small) + k_frac. Returns n + 1.5·2^23 (n in the low mantissa bits:
/// exp2_parts's form) and r.
template <class V>
DD_INLINE V affine_exponent(const V& e, const V& z_rough, const V& small, const V& s_hi, const V& k_int,
                            const V& k_frac, V& r) {
    const V shifted = z_rough + round_magic<V>();
    const V p = simd::fmadd(e, s_hi, k_int - (shifted - round_magic<V>()));
    r = (p + small) + k_frac;
    return shifted;
}

/// z = n + r in a knee: a = (e·c1_hi + c0_hi) + (ln m·c2 + (e·c1_lo + c0_lo)), the first sum exact and
/// the second addition's rounding kept (two-sum); z = −q·a² with a² and the product each carried as
/// a value and a residual. Returns n + 1.5·2^23 and r, as affine_exponent.
template <class V>
DD_INLINE V knee_exponent(const V& e, const V& ln_m, const V& c1_hi, const V& c1_lo, const V& c2, const V& c0_hi,
                          const V& c0_lo, const V& nq_hi, const V& nq_lo, V& r) {
    const V head = simd::fmadd(e, c1_hi, c0_hi);  // exact
    const V small = simd::fmadd(ln_m, c2, simd::fmadd(e, c1_lo, c0_lo));
    const V a = head + small;
    const V back = a - head, a_lo = (head - (a - back)) + (small - back);  // a + a_lo = head + small exactly
    const V aa = a * a, aa_err = simd::fmadd(a, a, -aa) + (a + a) * a_lo;
    const V z = nq_hi * aa;
    const V z_err = simd::fmadd(nq_hi, aa, -z) + simd::fmadd(nq_hi, aa_err, nq_lo * aa);
    const V shifted = z + round_magic<V>();
    r = (z - (shifted - round_magic<V>())) + z_err;
    return shifted;
}

/// 2^n·2^r for n an integer in [−126, 0] held in the low mantissa bits of `shifted` = n + 1.5·2^23
/// and |r| ≤ ½ (and a little more: n is rounded from a rough z). 2^r by a degree-6 polynomial, the
/// coefficients fitted as floats one by one (relative error 3.0e-9 on |r| ≤ 0.5005), in Horner's
/// form: the curve phases are bound by the throughput of the fma pipes, and Horner takes 6 fmas
/// where Estrin takes 8.
template <class V> DD_INLINE V exp2_parts(const V& shifted, const V& r) {
    using VI = xsimd::batch<std::uint32_t, typename V::arch_type>;
    V p = simd::fmadd(r, V(1.5327838e-4f), V(1.3390997e-3f));
    p = simd::fmadd(p, r, V(9.618503e-3f));
    p = simd::fmadd(p, r, V(5.5503596e-2f));
    p = simd::fmadd(p, r, V(2.4022648e-1f));
    p = simd::fmadd(p, r, V(6.931472e-1f));
    p = simd::fmadd(p, r, V(1.0f));
    const VI scale_bits = (xsimd::bitwise_cast<VI>(shifted) + VI(127u)) << 23;  // the 1.5·2^23 shifts out
    return p * xsimd::bitwise_cast<V>(scale_bits);
}

/// f = 2^n·2^r (exp2_parts) where `active` (the curve's gain below 0 dB), 1 elsewhere; 2^-126 where
/// `floor` (a gain below it, as db2amp clamps; exp2_parts's value there, n < −126, is discarded);
/// f ≤ 1. `shifted` is n + 1.5·2^23.
template <class V, class M>
DD_INLINE V target_from_exponent(const V& shifted, const V& r, const M& floor, const M& active) {
    const V f = simd::pick(floor, V(0x1p-126f), xsimd::min(exp2_parts(shifted, r), V(1.0f)));  // min: f < 1 ? f : 1
    return simd::pick(active, f, V(1.0f));
}
}  // namespace curve_detail

/// f for one vector of x of a knee-free row, given amp2db's parts e and ln m (simd::detail::log_parts).
/// The branch is chosen on the rough z (min(0, z_c, z_e), ties to the compressor), then z = n + r on
/// the chosen branch (curve_detail::affine_exponent) and f = 2^n·2^r (curve_detail::exp2_parts). Gains
/// below 2^-126 give 2^-126, as db2amp does; f ≤ 1.
/// Branch = 0 or 1 takes that branch (compressor, expander) in every lane without comparing: the same
/// bits wherever no lane would choose the other branch with a rough z < 0 (a lane whose two rough z
/// are ≥ 0 has f = 1 on either), e.g. every x above the expander's knee for 0, below the compressor's
/// for 1. Branch = −1 chooses per lane.
template <int Branch = -1, class A>
DD_INLINE xsimd::batch<float, A> hard_curve_target(const xsimd::batch<float, A>& e, const xsimd::batch<float, A>& ln_m,
                                                   const hard_target_terms<xsimd::batch<float, A>>& c) {
    using V = xsimd::batch<float, A>;
    auto small = [&](int i) DD_INLINE_LAMBDA { return curve_detail::affine_small(e, ln_m, c.s_lo[i], c.b[i], c.k_lo[i]); };
    V z_rough, n, r;
    if constexpr (Branch < 0) {
        const V sc = small(0), se = small(1);
        const V zc = curve_detail::affine_rough(e, sc, c.s_hi[0], c.k[0]), ze = curve_detail::affine_rough(e, se, c.s_hi[1], c.k[1]);
        const auto comp = zc <= ze;
        z_rough = simd::pick(comp, zc, ze);
        auto branch = [&](const V (&v)[2]) DD_INLINE_LAMBDA { return simd::pick(comp, v[0], v[1]); };
        n = curve_detail::affine_exponent(e, z_rough, simd::pick(comp, sc, se), branch(c.s_hi), branch(c.k_int),
                                          branch(c.k_frac), r);
    } else {
        const V sb = small(Branch);
        z_rough = curve_detail::affine_rough(e, sb, c.s_hi[Branch], c.k[Branch]);
        n = curve_detail::affine_exponent(e, z_rough, sb, c.s_hi[Branch], c.k_int[Branch], c.k_frac[Branch], r);
    }
    return curve_detail::target_from_exponent(n, r, z_rough < V(-126.0f), z_rough < V(0.0f));
}

/// The same for a row with a knee (W > 0), given also L = amp2db(x) and the row's prepared curve:
/// the branch and its regime (knee or affine) are chosen on the float curve (compexp_gain_db's
/// choices), then z = n + r by curve_detail::knee_exponent or curve_detail::affine_exponent.
template <class A>
DD_INLINE xsimd::batch<float, A> knee_curve_target(const xsimd::batch<float, A>& e, const xsimd::batch<float, A>& ln_m,
                                                   const xsimd::batch<float, A>& level,
                                                   const prepared_curve<xsimd::batch<float, A>>& pc,
                                                   const hard_target_terms<xsimd::batch<float, A>>& c) {
    using V = xsimd::batch<float, A>;
    const V dc = level - pc.comp_thresh, de = pc.exp_thresh - level;
    const V gc = knee_gain<true>(dc, pc.comp_slope, pc.knee, pc.inv_2w).value;
    const V ge = knee_gain<true>(de, pc.exp_slope, pc.knee, pc.inv_2w).value;
    const auto comp = gc <= ge;
    const V g = simd::pick(comp, gc, ge), d = simd::pick(comp, dc, de);
    const auto in_knee = (d + d) < pc.knee;
    auto branch = [&](const V (&v)[2]) { return simd::pick(comp, v[0], v[1]); };
    V r_a, r_k;
    const V s_hi = branch(c.s_hi), small = curve_detail::affine_small(e, ln_m, branch(c.s_lo), branch(c.b), branch(c.k_lo));
    const V n_a = curve_detail::affine_exponent(e, curve_detail::affine_rough(e, small, s_hi, branch(c.k)), small, s_hi,
                                                branch(c.k_int), branch(c.k_frac), r_a);
    const V n_k = curve_detail::knee_exponent(e, ln_m, branch(c.c1_hi), branch(c.c1_lo), branch(c.c2), branch(c.c0_hi),
                                              branch(c.c0_lo), branch(c.nq_hi), branch(c.nq_lo), r_k);
    return curve_detail::target_from_exponent(simd::pick(in_knee, n_k, n_a), simd::pick(in_knee, r_k, r_a),
                                        g < V(-126.0f / 0.166096404744368117393515971474469508f), g < V(0.0f));
}

/// Partials of g_dB with respect to the level and every curve parameter.
template <class V> struct curve_partials {
    V level, comp_thresh, comp_ratio, exp_thresh, exp_ratio, knee;
};

/// g_dB(L) = min(0, compressor branch, expander branch), ties going to the compressor.
/// Knee = false: for a curve with W = 0 only (same bits, fewer operations).
template <bool Knee = true, class V> DD_INLINE V compexp_gain_db(const prepared_curve<V>& c, V level) {
    const V gc = knee_gain<Knee>(level - c.comp_thresh, c.comp_slope, c.knee, c.inv_2w).value;
    const V ge = knee_gain<Knee>(c.exp_thresh - level, c.exp_slope, c.knee, c.inv_2w).value;
    const V g = simd::pick(gc <= ge, gc, ge);
    return simd::pick(g < V(0), g, V(0));
}

/// Same value as compexp_gain_db, plus all partial derivatives (of the active branch).
template <bool Knee = true, class V>
DD_INLINE V compexp_gain_db(const prepared_curve<V>& c, V level, curve_partials<V>& p) {
    const knee_branch<V> bc = knee_gain<Knee>(level - c.comp_thresh, c.comp_slope, c.knee, c.inv_2w);
    const knee_branch<V> be = knee_gain<Knee>(c.exp_thresh - level, c.exp_slope, c.knee, c.inv_2w);
    const V zero(0);
    const auto comp = bc.value <= be.value;
    const V g = simd::pick(comp, bc.value, be.value);
    const auto active = g < zero;
    const auto comp_active = active & comp;
    const auto exp_active = active & !comp;
    p.level = simd::pick(comp_active, bc.d_distance, simd::pick(exp_active, -be.d_distance, zero));
    p.comp_thresh = simd::pick(comp_active, -bc.d_distance, zero);
    p.comp_ratio = simd::pick(comp_active, bc.d_slope * c.d_comp_slope, zero);
    p.exp_thresh = simd::pick(exp_active, be.d_distance, zero);
    p.exp_ratio = simd::pick(exp_active, be.d_slope * c.d_exp_slope, zero);
    p.knee = simd::pick(comp_active, bc.d_width, simd::pick(exp_active, be.d_width, zero));
    return simd::pick(active, g, zero);
}

/// Scalar conveniences on an unprepared row.
template <class T> inline T compexp_gain_db(const compexp_curve<T>& c, T level) {
    return compexp_gain_db(prepared_curve<T>::from(c), level);
}
template <class T> inline T compexp_gain_db(const compexp_curve<T>& c, T level, curve_partials<T>& p) {
    return compexp_gain_db(prepared_curve<T>::from(c), level, p);
}

DD_ARCH_END
