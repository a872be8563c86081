// Attack/release smoothers: the per-sample steps that define their numbers, and the per-row forward,
// adjoint (reverse mode) and tangent (forward mode) kernels built on them, shared by every batch
// function and streaming processor (through the kernel table, src/core/kernels.hpp).
// Derivations: docs/derivations/smoothers.md. Reference: docs/reference/smoother.md.
//
// The forward row kernels and the sigmoid smoother's adjoint are generic in a *target policy*: where
// the smoother's input f_t comes from. An `array_target` reads it from memory; the limiter
// (src/limiter/limiter_kernels.cpp) supplies policies that compute f_t on the fly (|x| for its peak
// detector, its gain ratio) and pull the gradient of f_t back. (compexp_gain's vectorised kernel,
// src/compexp/compexp_kernels.cpp, takes the same per-sample steps.) A target policy provides
//     T value(size_t t) const                      f_t, for the forward pass
//     sample eval(size_t t) const                  f_t (member .f) plus what the pullback needs
//     void pullback(size_t t, const sample&, T gf) receives ∂loss/∂f_t in the backward pass
// The hard smoother's adjoint (smoother_adjoint_lanes) runs in SIMD lanes on targets in memory: a
// caller that computes them on the fly writes one block at a time (the limiter, src/limiter/limiter_kernels.cpp).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/conversions_math.hpp"
#include "differential_dynamics/core.hpp"
#include "simd/simd.hpp"

DD_ARCH_BEGIN

// ------------------------------------------------------------------------------------------------
// Target policies

template <class T> struct array_target {
    const T* f;
    T* grad_f;  // nullable: gradient not wanted
    struct sample { T f; };
    T value(std::size_t t) const { return f[t]; }
    sample eval(std::size_t t) const { return {f[t]}; }
    void pullback(std::size_t t, const sample&, T gf) const {
        if (grad_f) grad_f[t] = gf;
    }
};

// ------------------------------------------------------------------------------------------------
// Hard attack/release smoother (docs/reference/smoother.md):
//     attack_t = f_t < y_{t−1} (strict);  β_t = attack_t ? at : rt;  y_t = y_{t−1} + β_t·(f_t − y_{t−1})

/// The smoother's coefficients with 1 − at, 1 − rt rounded once, for V = T or vec<T> (one row per lane).
template <class V> struct ar_coeffs {
    V at, rt, keep_at, keep_rt;  // keep_* = 1 − coefficient
    ar_coeffs() = default;
    /// keep = fl(1 − β), and β taken back as 1 − keep, which is exact: the pair adds up to 1, so a held
    /// target is the step's fixed point. (With β itself the gain at DC would be β/(1 − keep) ≠ 1, a
    /// float32 bias of up to 2^-25/β in every steady state; docs/derivations/smoothers.md §1.)
    ar_coeffs(V at_, V rt_) : keep_at(V(1) - at_), keep_rt(V(1) - rt_) {
        at = V(1) - keep_at;
        rt = V(1) - keep_rt;
    }
};

/// One step, y_t = (1 − β)·y_{t−1} + β·f_t as fma(1 − β, y_{t−1}, β·f_t): both candidates are formed
/// off the critical path and the decision only selects, so the loop-carried dependency is one fma
/// and one blend. Every kernel (batch, rows-in-lanes, streaming) takes exactly this step.
template <class V> DD_INLINE V hard_smoother_step(V f, V y_prev, const ar_coeffs<V>& c) {
    return simd::pick(f < y_prev, simd::fmadd(c.keep_at, y_prev, c.at * f), simd::fmadd(c.keep_rt, y_prev, c.rt * f));
}
template <class T> inline T hard_smoother_step(T f, T y_prev, T at, T rt) {
    return hard_smoother_step(f, y_prev, ar_coeffs<T>(at, rt));
}

// The hard smoother keeps its state in double, float32 rows too (docs/reference/numerics.md). A
// float32 state would be rounded at every step, and an error decays only by 1 − β per step: the
// roundings of ~1/β steps add up, and y stalls up to ulp(y)/(2β) short of a held target (hundreds of
// ulp at audio time constants). In double they stay far below float32's resolution. A float32 row's
// output y_t is its state rounded toward +∞ to float32: then f_t < y_{t−1} holds of the output
// exactly when it holds of the state (f is a float), so the decision the forward takes on the state
// is the one stated on the y the caller sees, and the one the backward, which reads only that y,
// takes again. The rule has no other part: no periodic rounding, nothing tied to block or chunk
// sizes, so a row processed in pieces (state in, state out) gives the bits of one call.
//
// The step itself is hard_smoother_step in double. With coefficients from the float at/rt widened,
// ar_coeffs<double> holds 1 − β and β exactly (for β ≥ 2^-29: time constants up to hours at 48 kHz),
// and β·f (24 × 24 bits) is exact: a float row's step rounds once.

/// A state as the row's output: rounded toward +∞ to float for a float row, itself for double.
template <class T> DD_INLINE T smoother_output(double y) {
    if constexpr (std::is_same_v<T, float>)
        return simd::round_up_to_float(y);
    else
        return y;
}

/// The hard smoother with one row per lane of a vec<T>: the W states in double (`parts`
/// vectors: the vec<T> itself for double rows; for float rows 8 doubles in one AVX-512 vector or two
/// AVX2 ones), the coefficients likewise. step() takes a vector of targets, returns the outputs.
template <class T> struct hard_lanes {
    using V = simd::vec<T>;
    static constexpr std::size_t W = simd::lanes<T>;
    static constexpr bool is_float = std::is_same_v<T, float>;
    using D = std::conditional_t<is_float, simd::wide<double>, V>;
    static constexpr std::size_t parts = is_float ? simd::double_parts : 1;
    struct state {
        D p[parts];
    };
    struct coeffs {
        ar_coeffs<D> p[parts];
    };
    /// Per-lane coefficients from W values each.
    static coeffs make_coeffs(const T* at, const T* rt) {
        alignas(64) double a[W], r[W];
        for (std::size_t i = 0; i < W; ++i) {
            a[i] = double(at[i]);
            r[i] = double(rt[i]);
        }
        coeffs c;
        for (std::size_t k = 0; k < parts; ++k)
            c.p[k] = ar_coeffs<D>(D::load_aligned(a + k * D::size), D::load_aligned(r + k * D::size));
        return c;
    }
    static state load(const double* s) {
        state y;
        for (std::size_t k = 0; k < parts; ++k) y.p[k] = D::load_unaligned(s + k * D::size);
        return y;
    }
    static void store(const state& y, double* s) {
        for (std::size_t k = 0; k < parts; ++k) y.p[k].store_unaligned(s + k * D::size);
    }
    /// Whether steps from the states `y` (W values) on targets that all lie in [simd::narrow_up_min, 1]
    /// keep every state in [narrow_up_min, narrow_up_max], so step<true> may be taken: a step's exact
    /// value is a convex combination of the state and the target (keep + β = 1 exactly), and rounding
    /// to the nearest double cannot leave an interval whose ends are doubles.
    static bool states_stay_normal(const double* y) {
        for (std::size_t i = 0; i < W; ++i)
            if (!(y[i] >= simd::narrow_up_min && y[i] <= simd::narrow_up_max)) return false;
        return true;
    }
    /// Normal = true: the caller knows every new state lies in [simd::narrow_up_min, simd::narrow_up_max]
    /// (narrow_up_from_normal_double's domain; see states_stay_normal), same bits.
    template <bool Normal = false> DD_INLINE static V step(const V& f, state& y, const coeffs& c) {
        if constexpr (is_float) {
            D fw[parts];
            simd::widen_to_double(f, fw);
            for (std::size_t k = 0; k < parts; ++k) y.p[k] = hard_smoother_step(fw[k], y.p[k], c.p[k]);
            return Normal ? simd::narrow_up_from_normal_double(y.p) : simd::narrow_up_from_double(y.p);
        } else {
            y.p[0] = hard_smoother_step(f, y.p[0], c.p[0]);
            return y.p[0];
        }
    }
};

/// The hard smoother over one row (hard_smoother_step on a double state), a block of samples at
/// a time, with the block's decisions guessed.
///
/// A one-row recursion is latency-bound, and hard_smoother_step's chain is an fma and a blend. When a
/// block is guessed to be all release (or all attack), its steps are the fma alone, and the decisions
/// are checked beside the chain (compares off the critical path) against the states just computed: if
/// every guess held, the block took exactly the steps hard_smoother_step would have taken, bit for
/// bit. If one failed, the block is recomputed with hard_smoother_step from its start. Program material
/// holds one mode for long stretches (a smoothed level flips at ~1 % of the samples), so most blocks
/// cost the fma chain alone; where the decisions flip within blocks (a raw peak level), blocks are
/// not guessed again until one comes out uniform, so such input costs about what the branch-free step
/// does. The guess for a block is the previous block's decisions, if they were all the same.
template <class T> class hard_smoother_guessing {
public:
    static constexpr std::size_t block = 16;
    hard_smoother_guessing(T at, T rt, double y_prev)
        : c_(double(at), double(rt)), cv_(V(double(at)), V(double(rt))), y_(y_prev) {}
    double state() const { return y_; }
    /// `block` samples: f[0 … block) → out[0 … block) (out must not alias f).
    DD_INLINE void run_block(const T* f, T* out) {
        if (guess_ != mode::mixed) {
            const bool attack = guess_ == mode::attack;
            const double keep = attack ? c_.keep_at : c_.keep_rt, beta = attack ? c_.at : c_.rt;
            double y = y_;
            unsigned wrong = 0;
#pragma GCC unroll 16
            for (std::size_t i = 0; i < block; ++i) {
                const double fi = double(f[i]);
                wrong |= unsigned(fi < y) ^ unsigned(attack);
                y = simd::fmadd(keep, y, beta * fi);  // hard_smoother_step's candidate for this mode
                out[i] = smoother_output<T>(y);
            }
            if (__builtin_expect(wrong == 0, 1)) {
                y_ = y;
                return;
            }
        }
        // Branch-free steps on a broadcast vector (a scalar select would be compiled to a branch).
        V y(y_);
        unsigned attacks = 0;
#pragma GCC unroll 16
        for (std::size_t i = 0; i < block; ++i) {
            const double fi = double(f[i]);
            attacks += unsigned(fi < y.get(0));
            y = hard_smoother_step(V(fi), y, cv_);
            out[i] = smoother_output<T>(y.get(0));
        }
        y_ = y.get(0);
        guess_ = attacks == 0 ? mode::release : attacks == block ? mode::attack : mode::mixed;
    }
    /// One sample (a row's tail).
    DD_INLINE void run_step(T f, T* out) {
        y_ = hard_smoother_step(V(double(f)), V(y_), cv_).get(0);
        *out = smoother_output<T>(y_);
    }

private:
    using V = simd::vec<double>;
    enum class mode : unsigned char { release, attack, mixed };
    ar_coeffs<double> c_;
    ar_coeffs<V> cv_;
    double y_;
    mode guess_ = mode::mixed;
};

/// One adjoint step: u_t = gy_t + (1 − β_{t+1})·u_{t+1}, as a single fma (one rounding).
template <class V> DD_INLINE V hard_smoother_adjoint_step(V grad_y, V keep_next, V u_next) {
    return simd::fmadd(keep_next, u_next, grad_y);
}

/// The hard smoother's forward over one row of n samples from the state y_prev (double, as every hard
/// smoother state): writes y (float32 rows: each state rounded toward +∞) and returns the final
/// state. Blocks of hard_smoother_guessing::block targets are gathered from the policy and stepped
/// with guessed decisions; the bits are hard_smoother_step's.
template <class T, class Target>
inline double hard_smoother_forward_row(const Target& target, std::size_t n, double y_prev, T at, T rt, T* y) {
    hard_smoother_guessing<T> smoother(at, rt, y_prev);
    constexpr std::size_t block = hard_smoother_guessing<T>::block;
    alignas(64) T f[block];
    std::size_t t = 0;
    for (; t + block <= n; t += block) {
        for (std::size_t i = 0; i < block; ++i) f[i] = target.value(t + i);
        smoother.run_block(f, y + t);
    }
    for (; t < n; ++t) smoother.run_step(target.value(t), y + t);
    return smoother.state();
}

/// Gradients of the scalar parameters of one row. Sums over time are accumulated in double so that
/// float32 rows of 10^6 samples keep float32 accuracy.
struct smoother_row_grads {
    double zi = 0, at = 0, rt = 0;
};

/// The hard smoother's adjoint (docs/derivations/smoothers.md §1: u_t = gy_t + (1 − β_{t+1})·u_{t+1};
/// ∂f_t = β_t·u_t; ∂at = Σ_attack u_t·(f_t − y_{t−1}); ∂rt = Σ_release u_t·(f_t − y_{t−1}); ∂zi = (1 − β_0)·u_0), with
/// time in the widest SIMD lanes, a block of samples at a time from the row's last block to its first.
/// Decisions are recomputed from the stored output y, so the backward holds them fixed exactly (the
/// same compare as the forward's step). Per vector of samples t … t + W − 1 the
/// decisions come from f and y_{t−1} (read from y), the recursion u_s = gy_s + (1 − β_{s+1})·u_{s+1} is
/// solved by simd::reverse_linear_scan with u_{t+W} carried in, and ∂f = β·u and the ∂at/∂rt terms
/// follow in lanes. Only the scan's last fma and a broadcast are loop-carried, instead of one fma per
/// sample (and one double add per sample for the sums). The sums are added in lanes over each block and
/// in double across blocks; blocks start at multiples of `block`, so the order depends on the sample
/// index only and a row's result does not depend on threads or on the other rows. The scan rounds
/// differently from the sequential recursion (docs/derivations/smoothers.md §1). A caller that computes its
/// targets on the fly (the limiter) writes one block of them at a time into a small buffer.
template <class T> class smoother_adjoint_lanes {
public:
    static constexpr std::size_t block = 2048;  // samples; a multiple of every lane count
    /// For a row of n samples with y_{−1} = zi; grad_final is ∂loss/∂(the final state), added to the
    /// last sample's grad_y (u_{n−1} = gy_{n−1} + grad_final).
    smoother_adjoint_lanes(std::size_t n, T zi, T at, T rt, T grad_final = T(0))
        : n_(n), zi_(zi), grad_final_(grad_final), c_(V(at), V(rt)) {}
    std::size_t blocks() const { return (n_ + block - 1) / block; }
    /// Block b (call them from the last to the first): samples k0 = b·block … min(n, k0 + block) − 1.
    /// f, grad_y and grad_f (nullable) point at the block's first sample; y is the whole row.
    void run_block(std::size_t b, const T* f, const T* y, const T* grad_y, T* grad_f) {
        const std::size_t k0 = b * block, m = std::min(n_, k0 + block) - k0;
        const V zero(T(0));
        V sum_at(zero), sum_rt(zero);
        for (std::size_t k = (m - 1) / W * W + W; k > 0;) {
            k -= W;
            const V fv = simd::load_padded<V>(f, k, m, T(0)), y_prev = simd::load_previous<V>(y, k0 + k, n_, zi_);
            V gy = simd::load_padded<V>(grad_y, k, m, T(0));
            if (k0 + k + W >= n_) gy = simd::add_to_lane(gy, n_ - 1 - (k0 + k), grad_final_);  // the row's last vector
            const auto attack = fv < y_prev;
            const V factor = simd::pick(attack, c_.keep_at, c_.keep_rt);
            const V u = simd::reverse_linear_scan(simd::shift_down<1>(factor, factor_next_), gy, carry_);
            carry_ = simd::broadcast_first(u);
            factor_next_ = factor;
            if (grad_f) {
                const V gf = simd::pick(attack, c_.at, c_.rt) * u;
                if (k + W <= m)
                    gf.store_unaligned(grad_f + k);
                else
                    for (std::size_t i = 0; k + i < m; ++i) grad_f[k + i] = gf.get(i);
            }
            const V ud = u * (fv - y_prev);  // 0 in lanes past the row's end (gy = 0 there, so u = 0)
            sum_at += simd::pick(attack, ud, zero);
            sum_rt += simd::pick(attack, zero, ud);
        }
        g_.at += double(simd::sum_lanes(sum_at));
        g_.rt += double(simd::sum_lanes(sum_rt));
    }
    /// After the first block: ∂at, ∂rt and ∂zi = (1 − β_0)·u_0.
    smoother_row_grads grads() const {
        smoother_row_grads g = g_;
        if (n_ > 0) g.zi = double(factor_next_.get(0) * carry_.get(0));
        return g;
    }

private:
    using V = simd::wide<T>;
    static constexpr std::size_t W = V::size;
    std::size_t n_;
    T zi_, grad_final_;
    ar_coeffs<V> c_;
    V carry_ = V(T(0)), factor_next_ = V(T(0));  // u_{t+W}; 1 − β of the vector to the right (lane 0 used)
    smoother_row_grads g_;
};

/// smoother_adjoint_lanes over a whole row whose targets f are in memory (array_target's adjoint).
template <class T>
inline smoother_row_grads hard_smoother_adjoint_row_lanes(const T* f, std::size_t n, T zi, T at, T rt, const T* y,
                                                          const T* grad_y, T* grad_f, T grad_final = T(0)) {
    smoother_adjoint_lanes<T> adjoint(n, zi, at, rt, grad_final);
    for (std::size_t b = adjoint.blocks(); b-- > 0;) {
        const std::size_t k0 = b * adjoint.block;
        adjoint.run_block(b, f + k0, y, grad_y + k0, grad_f ? grad_f + k0 : nullptr);
    }
    return adjoint.grads();
}

/// Tangent (forward mode), decisions fixed: dy_t = (1 − β_t)·dy_{t−1} + β_t·df_t + dβ_t·(f_t − y_{t−1}),
/// dy_{−1} = dzi, dβ_t = attack_t ? dat : drt. df may be null (zero tangent).
template <class T>
inline void hard_smoother_jvp_row(const T* f, const T* df, std::size_t n, T zi, T at, T rt, const T* y, T dzi,
                                  T dat, T drt, T* dy) {
    T dy_prev = dzi;
    for (std::size_t t = 0; t < n; ++t) {
        const T y_prev = t ? y[t - 1] : zi;
        const bool attack = f[t] < y_prev;
        const T beta = attack ? at : rt;
        const T dbeta = attack ? dat : drt;
        const T dft = df ? df[t] : T(0);
        dy_prev = (T(1) - beta) * dy_prev + beta * dft + dbeta * (f[t] - y_prev);
        dy[t] = dy_prev;
    }
}

/// Second order (the gradient of the gradient), decisions fixed. The backward maps grad_y to
/// g = (∂f, ∂zi, ∂at, ∂rt) = Jᵀ·grad_y; for cotangents v on g, ℓ₂ = ⟨v, Jᵀ·gy⟩ = Σ_t gy_t·ẏ_t with ẏ the
/// JVP along v. Hence ∂ℓ₂/∂gy = ẏ (written to dgy) and ∂ℓ₂/∂(f, zi, at, rt) is the adjoint of the
/// tangent recursion ẏ_t = (1 − β_t)ẏ_{t−1} + β_t·v_f,t + v_β,t·(f_t − y_{t−1}) with seed gy: its own adjoint
/// w is the first-order u; the explicit partials are ∂/∂β_t = w_t(v_f,t − ẏ_{t−1}), ∂/∂f_t = v_β,t·w_t and
/// ∂/∂y_{t−1} = −v_β,t·w_t, the last carried to (f, zi, β) by one more first-order adjoint pass p.
/// `work` holds 2n values. Returns the per-row parameter parts; writes dgy and df (nullable).
template <class T>
inline smoother_row_grads hard_smoother_second_order_row(const T* f, const T* v_f, std::size_t n, T zi, T at, T rt,
                                                         const T* y, const T* grad_y, T v_zi, T v_at, T v_rt,
                                                         T* dgy, T* df, T* work) {
    T* ydot = work;  // ẏ
    T* w = work + n; // w (= u of the first-order adjoint)
    hard_smoother_jvp_row(f, v_f, n, zi, at, rt, y, v_zi, v_at, v_rt, ydot);
    if (dgy)
        for (std::size_t t = 0; t < n; ++t) dgy[t] = ydot[t];
    const ar_coeffs<T> c(at, rt);
    T u_next = T(0), keep_next = T(0);
    for (std::size_t i = n; i-- > 0;) {
        const T y_prev = i ? y[i - 1] : zi;
        const bool attack = f[i] < y_prev;
        w[i] = u_next = hard_smoother_adjoint_step(grad_y[i], keep_next, u_next);
        keep_next = attack ? c.keep_at : c.keep_rt;
    }
    // One reverse pass: p_t = s_t + (1 − β_{t+1})·p_{t+1}, with s_t = −v_β,t+1·w_{t+1} the seed on y_t.
    smoother_row_grads g;
    T p_next = T(0), seed = T(0);  // seed on y_t, from step t + 1
    keep_next = T(0);
    for (std::size_t i = n; i-- > 0;) {
        const T y_prev = i ? y[i - 1] : zi;
        const bool attack = f[i] < y_prev;
        const T beta = attack ? c.at : c.rt, v_beta = attack ? v_at : v_rt;
        const T p = hard_smoother_adjoint_step(seed, keep_next, p_next);
        const T ydot_prev = i ? ydot[i - 1] : v_zi;
        const T vf = v_f ? v_f[i] : T(0);
        const double g_beta = double(w[i]) * double(vf - ydot_prev) + double(p) * double(f[i] - y_prev);
        (attack ? g.at : g.rt) += g_beta;
        if (df) df[i] = v_beta * w[i] + beta * p;
        p_next = p;
        keep_next = attack ? c.keep_at : c.keep_rt;
        seed = -v_beta * w[i];  // on y_{i−1}
    }
    g.zi = double(keep_next * p_next) + double(seed);  // through y_0's recursion and d_0 = f_0 − zi
    return g;
}

// ------------------------------------------------------------------------------------------------
// Sigmoid-gated smoother (docs/reference/smoother.md):
//     Δ_t = sdb(g_t) − sdb(y_{t−1});  s_t = σ(k·Δ_t);  α_t = α_a + s_t·(α_r − α_a);
//     y_t = y_{t−1} + α_t·(g_t − y_{t−1})            (sdb = safe dB, floor 1e-7)

// The per-sample math, for V = T or a SIMD batch (simd.hpp functions: the same bits in every kernel).
template <class V> DD_INLINE V safe_db(V a) {
    const V floor(safe_amp_floor<typename simd::scalar_of<V>::type>);
    return simd::amp2db(simd::pick(a < floor, floor, a));
}
/// d sdb(a)/da: 0 where the floor is active.
template <class V> DD_INLINE V safe_db_slope(V a) {
    using T = typename simd::scalar_of<V>::type;
    return simd::pick(a < V(safe_amp_floor<T>), V(T(0)), V(db_per_neper<T>) / a);
}
template <class V> DD_INLINE V logistic(V z) { return V(1) / (V(1) + simd::exponential(-z)); }

template <class V> struct sigmoid_coeffs {
    V alpha_a, alpha_r, k;
};

/// One step. `ly` is sdb(y_{t−1}) on entry and sdb(y_t) on return (each log is taken once);
/// `lg` is sdb(g_t), which does not depend on the state and is precomputed by the vector kernels.
template <class V> DD_INLINE V sigmoid_smoother_step(V g, V lg, V y_prev, V& ly, const sigmoid_coeffs<V>& c) {
    const V s = logistic(c.k * (lg - ly));
    const V alpha = simd::fmadd(s, c.alpha_r - c.alpha_a, c.alpha_a);
    const V y = simd::fmadd(alpha, g - y_prev, y_prev);
    ly = safe_db(y);
    return y;
}

/// The local derivatives of one step (adjoint below and the vector kernel).
template <class V> struct sigmoid_local {
    V d_y_prev, d_g, d_alpha_a, d_alpha_r, d_k;
};
/// The partials from the gate's Δ_t and s_t = σ(k·Δ_t), computed apart (the vector backward does that in
/// a throughput-bound phase of its own); the same operations as sigmoid_step_partials.
template <class V>
DD_INLINE sigmoid_local<V> sigmoid_step_partials_given_gate(V g, V y_prev, V delta, V s, const sigmoid_coeffs<V>& c) {
    const V one(1);
    const V alpha = simd::fmadd(s, c.alpha_r - c.alpha_a, c.alpha_a);
    const V e = g - y_prev;
    const V q = (c.alpha_r - c.alpha_a) * s * (one - s) * e;
    return {one - alpha - q * c.k * safe_db_slope(y_prev), alpha + q * c.k * safe_db_slope(g), (one - s) * e, s * e,
            q * delta};
}
template <class V> DD_INLINE sigmoid_local<V> sigmoid_step_partials(V g, V lg, V y_prev, V ly_prev, const sigmoid_coeffs<V>& c) {
    const V delta = lg - ly_prev;
    return sigmoid_step_partials_given_gate(g, y_prev, delta, logistic(c.k * delta), c);
}

template <class T, class Target>
inline T sigmoid_smoother_forward_row(const Target& target, std::size_t n, T y_prev, T alpha_a, T alpha_r, T k,
                                      T* y) {
    const sigmoid_coeffs<T> c{alpha_a, alpha_r, k};
    T ly = safe_db(y_prev);
    for (std::size_t t = 0; t < n; ++t) {
        const T g = target.value(t);
        y_prev = sigmoid_smoother_step(g, safe_db(g), y_prev, ly, c);
        y[t] = y_prev;
    }
    return y_prev;
}

struct sigmoid_row_grads {
    double zi = 0, alpha_a = 0, alpha_r = 0, k = 0;
};

/// Adjoint: λ_t = gy_t + λ_{t+1}·∂y_{t+1}/∂y_t, with e = g − y_{t−1}, q = (α_r − α_a)·s(1 − s)·e:
///   ∂y_t/∂g_t     = α_t + q·k·sdb'(g_t)
///   ∂y_t/∂y_{t−1} = 1 − α_t − q·k·sdb'(y_{t−1})
///   ∂y_t/∂α_a = (1 − s)·e,  ∂y_t/∂α_r = s·e,  ∂y_t/∂k = q·Δ_t
template <class T, class Target>
inline sigmoid_row_grads sigmoid_smoother_adjoint_row(Target& target, std::size_t n, T zi, T alpha_a,
                                                      T alpha_r, T k, const T* y, const T* grad_y,
                                                      T grad_final = T(0)) {
    sigmoid_row_grads g;
    const sigmoid_coeffs<T> c{alpha_a, alpha_r, k};
    T lambda_next = T(0), d_next = T(0);  // λ_{t+1}, ∂y_{t+1}/∂y_t
    for (std::size_t i = n; i-- > 0;) {
        const T y_prev = i ? y[i - 1] : zi;
        const auto smp = target.eval(i);
        const sigmoid_local<T> d = sigmoid_step_partials(smp.f, safe_db(smp.f), y_prev, safe_db(y_prev), c);
        const T gy = i + 1 == n ? grad_y[i] + grad_final : grad_y[i];
        const T lambda = hard_smoother_adjoint_step(gy, d_next, lambda_next);
        target.pullback(i, smp, lambda * d.d_g);
        g.alpha_a += double(lambda) * double(d.d_alpha_a);
        g.alpha_r += double(lambda) * double(d.d_alpha_r);
        g.k += double(lambda) * double(d.d_k);
        lambda_next = lambda;
        d_next = d.d_y_prev;
    }
    g.zi = d_next * lambda_next;
    return g;
}

// ------------------------------------------------------------------------------------------------
// Sigmoid gate: forward mode and second order (docs/derivations/sigmoid_second_order.md), in double.

/// sdb and its first two derivatives (0 under the floor, where sdb is constant).
struct safe_db_point {
    double value, d1, d2;
};
inline safe_db_point safe_db_derivatives(double v) {
    const double floor = safe_amp_floor<double>;
    if (v < floor) return {amp2db_raw(floor), 0.0, 0.0};
    return {amp2db_raw(v), db_per_neper<double> / v, -db_per_neper<double> / (v * v)};
}

/// One step's local quantities: the partials F_· of y_t = F(y_{t−1}, g_t, α_a, α_r, k) and, for a
/// direction ż = (ẏ_{t−1}, ġ_t, α̇_a, α̇_r, k̇), the tangent ẏ_t = F_z·ż and the directional derivatives
/// H_· = (∂²F/∂z∂·)·ż of the partials (the Hessian of the step times ż).
struct sigmoid_second_point {
    double F_y, F_g, F_aa, F_ar, F_k;  // partials
    double y_dot;                      // F_z·ż
    double H_y, H_g, H_aa, H_ar, H_k;  // (∇²F)·ż
};
/// With Δ = sdb(g) − sdb(y_p), s = σ(kΔ), σ' = s(1 − s), σ'' = σ'(1 − 2s), D = α_r − α_a, α = α_a + s·D,
/// e = g − y_p, q = D·σ'·e:  F_y = 1 − α − q·k·sdb'(y_p), F_g = α + q·k·sdb'(g), F_aa = (1 − s)·e,
/// F_ar = s·e, F_k = q·Δ; their derivatives along ż follow from Δ̇ = sdb'(g)ġ − sdb'(y_p)ẏ_p,
/// ż_σ = k̇Δ + kΔ̇, ṡ = σ'ż_σ, σ̇' = σ''ż_σ, Ḋ = α̇_r − α̇_a, α̇ = α̇_a + ṡD + sḊ, ė = ġ − ẏ_p, q̇ = Ḋσ'e + Dσ̇'e + Dσ'ė.
inline sigmoid_second_point sigmoid_second_partials(double g, double y_prev, double alpha_a, double alpha_r, double k,
                                                    double yp_dot, double g_dot, double aa_dot, double ar_dot,
                                                    double k_dot) {
    const safe_db_point lg = safe_db_derivatives(g), ly = safe_db_derivatives(y_prev);
    const double delta = lg.value - ly.value;
    const double s = 1.0 / (1.0 + std::exp(-k * delta));
    const double s1 = s * (1.0 - s), s2 = s1 * (1.0 - 2.0 * s);
    const double D = alpha_r - alpha_a, alpha = alpha_a + s * D, e = g - y_prev, q = D * s1 * e;
    sigmoid_second_point r;
    r.F_y = 1.0 - alpha - q * k * ly.d1;
    r.F_g = alpha + q * k * lg.d1;
    r.F_aa = (1.0 - s) * e;
    r.F_ar = s * e;
    r.F_k = q * delta;
    r.y_dot = r.F_y * yp_dot + r.F_g * g_dot + r.F_aa * aa_dot + r.F_ar * ar_dot + r.F_k * k_dot;
    const double delta_dot = lg.d1 * g_dot - ly.d1 * yp_dot;
    const double z_dot = k_dot * delta + k * delta_dot;
    const double s_dot = s1 * z_dot, s1_dot = s2 * z_dot;
    const double D_dot = ar_dot - aa_dot;
    const double alpha_dot = aa_dot + s_dot * D + s * D_dot;
    const double e_dot = g_dot - yp_dot;
    const double q_dot = D_dot * s1 * e + D * s1_dot * e + D * s1 * e_dot;
    r.H_y = -alpha_dot - (q_dot * k * ly.d1 + q * k_dot * ly.d1 + q * k * ly.d2 * yp_dot);
    r.H_g = alpha_dot + q_dot * k * lg.d1 + q * k_dot * lg.d1 + q * k * lg.d2 * g_dot;
    r.H_aa = -s_dot * e + (1.0 - s) * e_dot;
    r.H_ar = s_dot * e + s * e_dot;
    r.H_k = q_dot * delta + q * delta_dot;
    return r;
}

/// Tangent (forward mode): ẏ_t = F_y·ẏ_{t−1} + F_g·ġ_t + F_aa·α̇_a + F_ar·α̇_r + F_k·k̇, ẏ_{−1} = żi.
/// `tangent_target(t)` gives ġ_t; returns ẏ_{n−1} (żi for n = 0).
template <class T, class TangentTarget>
inline double sigmoid_smoother_jvp_row(const T* g, const TangentTarget& tangent_target, std::size_t n, T zi,
                                       T alpha_a, T alpha_r, T k, const T* y, double dzi, double daa, double dar,
                                       double dk, T* dy) {
    double yd = dzi;
    for (std::size_t t = 0; t < n; ++t) {
        const double yp = double(t ? y[t - 1] : zi);
        yd = sigmoid_second_partials(double(g[t]), yp, double(alpha_a), double(alpha_r), double(k), yd,
                                     tangent_target(t), daa, dar, dk)
                 .y_dot;
        if (dy) dy[t] = T(yd);
    }
    return yd;
}

/// Second order: the backward maps ḡ = (gy, grad_final) to Jᵀḡ (∂g, ∂zi, ∂α_a, ∂α_r, ∂k). For
/// cotangents v of those, ℓ₂ = ⟨v, Jᵀḡ⟩ = Σ_t gy_t·ẏ_t + grad_final·ẏ_{n−1} with ẏ the tangent along v,
/// so ∂ℓ₂/∂gy = ẏ (dgy) and ∂ℓ₂/∂grad_final = ẏ_{n−1} (returned in .final); for the primal inputs
/// the adjoint of the pair (y, ẏ): w (of ẏ) is the first-order adjoint, p (of y) runs
/// p_t = w_{t+1}·H_y(t+1) + F_y(t+1)·p_{t+1} from p_{n−1} = 0, and
///   ∂g_t = w_t·H_g(t) + p_t·F_g(t),  ∂θ = Σ_t w_t·H_θ(t) + p_t·F_θ(t),  ∂zi = w_0·H_y(0) + F_y(0)·p_0.
/// `tangent_target(t)` gives v_g,t; `pull(t, ∂g_t)`; `work` holds n doubles.
struct sigmoid_second_sums {
    double zi = 0, alpha_a = 0, alpha_r = 0, k = 0, final_tangent = 0;
};
template <class T, class TangentTarget, class Pull>
inline sigmoid_second_sums sigmoid_smoother_second_order_row(const T* g, const TangentTarget& tangent_target,
                                                             Pull&& pull, std::size_t n, T zi, T alpha_a, T alpha_r,
                                                             T k, const T* y, const T* grad_y, double grad_final,
                                                             double v_zi, double v_aa, double v_ar, double v_k,
                                                             T* dgy, double* work) {
    sigmoid_second_sums r;
    // Pass 1: ẏ along v.
    double yd = v_zi;
    for (std::size_t t = 0; t < n; ++t) {
        const double yp = double(t ? y[t - 1] : zi);
        yd = sigmoid_second_partials(double(g[t]), yp, double(alpha_a), double(alpha_r), double(k), yd,
                                     tangent_target(t), v_aa, v_ar, v_k)
                 .y_dot;
        work[t] = yd;
        if (dgy) dgy[t] = T(yd);
    }
    r.final_tangent = n ? work[n - 1] : v_zi;
    // Pass 2, backwards: w (first order) and p.
    double w_next = 0, p_next = 0, Fy_next = 0, Hy_next = 0;  // of step t + 1
    for (std::size_t t = n; t-- > 0;) {
        const double yp = double(t ? y[t - 1] : zi);
        const double yp_dot = t ? work[t - 1] : v_zi;
        const sigmoid_second_point d = sigmoid_second_partials(double(g[t]), yp, double(alpha_a), double(alpha_r),
                                                               double(k), yp_dot, tangent_target(t), v_aa, v_ar, v_k);
        const double gy = double(grad_y[t]) + (t + 1 == n ? grad_final : 0.0);
        const double w = gy + Fy_next * w_next;
        const double p = w_next * Hy_next + Fy_next * p_next;
        pull(t, w * d.H_g + p * d.F_g);
        r.alpha_a += w * d.H_aa + p * d.F_aa;
        r.alpha_r += w * d.H_ar + p * d.F_ar;
        r.k += w * d.H_k + p * d.F_k;
        w_next = w;
        p_next = p;
        Fy_next = d.F_y;
        Hy_next = d.H_y;
    }
    r.zi = n ? w_next * Hy_next + Fy_next * p_next : 0.0;
    return r;
}

// ------------------------------------------------------------------------------------------------
// Time-varying first-order linear recurrence, y_t = a_t·y_{t−1} + x_t (or backwards in time with
// y_t = a_t·y_{t+1} + x_t). Its adjoint is the same recurrence run the other way, which is how the
// Python package differentiates the smoother's adjoint a second time (gradgrad) without unrolling.

template <class T>
inline T linear_recurrence_row(const T* x, const T* a, std::size_t n, T y0, bool reverse, T* y) {
    if (!reverse) {
        for (std::size_t t = 0; t < n; ++t) y[t] = y0 = a[t] * y0 + x[t];
    } else {
        for (std::size_t i = n; i-- > 0;) y[i] = y0 = a[i] * y0 + x[i];
    }
    return y0;
}

DD_ARCH_END
