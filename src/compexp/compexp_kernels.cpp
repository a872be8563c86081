// compexp_gain and compexp_gain_mode: the vectorised kernels, forward and backward, hard and sigmoid
// gate, for one instruction set (compiled once per kernel object library).
//
// Forward: rows in groups (one row per SIMD lane in the recursion, up to two vectors of rows whose
// recursions are stepped side by side), time in chunks that stay in cache, each chunk in two phases:
//   P1  per row, time in the widest SIMD lanes: L = amp2db(x), f = db2amp(g_dB(L))  (the expensive part;
//       skipped, f = 1, for vectors inside the curve's unity band: row_curve)
//   P2  rows in SIMD lanes (a broadcast vector for a one-row group): the serial recursion over time,
//       hard_smoother_step / sigmoid_smoother_step, with in-register transposes in and out; the
//       next chunk's x is prefetched meanwhile.
// A one-row group interleaves the next chunk's P1 with P2 (compexp_forward_single).
// Backward: one pass per row from the last sample to the first, time in the widest lanes
// (compexp_backward_row): the curve is recomputed, the adjoint recursion is a linear recurrence
// solved by an in-register scan per vector (simd::reverse_linear_scan), and the gradient chain and
// parameter sums follow in the same loop: no scratch signals, no transposes.
// The per-sample math is the shared steps of smoother_math.hpp / curve_math.hpp / simd.hpp, so y has
// the same bits in every path (one row, rows in lanes, any group, any block split with the state
// carried over: the chunks only bound the work memory, they round nothing). The order of every sum
// depends on the sample index only (chunks start at multiples of `chunk`, lane = t mod wide_lanes),
// so results do not depend on how rows are grouped or on the number of threads.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <type_traits>

#include "core/kernel_fill.hpp"
#include "curve/curve_math.hpp"
#include "smoother/smoother_math.hpp"

DD_ARCH_BEGIN
namespace kernel_impl {

namespace {

/// Rows given by pointers (a batch's rows or a streaming processor's channels), `cols` samples each.
template <class P> struct rows_of {
    P* const* ptrs;
    std::size_t rows, cols;
    P* row(std::size_t b) const { return ptrs[b]; }
};

constexpr std::size_t chunk = 2048;  // samples per row per chunk (a multiple of every lane count)

struct row_group {
    std::size_t first, count;
};


template <class T> struct ln10_over_20 {
    static constexpr T value = ln10<T> / T(20);
};


/// Whether every level seen by add() is valid: finite and > 0. float: its bits lie between those of
/// the smallest subnormal and of the largest float (simd::float_bits_check: one subtraction and one
/// unsigned max per vector); double (no unsigned 64-bit max on AVX2): two comparisons (NaN fails both).
template <class V> class level_check {
    using T = typename simd::scalar_of<V>::type;
    static constexpr bool by_bits = std::is_same_v<T, float>;
    std::conditional_t<by_bits, simd::float_bits_check<typename V::arch_type, 1u, 0x7f7fffffu>,
                       typename V::batch_bool_type>
        state_;

public:
    level_check() {
        if constexpr (!by_bits) state_ = V(T(1)) == V(T(1));
    }
    DD_INLINE void add(const V& x) {
        if constexpr (by_bits)
            state_.add(x);
        else
            state_ = state_ & (x > V(T(0))) & (x <= V(std::numeric_limits<T>::max()));
    }
    bool all() const {
        if constexpr (by_bits)
            return state_.all_inside();
        else
            return xsimd::all(state_);
    }
};

/// Vectors per iteration in the elementwise loops: independent log → curve → exp chains side by
/// side, which the scheduler interleaves (one chain alone leaves the core waiting on latencies).
constexpr std::size_t unroll = 4;

/// A row's curve for the wide phases: the prepared curve, the knee-free specialisation chosen once
/// per row, and the curve's unity band in amplitude.
///
/// Unity band: levels strictly between the expander's and the compressor's knees have g_dB = 0, so
/// f = db2amp(0) = 1 exactly and every partial of the curve is 0. x inside (unity_lo, unity_hi),
/// bounds pulled inwards by a relative margin of 1e-3 (0.0087 dB, far above amp2db's error), is
/// certainly there: a vector whose lanes all are skips amp2db, the curve and db2amp (forward) and the
/// curve's pullback (backward), with the same bits as the full computation. Audio spends much of
/// its time there; nothing is skipped for a vector with one lane outside.
template <class T> struct row_curve {
    using V = simd::wide<T>;
    prepared_curve<V> curve;
    bool knee;
    V unity_lo, unity_hi;
    /// float rows: the targets from x's parts (hard_curve_target, knee_curve_target), where the
    /// curve's constants allow it (hard_target_terms::exact_for); else the dB path.
    std::conditional_t<std::is_same_v<T, float>, hard_target_terms<V>, char> hard_terms{};
    bool exact_targets = false;
    row_curve() = default;
    explicit row_curve(const compexp_curve<T>& c) : curve(prepared_curve<V>::from(c)), knee(c.knee != T(0)) {
        if constexpr (std::is_same_v<T, float>) {
            hard_terms = hard_target_terms<V>::from(c);
            exact_targets = hard_target_terms<V>::exact_for(c);
        }
        constexpr double margin = 1e-3;
        const double half_knee = 0.5 * double(c.knee);
        // Above the expander's knee (everywhere when ER = 1: that branch is then 0), and x normal
        // (amp2db's domain, so the full computation is defined wherever this one skips it).
        const double lo = c.exp_ratio == T(1) ? 0.0 : std::pow(10.0, (double(c.exp_thresh) + half_knee) / 20.0) * (1 + margin);
        const double hi = std::pow(10.0, (double(c.comp_thresh) - half_knee) / 20.0) * (1 - margin);
        unity_lo = V(static_cast<T>(std::max(lo, double(std::numeric_limits<T>::min()))));
        unity_hi = V(hi < double(std::numeric_limits<T>::max()) ? static_cast<T>(hi) : std::numeric_limits<T>::max());
    }
    /// Lanes certainly above the expander's knee (x > 0, possibly +∞) / certainly below the compressor's.
    DD_INLINE auto above_expander(const V& x) const { return x > unity_lo; }
    DD_INLINE auto below_compressor(const V& x) const { return x < unity_hi; }
    /// Lanes certainly in the unity band (then also finite and > 0).
    DD_INLINE auto in_unity_band(const V& x) const { return above_expander(x) & below_compressor(x); }
    DD_INLINE bool in_unity_band(T x) const { return x > unity_lo.get(0) && x < unity_hi.get(0); }
    /// f for n samples of x; false if some x is not finite and > 0.
    bool targets(const T* x, std::size_t n, T* f_out) const;
};

/// f (and L, if level_out is not null) for Count vectors of samples from x + k, the Count chains
/// side by side for the scheduler; returns the lanes whose x were finite and > 0. Count > 1: whole
/// vectors only; Count = 1 pads past n with x = 1 (→ L = 0, f = 1). When all Count vectors lie in
/// the unity band, f = 1 is stored and L is not (nothing reads it there).
template <bool Knee, std::size_t Count, class T>
DD_INLINE void curve_vectors(const row_curve<T>& rc, const T* x, std::size_t k, std::size_t n, T* f_out,
                             T* level_out, level_check<simd::wide<T>>& ok) {
    using V = simd::wide<T>;
    constexpr std::size_t WW = V::size;
    const prepared_curve<V>& curve = rc.curve;
    V xv[Count], lv[Count], fv[Count];
#pragma GCC unroll 8
    for (std::size_t u = 0; u < Count; ++u)
        xv[u] = Count > 1 ? V::load_unaligned(x + k + u * WW) : simd::load_padded<V>(x, k + u * WW, n, T(1));
    auto above_expander = rc.above_expander(xv[0]), below_compressor = rc.below_compressor(xv[0]);
#pragma GCC unroll 8
    for (std::size_t u = 1; u < Count; ++u) {
        above_expander = above_expander & rc.above_expander(xv[u]);
        below_compressor = below_compressor & rc.below_compressor(xv[u]);
    }
    if (xsimd::all(above_expander & below_compressor)) {  // all in the unity band
#pragma GCC unroll 8
        for (std::size_t u = 0; u < Count; ++u) V(T(1)).store_unaligned(f_out + k + u * WW);
        return;
    }
    bool exact_targets = false;
    if constexpr (std::is_same_v<T, float>) exact_targets = rc.exact_targets;
    if (exact_targets) {
        // float32: the exponent from x's parts (hard_curve_target, knee_curve_target); L only where
        // it is needed.
        V ev[Count], mv[Count];
#pragma GCC unroll 8
        for (std::size_t u = 0; u < Count; ++u) simd::detail::log_parts(xv[u], ev[u], mv[u]);
        if (Knee || level_out)
#pragma GCC unroll 8
            for (std::size_t u = 0; u < Count; ++u) lv[u] = simd::level_from_parts(ev[u], mv[u]);
        if constexpr (std::is_same_v<T, float>) {
            if constexpr (Knee) {
#pragma GCC unroll 8
                for (std::size_t u = 0; u < Count; ++u) fv[u] = knee_curve_target(ev[u], mv[u], lv[u], curve, rc.hard_terms);
            } else {
                // Audio stays on one side of the unity band for long stretches: above the expander's
                // knee no lane needs the expander's branch (its rough z ≥ 0 there), below the
                // compressor's none needs the compressor's, and one branch serves every lane.
                auto targets = [&](auto branch) DD_INLINE_LAMBDA {
#pragma GCC unroll 8
                    for (std::size_t u = 0; u < Count; ++u)
                        fv[u] = hard_curve_target<decltype(branch)::value>(ev[u], mv[u], rc.hard_terms);
                };
                if (xsimd::all(above_expander))
                    targets(std::integral_constant<int, 0>{});
                else if (xsimd::all(below_compressor))
                    targets(std::integral_constant<int, 1>{});
                else
                    targets(std::integral_constant<int, -1>{});
            }
        }
    } else {
#pragma GCC unroll 8
        for (std::size_t u = 0; u < Count; ++u) lv[u] = simd::amp2db(xv[u]);
#pragma GCC unroll 8
        for (std::size_t u = 0; u < Count; ++u) fv[u] = simd::db2amp(compexp_gain_db<Knee>(curve, lv[u]));
    }
#pragma GCC unroll 8
    for (std::size_t u = 0; u < Count; ++u) {
        ok.add(xv[u]);
        if (level_out) lv[u].store_unaligned(level_out + k + u * WW);
        fv[u].store_unaligned(f_out + k + u * WW);
    }
}

/// P1 for one row: f for n samples with time in the widest lanes, padded up to a multiple of the
/// lane count with neutral values (x = 1 → L = 0, f = 1).
template <bool Knee, class T> bool curve_phase(const row_curve<T>& curve, const T* x, std::size_t n, T* f_out) {
    constexpr std::size_t WW = simd::wide_lanes<T>;
    level_check<simd::wide<T>> ok;
    std::size_t k = 0;
    for (; k + unroll * WW <= n; k += unroll * WW) curve_vectors<Knee, unroll>(curve, x, k, n, f_out, static_cast<T*>(nullptr), ok);
    for (; k < n; k += WW) curve_vectors<Knee, 1>(curve, x, k, n, f_out, static_cast<T*>(nullptr), ok);
    return ok.all();
}

template <class T> bool row_curve<T>::targets(const T* x, std::size_t n, T* f_out) const {
    return knee ? curve_phase<true>(*this, x, n, f_out) : curve_phase<false>(*this, x, n, f_out);
}

template <class T> struct group_lanes {
    static constexpr std::size_t W = simd::lanes<T>;
    T at[W], rt[W], k[W];
    /// Lane r carries row first + r; lanes past the group repeat its first row (results discarded).
    group_lanes(const row_param<T>& a, const row_param<T>& r, const row_param<T>& kk, const row_group& g) {
        for (std::size_t i = 0; i < W; ++i) {
            const std::size_t row = g.first + (i < g.count ? i : 0);
            at[i] = a[row];
            rt[i] = r[row];
            k[i] = kk[row];
        }
    }
};

/// The sigmoid gate's one-row stretches (compexp_forward_single_stretches) need at least this many
/// chunks per stretch: shorter, and the re-runs until the stretches merge outweigh the lanes' gain.
constexpr std::size_t sigmoid_stretch_min_chunks = 4;
/// Their re-runs (passes 2 and 3) step this many samples at a time at most; between pieces, a re-run
/// resting at a gain of ~1 may jump over the curve's unity band.
constexpr std::size_t rerun_piece_length = 512;

/// A rows-in-lanes group holds up to this many vectors of rows ("chains"): their recursions are
/// independent latency-bound chains, which one loop steps side by side, so a second chain costs
/// little more than the first.
constexpr std::size_t max_chains = 2;

/// The rows of chain c of group g.
template <class T> row_group chain_rows(const row_group& g, std::size_t c) {
    constexpr std::size_t W = simd::lanes<T>;
    return {g.first + c * W, std::min(W, g.count - c * W)};
}

/// The most rows one group (one call of the forward kernel) holds: max_chains vectors of lanes.
template <class T> constexpr std::size_t group_rows = max_chains * simd::lanes<T>;

/// What a group's phases need besides the signals: each row's curve, and both gates' coefficients
/// with one row per lane, per chain. (Large: the forward builds it in its work memory.)
template <class T> struct group_context {
    using V = simd::vec<T>;
    row_curve<T> curves[group_rows<T>];
    std::size_t chains;
    typename hard_lanes<T>::coeffs hard[max_chains];  // the hard gate's, in double (hard_lanes)
    sigmoid_coeffs<V> sigmoid[max_chains];
    T first_at, first_rt;  // the first row's at and rt, for the one-row path
    group_context(const compexp_params<T>& params, row_param<T> at, row_param<T> rt, row_param<T> k,
                  const row_group& g)
        : chains((g.count + simd::lanes<T> - 1) / simd::lanes<T>), first_at(at[g.first]), first_rt(rt[g.first]) {
        for (std::size_t r = 0; r < g.count; ++r) curves[r] = row_curve<T>(params.row(g.first + r));
        for (std::size_t c = 0; c < chains; ++c) {
            const group_lanes<T> lanes(at, rt, k, chain_rows<T>(g, c));
            const V at_l = V::load_unaligned(lanes.at), rt_l = V::load_unaligned(lanes.rt);
            hard[c] = hard_lanes<T>::make_coeffs(lanes.at, lanes.rt);
            sigmoid[c] = {at_l, rt_l, V::load_unaligned(lanes.k)};
        }
    }
};

/// sdb of a vector of targets: 0 without the log when every lane is 1 (the curve's unity band, where
/// audio spends much of its time; amp2db(1) is exactly 0).
template <class V> DD_INLINE V target_db(const V& f) {
    using T = typename simd::scalar_of<V>::type;
    return xsimd::all(f == V(T(1))) ? V(T(0)) : safe_db(f);
}

/// sdb of n values (padded to whole wide vectors), for the sigmoid gate.
template <class T> void safe_db_phase(const T* in, std::size_t n, T* out) {
    using V = simd::wide<T>;
    for (std::size_t k = 0; k < n; k += V::size) target_db(V::load_unaligned(in + k)).store_unaligned(out + k);
}

/// Row pointers for the W lanes of a group: lane i < count → buffer + i·stride, padding lanes → `pad`.
template <class T, class P> void lane_rows(P* base, P* pad, std::size_t count, P** out, std::size_t stride = chunk) {
    for (std::size_t i = 0; i < simd::lanes<T>; ++i) out[i] = i < count ? base + i * stride : pad;
}
/// Read-only lanes: padding lanes repeat the first row.
template <class T> void lane_rows(const T* base, std::size_t count, const T** out, std::size_t stride = chunk) {
    lane_rows<T>(base, base, count, out, stride);
}

/// The row stride of a group's f buffer: one cache line more than a chunk, so that the same sample of
/// consecutive rows falls in different L1 sets (a stride of a multiple of 4 KiB puts every row's line
/// in one set, and the recursion reads a line of up to 16 rows at once).
template <class T> constexpr std::size_t f_row_stride = chunk + 64 / sizeof(T);

/// The gate's recursion state for the rows in lanes: the sigmoid gate's y and sdb(y); the hard gate's
/// y in double, one per lane (hard_lanes).
template <class T> struct gate_state {
    simd::vec<T> y, ly;
    double h[simd::lanes<T>];
    /// Lane i at y[i] (hard and sigmoid: the sigmoid gate's state is a T).
    static gate_state lanes(const double* y) {
        gate_state s;
        alignas(64) T yt[simd::lanes<T>];
        for (std::size_t i = 0; i < simd::lanes<T>; ++i) {
            s.h[i] = y[i];
            yt[i] = T(y[i]);
        }
        s.y = simd::vec<T>::load_aligned(yt);
        s.ly = safe_db(s.y);
        return s;
    }
    /// The state of lane i, as a row's final state.
    double lane(std::size_t i, bool sigmoid) const { return sigmoid ? double(y.get(i)) : h[i]; }
};



/// The forward of a one-row group over `cols` samples from the state y_state (y_{−1}), which is left
/// at the state after the last sample. The recursion is a latency-bound chain: the hard gate's runs a
/// block of guessed decisions at a time (hard_smoother_guessing), the sigmoid gate's steps on a
/// broadcast sample. The next chunk's P1 (throughput-bound) is interleaved with it, one wide vector of
/// targets every WW steps, so the core does both at once. Every step and target is the one the rows in
/// lanes take, so a row's bits do not depend on its group. The state is a double (the hard gate's,
/// hard_smoother_guessing; the sigmoid gate's holds a T). `bufs` holds 4·chunk values. Returns false
/// if some x is not finite and > 0.
template <bool Sigmoid, bool Knee, class T>
bool compexp_forward_single(const T* x, std::size_t cols, const row_curve<T>& cv, const group_context<T>& ctx,
                            T* y, double& y_state, T* bufs) {
    using V = simd::vec<T>;
    using VW = simd::wide<T>;
    constexpr std::size_t WW = simd::wide_lanes<T>;
    level_check<VW> ok;
    // P1, one wide vector: targets (and sdb) of samples j·WW … of the chunk at t0 (n long).
    auto targets = [&](std::size_t t0, std::size_t n, std::size_t j, T* f) DD_INLINE_LAMBDA {
        const std::size_t k = j * WW;
        curve_vectors<Knee, 1>(cv, x + t0, k, n, f, static_cast<T*>(nullptr), ok);
        if constexpr (Sigmoid) target_db(VW::load_unaligned(f + k)).store_unaligned(f + chunk + k);
    };
    const std::size_t n_chunks = (cols + chunk - 1) / chunk;
    for (std::size_t j = 0, n0 = std::min(chunk, cols); j * WW < n0; ++j) targets(0, n0, j, bufs);
    gate_state<T> state;
    {
        double lanes[simd::lanes<T>];
        std::fill(lanes, lanes + simd::lanes<T>, y_state);
        state = gate_state<T>::lanes(lanes);
    }
    hard_smoother_guessing<T> hard(ctx.first_at, ctx.first_rt, y_state);
    for (std::size_t c = 0; c < n_chunks; ++c) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, cols - t0);
        const T* const f = bufs + (c % 2) * 2 * chunk;
        const T* const lg = f + chunk;
        T* const f_next = bufs + ((c + 1) % 2) * 2 * chunk;
        const std::size_t t_next = t0 + chunk, n_next = c + 1 < n_chunks ? std::min(chunk, cols - t_next) : 0;
        const std::size_t vectors = (n_next + WW - 1) / WW;
        std::size_t j = 0;
        T* const out = y + t0;
        std::size_t k = 0;
        if constexpr (!Sigmoid) {
            constexpr std::size_t block = hard_smoother_guessing<T>::block;
            static_assert(block % WW == 0, "whole vectors of targets between blocks");
            for (; k + block <= n; k += block) {
                hard.run_block(f + k, out + k);
                for (std::size_t v = 0; v < block / WW && j < vectors; ++v) targets(t_next, n_next, j++, f_next);
            }
        }
        for (; k < n; ++k) {
            if constexpr (Sigmoid) {
                state.y = sigmoid_smoother_step(V(f[k]), V(lg[k]), state.y, state.ly, ctx.sigmoid[0]);
                out[k] = state.y.get(0);
            } else {
                hard.run_step(f[k], out + k);
            }
            if (k % WW == WW - 1 && j < vectors) targets(t_next, n_next, j++, f_next);
        }
        for (; j < vectors; ++j) targets(t_next, n_next, j, f_next);
    }
    y_state = Sigmoid ? double(state.y.get(0)) : hard.state();
    return ok.all();
}

/// P2 of a multi-row group: the recursion with one row per lane (ctx.chains vectors of rows stepped
/// side by side), chunk by chunk, from f (and sdb(f)) given as row pointers, through in-register
/// transposes, into y.
template <bool Sigmoid, class T> struct lanes_recursion {
    using V = simd::vec<T>;
    static constexpr std::size_t W = simd::lanes<T>;
    static constexpr std::size_t lane_buf = chunk * W;  // one chain's samples in lanes
    const group_context<T>& ctx;
    const row_group& g;
    rows_of<T> y;
    T *y_buf, *pad, *lanes_f, *lanes_lg, *lanes_y;  // chain c's lanes at + c·lane_buf
    gate_state<T> state[max_chains];
    /// The group's input rows, if the next chunk of x should be prefetched during the recursion.
    const rows_of<const T>* x_next = nullptr;

    /// Work memory: y per row, one padding row, f, sdb(f) and y in lanes for every chain.
    static constexpr std::size_t work_size(std::size_t rows) { return (rows + 1) * chunk + 3 * max_chains * lane_buf; }

    lanes_recursion(const group_context<T>& c, const row_group& grp, rows_of<T> out, T* work)
        : ctx(c), g(grp), y(out) {
        y_buf = work;
        pad = y_buf + g.count * chunk;
        lanes_f = pad + chunk;
        lanes_lg = lanes_f + max_chains * lane_buf;
        lanes_y = lanes_lg + max_chains * lane_buf;
    }
    /// Samples t0 … t0 + n − 1 of every row; f_rows[c·W + i] (and lg_rows) hold chain c's lane i,
    /// padded to a multiple of W (padding lanes may point at any row).
    // Out of line: once per chunk, and GCC 12.2's SLP vectoriser crashes (ICE) when it is inlined
    // into compexp_forward_group<false, double>.
    [[gnu::noinline]] void chunk_step(std::size_t t0, std::size_t n, const T* const* f_rows, const T* const* lg_rows) {
        const std::size_t padded = (n + W - 1) / W * W;
        if constexpr (!Sigmoid && simd::has_transpose_square<T>) {
            if (n == padded) {  // whole blocks: no lanes buffers at all
                T* out_rows[max_chains * W];
                for (std::size_t c = 0; c < ctx.chains; ++c) {
                    const row_group rows = chain_rows<T>(g, c);
                    for (std::size_t i = 0; i < W; ++i)
                        out_rows[c * W + i] = i < rows.count ? y.row(rows.first + i) + t0 : pad;
                }
                if (ctx.chains == 2)
                    recursion_in_registers<2>(t0, n, f_rows, out_rows);
                else
                    recursion_in_registers<1>(t0, n, f_rows, out_rows);
                return;
            }
        }
        for (std::size_t c = 0; c < ctx.chains; ++c) {
            simd::to_lanes(f_rows + c * W, 0, padded, lanes_f + c * lane_buf);
            if constexpr (Sigmoid) simd::to_lanes(lg_rows + c * W, 0, padded, lanes_lg + c * lane_buf);
        }
        if (ctx.chains == 2)
            recursion<2>(t0, n);
        else
            recursion<1>(t0, n);
        for (std::size_t c = 0; c < ctx.chains; ++c) {
            const row_group rows = chain_rows<T>(g, c);
            const T* const lanes = lanes_y + c * lane_buf;
            T* out_rows[W];
            if (n == padded) {  // whole blocks: transpose straight into the output rows
                for (std::size_t i = 0; i < W; ++i) out_rows[i] = i < rows.count ? y.row(rows.first + i) + t0 : pad;
                simd::from_lanes(lanes, 0, padded, out_rows);
                continue;
            }
            T* const buf = y_buf + (rows.first - g.first) * chunk;
            lane_rows<T>(buf, pad, rows.count, out_rows);
            simd::from_lanes(lanes, 0, padded, out_rows);
            for (std::size_t r = 0; r < rows.count; ++r)
                std::copy(buf + r * chunk, buf + r * chunk + n, y.row(rows.first + r) + t0);
        }
    }
    /// The next chunk of x, which the curve phase reads next, prefetched during the recursion: its
    /// lines are spread evenly over the chunk's steps (the rows in turn at each line offset), so the
    /// memory is kept busy throughout rather than in bursts (the recursion leaves it idle otherwise).
    /// The output lines are not prefetched: their stores wait in the store queue, off the chain.
    struct x_prefetch {
        static constexpr std::size_t line = 64 / sizeof(T);
        const T* const* rows = nullptr;
        std::size_t count = 0, from = 0, total = 0;  // rows; the next chunk's first sample; its lines
        std::size_t issued = 0, row = 0, offset = 0;
        x_prefetch(const lanes_recursion& r, std::size_t t0) {
            if (r.x_next == nullptr || t0 + chunk >= r.x_next->cols) return;
            rows = r.x_next->ptrs + r.g.first;
            count = r.g.count;
            from = t0 + chunk;
            total = count * ((std::min(chunk, r.x_next->cols - from) + line - 1) / line);
        }
        /// Issues the lines due by step `step` of the chunk.
        DD_INLINE void until(std::size_t step) {
            const std::size_t due = std::min(step * total / chunk, total);
            for (; issued < due; ++issued) {
                __builtin_prefetch(rows[row] + from + offset);
                if (++row == count) {
                    row = 0;
                    offset += line;
                }
            }
        }
    };
    /// The hard gate's recursion of the first C chains over n samples (a multiple of W) with the
    /// row ↔ lane transposes in registers: a block of W samples of every lane's row is loaded and
    /// transposed, stepped W times, and the states are transposed back into the output rows. The
    /// shuffles run in the shadow of the latency-bound steps, and no lanes buffer makes a round trip
    /// through the cache. The same steps as recursion<C>, so the same bits.
    ///
    /// The second chain runs `lag` samples (a cache line) behind the first. Rows whose stride is a
    /// multiple of 4 KiB (T = 16384, say) put the same sample of every row in one L1 set; two chains
    /// in step would keep 16 lines of y live in a 12-way set between a line's two blocks, and thrash.
    ///
    /// Where the cheaper rounding of hard_lanes::step<true> exists, a chunk whose states start in its
    /// domain is stepped with it, the targets checked meanwhile (compexp's lie in [2^-126, 1] for
    /// valid x); the states then stay in the domain. A chunk failing that check (invalid x, a target
    /// a rounding below 2^-126) is stepped again, from the same states, with step<false>.
    template <std::size_t C>
    DD_INLINE void recursion_in_registers(std::size_t t0, std::size_t n, const T* const* f_rows, T* const* out_rows) {
        if constexpr (simd::has_cheaper_normal_narrow && std::is_same_v<T, float>) {
            bool normal = true;
            for (std::size_t c = 0; c < C; ++c) normal = normal && hard_lanes<T>::states_stay_normal(state[c].h);
            if (normal && recursion_in_registers<C, true>(t0, n, f_rows, out_rows)) return;
        }
        recursion_in_registers<C, false>(t0, n, f_rows, out_rows);
    }
    /// One pass of the above, Normal: with step<true>; returns false (the states left as they were)
    /// if a target lay outside [2^-126, 1].
    template <std::size_t C, bool Normal>
    DD_INLINE bool recursion_in_registers(std::size_t t0, std::size_t n, const T* const* f_rows, T* const* out_rows) {
        constexpr std::size_t lag = C == 1 ? 0 : (64 / sizeof(T) > W ? 64 / sizeof(T) : W);
        using H = hard_lanes<T>;
        simd::unit_normal_check<typename V::arch_type> targets_check;
        typename H::state ys[C];
        typename H::coeffs hard[C];
        for (std::size_t c = 0; c < C; ++c) {
            ys[c] = H::load(state[c].h);
            hard[c] = ctx.hard[c];
        }
        x_prefetch prefetch(*this, t0);
        // Chains whose bit is set in Active step the block at k − c·lag.
        auto block = [&](auto active, std::size_t k) DD_INLINE_LAMBDA {
            constexpr unsigned mask = decltype(active)::value;
            V r[C][W];
            for (std::size_t c = 0; c < C; ++c) {
                if (!(mask >> c & 1)) continue;
                for (std::size_t i = 0; i < W; ++i) {
                    r[c][i] = V::load_unaligned(f_rows[c * W + i] + k - c * lag);
                    if constexpr (Normal) targets_check.add(r[c][i]);
                }
                simd::transpose_square<T>(r[c]);
            }
            prefetch.until(k + W);
#pragma GCC unroll 8
            for (std::size_t s = 0; s < W; ++s) {
                for (std::size_t c = 0; c < C; ++c)
                    if (mask >> c & 1) r[c][s] = H::template step<Normal>(r[c][s], ys[c], hard[c]);
            }
            for (std::size_t c = 0; c < C; ++c) {
                if (!(mask >> c & 1)) continue;
                simd::transpose_square<T>(r[c]);
                for (std::size_t i = 0; i < W; ++i) r[c][i].store_unaligned(out_rows[c * W + i] + k - c * lag);
            }
        };
        using first_only = std::integral_constant<unsigned, 1>;
        if constexpr (C == 1) {
            for (std::size_t k = 0; k < n; k += W) block(first_only{}, k);
        } else {
            static_assert(C == 2, "one or two chains");
            const std::size_t lead = std::min(lag, n);
            std::size_t k = 0;
            for (; k < lead; k += W) block(first_only{}, k);
            for (; k < n; k += W) block(std::integral_constant<unsigned, 3>{}, k);
            for (; k < n + lag; k += W) {
                if (k >= lag) block(std::integral_constant<unsigned, 2>{}, k);
            }
        }
        if (Normal && !targets_check.all_inside()) return false;
        for (std::size_t c = 0; c < C; ++c) H::store(ys[c], state[c].h);
        return true;
    }
    /// The recursion of the first C chains over n samples in lanes.
    template <std::size_t C> DD_INLINE void recursion(std::size_t t0, std::size_t n) {
        // The states and coefficients in locals (registers), not members reached through `this`.
        using H = hard_lanes<T>;
        V ys[C], lys[C];
        typename H::state hs[C];
        typename H::coeffs hard[C];
        sigmoid_coeffs<V> sigmoid[C];
        for (std::size_t c = 0; c < C; ++c) {
            ys[c] = state[c].y;
            lys[c] = state[c].ly;
            hs[c] = H::load(state[c].h);
            hard[c] = ctx.hard[c];
            sigmoid[c] = ctx.sigmoid[c];
        }
        x_prefetch prefetch(*this, t0);
        for (std::size_t k = 0; k < n; ++k) {
            prefetch.until(k + 1);
#pragma GCC unroll 2
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t at = c * lane_buf + k * W;
                const V fv = V::load_unaligned(&lanes_f[at]);
                if constexpr (Sigmoid)
                    ys[c] = sigmoid_smoother_step(fv, V::load_unaligned(&lanes_lg[at]), ys[c], lys[c], sigmoid[c]);
                else
                    ys[c] = H::step(fv, hs[c], hard[c]);
                ys[c].store_unaligned(&lanes_y[at]);
            }
        }
        for (std::size_t c = 0; c < C; ++c) {
            state[c].y = ys[c];
            state[c].ly = lys[c];
            H::store(hs[c], state[c].h);
        }
    }
};

/// P1 then P2, chunk by chunk, over a multi-row group, from the recursion states `states` (one per
/// chain, one row per lane), which are left at the states after the last sample. `work` holds
/// group_work_size values. Returns false if some x is not finite and > 0.
template <bool Sigmoid, class T>
bool group_chunks(rows_of<const T> x, const group_context<T>& ctx, const row_group& g, rows_of<T> y,
                  gate_state<T>* states, T* work) {
    constexpr std::size_t W = simd::lanes<T>, stride = f_row_stride<T>;
    // Work memory: f and sdb(f) per row, then P2's.
    T* const f = work;
    T* const lg = f + g.count * stride;
    lanes_recursion<Sigmoid, T> p2(ctx, g, y, lg + g.count * stride);
    p2.x_next = &x;
    const T *f_rows[max_chains * W], *lg_rows[max_chains * W];
    for (std::size_t c = 0; c < ctx.chains; ++c) {
        const row_group rows = chain_rows<T>(g, c);
        lane_rows<T>(f + (rows.first - g.first) * stride, rows.count, f_rows + c * W, stride);
        lane_rows<T>(lg + (rows.first - g.first) * stride, rows.count, lg_rows + c * W, stride);
        p2.state[c] = states[c];
    }
    bool ok = true;
    for (std::size_t c = 0; c * chunk < x.cols; ++c) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, x.cols - t0);
        for (std::size_t r = 0; r < g.count; ++r) {
            ok &= ctx.curves[r].targets(x.row(g.first + r) + t0, n, f + r * stride);
            if constexpr (Sigmoid) safe_db_phase(f + r * stride, n, lg + r * stride);
        }
        p2.chunk_step(t0, n, f_rows, lg_rows);
    }
    for (std::size_t c = 0; c < ctx.chains; ++c) states[c] = p2.state[c];
    return ok;
}

/// Work memory of the forward, in T values after the group context: the larger of the one-row path's
/// and a full group's.
template <class T> constexpr std::size_t group_work_size =
    std::max<std::size_t>(4 * chunk, 2 * group_rows<T> * f_row_stride<T> + lanes_recursion<false, T>::work_size(group_rows<T>));
template <class T> constexpr std::size_t context_bytes = (sizeof(group_context<T>) + 63) / 64 * 64;
/// After those, the sigmoid gate's one-row stretches keep a chunk of re-run outputs per stretch and a
/// second context (one chain).
template <class T> constexpr std::size_t stretch_work_size = group_rows<T> * chunk + context_bytes<T> / sizeof(T);

/// One long row of the sigmoid gate in lanes stretches (float and double, one row, any thread count).
/// A one-row recursion is a single latency-bound chain (the sigmoid step has an exp, a division and a
/// log on it), while rows in lanes take one step for a whole vector of rows. So the row is cut into
/// S = group_rows stretches of L samples (whole cache lines), seen as S rows and run by the group code
/// (group_chunks), then made exact:
///   pass 1: every stretch from a guess (stretch 0 from the row's state, stretch s > 0 from its first
///           target: the gain the smoother heads for);
///   pass 2: every stretch s > 0 again, in lanes, from the state pass 1 left at the end of stretch
///           s − 1, a piece at a time into scratch, until its output equals pass 1's at some sample:
///           the state is the output (sdb(y) is a function of y), so from there on both runs took the
///           same steps and pass 1's values stand; before it the re-run's values are copied in.
///           Stretches leave the lanes as they merge. A re-run whose state a step towards the target
///           1 leaves unchanged keeps that state, without stepping, over the samples in the curve's
///           unity band (where f = 1 exactly);
///   pass 3: in order, every stretch s > 0 whose pass 2 started from a state other than the exact end
///           of stretch s − 1 (which changed because stretch s − 1's pass 2 had not merged by its
///           end) runs again from that end until it merges or ends (then its successor runs again in
///           turn). By induction from stretch 0 (exact) every stretch is then exact; at worst this
///           costs what the one-row path does.
/// Every step is sigmoid_smoother_step on the same targets, in lanes or on a broadcast vector alike, so
/// the bits are those of the one-row path (CompexpGain.SigmoidOneRowStretchesGiveTheBitsOfShortPieces).
/// A run merges when the smoother is driven hard (an attack after a loud onset); in float32 a state
/// resting at a gain of ~1 stops at one of the floats just below 1 where a step rounds back to itself,
/// so runs that differ there merge only at the next attack. Pass 2 costs the steps that the slowest
/// stretch to merge takes outside the unity band, at most L. The samples after the S stretches (under
/// S cache lines) take the one-row path. Returns false if some x is not finite and > 0; leaves the
/// final state in y_state.
template <bool Knee, class T>
bool compexp_forward_single_stretches(const T* x, std::size_t cols, const group_context<T>& ctx,
                                      const group_context<T>& ctx_one_chain, T* y, double& y_state, T* bufs,
                                      T* scratch) {
    constexpr std::size_t S = group_rows<T>, W = simd::lanes<T>, WW = simd::wide_lanes<T>;
    constexpr std::size_t line = 64 / sizeof(T);
    const std::size_t L = cols / S / line * line;
    const row_curve<T>& rc = ctx.curves[0];
    bool ok = true;
    // Runs `rows` stretches (at xs, into ys) over n samples from the states `from`, leaving the states
    // after them in `to`. group_chunks steps the context's number of chains (every lane holds
    // this row's coefficients).
    auto run = [&](const T* const* xs, T* const* ys, std::size_t rows, std::size_t n, const double* from,
                   double* to) {
        const row_group g{0, rows};
        const std::size_t chains = (rows + W - 1) / W;
        gate_state<T> states[max_chains];
        for (std::size_t c = 0; c < chains; ++c) {
            double lanes[W];
            for (std::size_t i = 0; i < W; ++i) lanes[i] = from[std::min(c * W + i, rows - 1)];
            states[c] = gate_state<T>::lanes(lanes);
        }
        ok &= group_chunks<true>(rows_of<const T>{xs, rows, n}, chains > 1 ? ctx : ctx_one_chain, g,
                                 rows_of<T>{ys, rows, n}, states, bufs);
        for (std::size_t r = 0; r < rows; ++r) to[r] = states[r / W].lane(r % W, true);
    };
    // A re-run resting where a step towards the target 1 rounds back to its state (a float just
    // below 1) stays there while x is in the curve's unity band (f = 1, sdb(f) = 0 exactly), and
    // merges only once the targets move: it jumps over such samples instead of stepping them.
    const sigmoid_coeffs<simd::vec<T>>& gate = ctx.sigmoid[0];
    auto rests_at_unity = [&](double state) {
        using VL = simd::vec<T>;
        const VL y_prev = VL(T(state));
        VL ly = safe_db(y_prev);
        return sigmoid_smoother_step(VL(T(1)), VL(T(0)), y_prev, ly, gate).get(0) == T(state);
    };
    // Re-runs the stretches `active` (count of them), stretch r from state[r] at its sample pos[r],
    // over at most rerun_piece_length samples into scratch, copies the values that differ from y's
    // up to the first equal one, and keeps in `active` those that did not merge before their
    // stretch's end (their state and position moved on). Returns the number kept.
    auto rerun_piece = [&](std::size_t* active, std::size_t count, std::size_t* pos, double* state) {
        std::size_t n = rerun_piece_length, kept = 0;
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t r = active[i];
            if (rests_at_unity(state[r])) {
                const T rest = T(state[r]);
                const T* const xr = x + r * L;
                T* const out = y + r * L;
                std::size_t t = pos[r];
                bool merged = false;
                for (; t < L && rc.in_unity_band(xr[t]); ++t) {
                    if ((merged = out[t] == rest)) break;  // equal states from t on: pass 1's values stand
                    out[t] = rest;
                }
                pos[r] = t;
                if (merged || t == L) continue;
            }
            active[kept++] = r;
            n = std::min(n, L - pos[r]);
        }
        count = kept;
        if (count == 0) return count;
        const T* xs[S];
        T* ys[S];
        double from[S], to[S];
        for (std::size_t i = 0; i < count; ++i) {
            xs[i] = x + active[i] * L + pos[active[i]];
            ys[i] = scratch + i * chunk;
            from[i] = state[active[i]];
        }
        run(xs, ys, count, n, from, to);
        std::size_t still = 0;
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t r = active[i];
            T* const out = y + r * L + pos[r];
            const T* const again = scratch + i * chunk;
            std::size_t j = 0;
            while (j < n && again[j] != out[j]) ++j;
            std::copy(again, again + j, out);
            if (j < n) continue;  // equal states from sample j on: the values in y stand
            state[r] = to[i];     // not merged yet: the re-run goes on from its state
            pos[r] += n;
            if (pos[r] < L) active[still++] = r;
        }
        return still;
    };
    // Pass 1.
    const T* x_ptr[S];
    T* y_ptr[S];
    double start[S], end[S];
    alignas(64) T first_target[WW];
    for (std::size_t r = 0; r < S; ++r) {
        x_ptr[r] = x + r * L;
        y_ptr[r] = y + r * L;
        ok &= rc.targets(x + r * L, 1, first_target);
        start[r] = r ? double(first_target[0]) : y_state;
    }
    run(x_ptr, y_ptr, S, L, start, end);
    // Pass 2: stretches 1 … S − 1 from pass 1's ends of their predecessors, until they merge.
    std::size_t active[S], pos[S], count = 0;
    double state[S], pass2_start[S];
    for (std::size_t r = 1; r < S; ++r) {
        active[count++] = r;
        pos[r] = 0;
        state[r] = pass2_start[r] = end[r - 1];
    }
    while (count > 0) count = rerun_piece(active, count, pos, state);
    // Pass 3: in order, the stretches whose pass 2 did not start from their predecessor's exact end.
    for (std::size_t r = 1; r < S; ++r) {
        state[r] = double(y[r * L - 1]);
        if (state[r] == pass2_start[r]) continue;
        active[0] = r;
        pos[r] = 0;
        count = 1;
        while (count > 0) count = rerun_piece(active, count, pos, state);
    }
    const std::size_t done = S * L;
    y_state = double(y[done - 1]);
    if (done < cols)
        ok &= compexp_forward_single<true, Knee>(x + done, cols - done, rc, ctx, y + done, y_state, bufs);
    return ok;
}

/// The forward of rows [first, first + count) (one group) on the calling thread, from the states
/// a.zi (1 where null), writing the final states if a.final_state is set. `work` is aligned to 64
/// bytes and holds work_size() bytes. Returns false if some x is not finite and > 0.
template <bool Sigmoid, class T>
bool compexp_forward_group(const dd::detail::compexp_forward_args<T>& a, std::size_t first, std::size_t count, void* work) {
    T* const buffers = reinterpret_cast<T*>(static_cast<unsigned char*>(work) + context_bytes<T>);
    auto initial = [&](std::size_t row) { return a.zi ? a.zi[row] : 1.0; };
    const rows_of<const T> x{a.x, first + count, a.cols};
    const rows_of<T> y{a.y, first + count, a.cols};
    bool ok;
    if (Sigmoid && count == 1 && a.cols / chunk >= group_rows<T> * sigmoid_stretch_min_chunks) {
        // One long row of the sigmoid gate: stretches in lanes, with contexts whose every row is this row.
        const compexp_curve<T> c = a.curve.row(first);
        const compexp_params<T> one{c.comp_thresh, c.comp_ratio, c.exp_thresh, c.exp_ratio, c.knee};
        const group_context<T>& sctx =
            *new (work) group_context<T>(one, a.at[first], a.rt[first], a.k[first], row_group{0, group_rows<T>});
        T* const scratch = buffers + group_work_size<T>;
        const group_context<T>& sctx1 = *new (scratch + group_rows<T> * chunk)
            group_context<T>(one, a.at[first], a.rt[first], a.k[first], row_group{0, simd::lanes<T>});
        double state = initial(first);
        ok = sctx.curves[0].knee ? compexp_forward_single_stretches<true>(x.row(first), a.cols, sctx, sctx1, y.row(first),
                                                                          state, buffers, scratch)
                                 : compexp_forward_single_stretches<false>(x.row(first), a.cols, sctx, sctx1, y.row(first),
                                                                           state, buffers, scratch);
        if (a.final_state) a.final_state[first] = state;
        sctx.~group_context<T>();
        sctx1.~group_context<T>();
        return ok;
    }
    const row_group g{first, count};
    const group_context<T>& ctx = *new (work) group_context<T>(a.curve, a.at, a.rt, a.k, g);
    if (count == 1) {
        const row_curve<T>& rc = ctx.curves[0];
        double state = initial(first);
        ok = rc.knee ? compexp_forward_single<Sigmoid, true>(x.row(first), a.cols, rc, ctx, y.row(first), state, buffers)
                     : compexp_forward_single<Sigmoid, false>(x.row(first), a.cols, rc, ctx, y.row(first), state, buffers);
        if (a.final_state) a.final_state[first] = state;
    } else {
        constexpr std::size_t W = simd::lanes<T>;
        gate_state<T> states[max_chains];
        for (std::size_t c = 0; c < ctx.chains; ++c) {
            const row_group rows = chain_rows<T>(g, c);
            double lanes[W];
            for (std::size_t i = 0; i < W; ++i) lanes[i] = initial(rows.first + (i < rows.count ? i : 0));
            states[c] = gate_state<T>::lanes(lanes);
        }
        ok = group_chunks<Sigmoid>(x, ctx, g, y, states, buffers);
        if (a.final_state)
            for (std::size_t c = 0; c < ctx.chains; ++c) {
                const row_group rows = chain_rows<T>(g, c);
                for (std::size_t i = 0; i < rows.count; ++i) a.final_state[rows.first + i] = states[c].lane(i, Sigmoid);
            }
    }
    ctx.~group_context<T>();
    return ok;
}

template <class T> struct param_sums {
    simd::wide<T> ct, cr, et, er, knee, at, rt, k;  // at/rt are α_a/α_r for the sigmoid gate
    param_sums() : ct(T(0)), cr(T(0)), et(T(0)), er(T(0)), knee(T(0)), at(T(0)), rt(T(0)), k(T(0)) {}
};

/// The knee-free curve's active branch at the level L: distances dc = L − CT and de = ET − L, and the
/// masks compexp_gain_db<false> selects by. Its branch gains are gc = min(0, −σ_c·dc) and
/// ge = min(0, −σ_e·de) (σ ≥ 0), both ≤ 0, so its choice "min(0, gc, ge) < 0, ties to the compressor"
/// reads: expander where ge < gc (then ge < 0), compressor where gc < 0 otherwise. (knee_gain<false>
/// gives 0 where d ≤ 0 instead of min's ±0: the comparisons do not see a zero's sign.)
template <class V> struct hard_branch {
    V dc, de;
    typename V::batch_bool_type comp, exp;
    hard_branch() = default;
    DD_INLINE hard_branch(const prepared_curve<V>& c, const V& level) : dc(level - c.comp_thresh), de(c.exp_thresh - level) {
        // −gc and −ge: the comparisons below are the choice's with both sides negated.
        const V zero(0);
        const V pc = xsimd::max(c.comp_slope * dc, zero), pe = xsimd::max(c.exp_slope * de, zero);
        exp = pe > pc;
        comp = (pc > zero) & (pe <= pc);  // & !exp for the finite levels here, in one compare
    }
};

/// The knee-free curve's chain rule for one wide vector: the partials of a hard branch are constants
/// times 1 or the distance (gain_curve.md), so the sums collect Σ∂f·f and Σ∂f·f·distance per branch
/// (acc.ct, acc.cr: compressor; acc.et, acc.er: expander) and the constants, ln10/20 with each, are
/// applied once per chunk (hard_branch_constants). Returns ∂x_rms = ∂f·f·(ln10/20)·(∂g/∂L)·(20/ln10)/x,
/// the two conversion constants cancelling: ∂f·f·(∂g/∂L)/x.
/// Sums of a branch whose parameters' gradients were not asked for are not formed (comp_sums,
/// exp_sums false; loop-invariant, so the branches predict).
template <class V>
DD_INLINE V hard_branch_pullback(const prepared_curve<V>& c, const hard_branch<V>& br, const V& gf, const V& fv,
                                 const V& x, param_sums<typename simd::scalar_of<V>::type>& acc, bool comp_sums,
                                 bool exp_sums) {
    using T = typename simd::scalar_of<V>::type;
    const V g = gf * fv, zero(T(0));
    if (comp_sums) {
        const V g_comp = simd::pick(br.comp, g, zero);
        acc.ct += g_comp;
        acc.cr = simd::fmadd(g_comp, br.dc, acc.cr);
    }
    if (exp_sums) {
        const V g_exp = simd::pick(br.exp, g, zero);
        acc.et += g_exp;
        acc.er = simd::fmadd(g_exp, br.de, acc.er);
    }
    const V level_partial = simd::pick(br.comp, -c.comp_slope, simd::pick(br.exp, c.exp_slope, zero));
    return g * level_partial / x;
}

/// Multipliers that turn hard_branch_pullback's sums into ∂CT, ∂CR, ∂ET, ∂ER: (ln10/20)· the
/// partials ∂g/∂CT = σ_c, ∂g/∂CR = −dc·dσ_c/dCR, ∂g/∂ET = −σ_e, ∂g/∂ER = −de·dσ_e/dER on the active branch.
template <class T> std::array<double, 4> hard_branch_constants(const prepared_curve<simd::wide<T>>& c) {
    constexpr double k = ln10_over_20<double>::value;
    return {k * double(c.comp_slope.get(0)), -k * double(c.d_comp_slope.get(0)), -k * double(c.exp_slope.get(0)),
            -k * double(c.d_exp_slope.get(0))};
}

/// The curve's chain rule for one wide vector, given the curve's partials p at the level (curves
/// with a knee; knee-free ones take hard_branch_pullback): ∂f → ∂g_dB → x_rms (returned) and the
/// curve parameter sums.
template <class V>
DD_INLINE V curve_pullback(const curve_partials<V>& p, const V& gf, const V& fv, const V& x,
                           param_sums<typename simd::scalar_of<V>::type>& acc) {
    using T = typename simd::scalar_of<V>::type;
    const V gg = gf * fv * V(ln10_over_20<T>::value);
    acc.ct += gg * p.comp_thresh;
    acc.cr += gg * p.comp_ratio;
    acc.et += gg * p.exp_thresh;
    acc.er += gg * p.exp_ratio;
    acc.knee += gg * p.knee;
    return gg * p.level * V(db_per_neper<T>) / x;
}

template <class T> void store_partial(T* out, std::size_t k, std::size_t n, const simd::wide<T>& v) {
    constexpr std::size_t WW = simd::wide_lanes<T>;
    if (k + WW <= n) {
        v.store_unaligned(out + k);
        return;
    }
    alignas(64) T tmp[WW];
    v.store_aligned(tmp);
    for (std::size_t i = 0; k + i < n; ++i) out[k + i] = tmp[i];
}

/// The backward of one row, from the last chunk to the first with time in the widest lanes; only the
/// chunk's phases share buffers. Per chunk, phase A computes the curve again (L = amp2db(x),
/// f = db2amp(g_dB(L))) and, for the sigmoid gate, phase G its gate (Δ_t and s_t from f and y_{t−1});
/// then per vector of samples t … t + WW − 1, from the last to the first:
///   - the step's local derivatives from f and y_{t−1} (read from y): hard gate β_t and 1 − β_t,
///     sigmoid gate its step partials;
///   - the adjoint u_t = gy_t + (∂y_{t+1}/∂y_t)·u_{t+1} by reverse_linear_scan, the factor taken one
///     lane later (shift_down, the next vector's first lane at the top), u_{t+WW} carried in;
///   - ∂f = β·u (sigmoid: λ·∂y/∂g), the curve's chain rule to x_rms, and the parameter sums.
/// Sums are reduced to double every `chunk` samples (chunks at multiples of `chunk`, lanes at
/// multiples of WW: the order depends on the sample index only) and added to sums[i], i = 0 … 7
/// (∂CT, ∂CR, ∂ET, ∂ER, ∂knee, ∂at, ∂rt, ∂k); sums[8] receives ∂zi. y_{−1} = zi (a float row's rounded
/// up, as its outputs are); grad_final, ∂loss/∂(final state), joins the last sample's grad_y. `work`
/// holds 5·chunk + WW values.
template <bool Sigmoid, bool Knee, class T>
bool compexp_backward_row(const row_curve<T>& rc, T at, T rt, T k, T zi, T grad_final, const T* x, const T* y,
                          const strided_view<T>& grad_y, std::size_t b, std::size_t cols, T* gx, double* sums,
                          T* work, bool comp_sums, bool exp_sums) {
    using V = simd::wide<T>;
    constexpr std::size_t WW = V::size;
    const ar_coeffs<V> hard{V(at), V(rt)};
    const sigmoid_coeffs<V> sig{V(at), V(rt), V(k)};
    const bool in_place = grad_y.col_stride == 1;
    // Work memory: the chunk's levels and targets (phase A), and grad_y when it cannot be read in place.
    T* const level_buf = work;
    T* const f_buf = level_buf + chunk;
    T* const gy_copy = f_buf + chunk;
    T* const delta_buf = gy_copy + chunk;  // the sigmoid gate's Δ_t and s_t (phase G)
    T* const s_buf = delta_buf + chunk;
    const std::array<double, 4> branch_scale = hard_branch_constants<T>(rc.curve);  // knee-free sums → ∂CT … ∂ER
    V carry(T(0)), factor_next(T(0));  // u_{t+WW} (broadcast); ∂y_{s+1}/∂y_s of the vector to the right
    // The hard gate: the decision of the first sample of the vector to the right. At the row's end
    // there is none (factor 0), but there the factor only ever multiplies zeros (nothing follows,
    // carry 0), so any factor gives the same bits.
    unsigned next_attack_bit = 0;
    const simd::uniform_reverse_scan<V> scan_attack(hard.keep_at), scan_release(hard.keep_rt);
    level_check<V> ok;
    for (std::size_t c = (cols + chunk - 1) / chunk; c-- > 0;) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, cols - t0);
        const T* gy;
        if (in_place) {
            gy = grad_y.data + std::ptrdiff_t(b) * grad_y.row_stride + std::ptrdiff_t(t0);
        } else {
            grad_y.copy_row(b, t0, n, gy_copy);
            gy = gy_copy;
        }
        const T* xr = x + t0;
        // Phase A: L and f of the whole chunk into L1-resident buffers, `unroll` independent vectors
        // per iteration (the transcendental chains interleave). Backwards in time like everything
        // else here (the memory streams stay descending for the prefetcher): the partial tail
        // first, then whole groups of vectors.
        {
            const std::size_t whole_end = n / (unroll * WW) * (unroll * WW);
            for (std::size_t kk = whole_end; kk < n; kk += WW)
                curve_vectors<Knee, 1>(rc, xr, kk, n, f_buf, level_buf, ok);
            for (std::size_t kk = whole_end; kk > 0;) {
                kk -= unroll * WW;
                curve_vectors<Knee, unroll>(rc, xr, kk, n, f_buf, level_buf, ok);
            }
        }
        // The previous chunk's x, y and grad_y (processed next) are prefetched during the loop over
        // vectors below, the lines of the samples one chunk before the ones it reaches: spread over
        // the chunk's work, the reads keep the memory busy throughout rather than in bursts, and the
        // hardware prefetcher follows descending streams less well than ascending ones.
        // A strided grad_y is copied per chunk instead; its third stream is then x again (harmless).
        const T* const gy_row = in_place ? grad_y.data + std::ptrdiff_t(b) * grad_y.row_stride : x;
        auto prefetch_previous_chunk = [&](auto inner, std::size_t kk, std::size_t count) DD_INLINE_LAMBDA {
            if (!decltype(inner)::value && t0 < chunk) return;  // inner chunks have t0 ≥ chunk
            const std::size_t tp = t0 - chunk + kk;
            for (std::size_t line = 0; line < count; line += 64 / sizeof(T)) {
                __builtin_prefetch(x + tp + line);
                __builtin_prefetch(y + tp + line);
                __builtin_prefetch(gy_row + tp + line);
            }
        };
        if constexpr (Sigmoid) {
            // Phase G: the sigmoid gate of every sample, Δ_t = sdb(f_t) − sdb(y_{t−1}) and s_t = σ(k·Δ_t)
            // (two logs and an exp), apart from the loop below and two vectors at a time: independent
            // chains the scheduler interleaves, which the loop's long body leaves no room for.
            auto gate = [&](std::size_t kk) DD_INLINE_LAMBDA {
                const V y_prev = simd::load_previous<V>(y, t0 + kk, cols, zi);
                const V delta = target_db(V::load_unaligned(f_buf + kk)) - safe_db(y_prev);
                delta.store_unaligned(delta_buf + kk);
                logistic(sig.k * delta).store_unaligned(s_buf + kk);
            };
            std::size_t kk = 0;
            for (; kk + 2 * WW <= n; kk += 2 * WW) {
                gate(kk);
                gate(kk + WW);
            }
            for (; kk < n; kk += WW) gate(kk);
        }
        param_sums<T> acc;
        // What one vector needs before and after the scan (recomputed forward quantities).
        struct local {
            V x, gy, y_prev, f, factor;
            typename V::batch_bool_type attack;
            bool unity;  // every lane in the curve's unity band: its partials are 0, L was not stored
            sigmoid_local<V> d;
        };
        // Inner = true: a vector with a sample before it and none past the row's end or the chunk's
        // (every vector of a chunk that is neither the row's first nor its last), so no bounds to test.
        auto prepare = [&](auto inner, std::size_t kk) DD_INLINE_LAMBDA {
            constexpr bool Inner = decltype(inner)::value;
            local l;
            const bool whole = Inner || kk + WW <= n;
            l.x = whole ? V::load_unaligned(xr + kk) : simd::load_padded<V>(xr, kk, n, T(1));
            l.gy = whole ? V::load_unaligned(gy + kk) : simd::load_padded<V>(gy, kk, n, T(0));
            if (!Inner && t0 + kk + WW >= cols) l.gy = simd::add_to_lane(l.gy, cols - 1 - (t0 + kk), grad_final);  // the last vector
            l.y_prev = Inner ? V::load_unaligned(y + t0 + kk - 1) : simd::load_previous<V>(y, t0 + kk, cols, zi);
            l.f = V::load_unaligned(f_buf + kk);
            l.unity = xsimd::all(rc.in_unity_band(l.x));
            if constexpr (Sigmoid) {
                l.d = sigmoid_step_partials_given_gate(l.f, l.y_prev, V::load_unaligned(delta_buf + kk),
                                                       V::load_unaligned(s_buf + kk), sig);
                l.factor = l.d.d_y_prev;
            } else {
                l.attack = l.f < l.y_prev;
                l.factor = simd::pick(l.attack, hard.keep_at, hard.keep_rt);
            }
            return l;
        };
        // u (λ for the sigmoid gate) of one vector: the only loop-carried step. The hard gate's
        // factors one step later are all 1 − at or all 1 − rt where the decisions hold for the
        // vector's samples and the next one (the common case): the scan then takes them ready-made.
        auto scan = [&](const local& l) DD_INLINE_LAMBDA {
            V u;
            if constexpr (Sigmoid) {
                u = simd::reverse_linear_scan(simd::shift_down<1>(l.factor, factor_next), l.gy, carry);
            } else {
                const unsigned attack_bits = unsigned(simd::lane_bits(l.attack));
                const unsigned later = (attack_bits >> 1) | (next_attack_bit << (WW - 1));  // lane j: sample j + 1
                if (later == (1u << WW) - 1)
                    u = scan_attack(l.gy, carry);
                else if (later == 0)
                    u = scan_release(l.gy, carry);
                else
                    u = simd::reverse_linear_scan(simd::shift_down<1>(l.factor, factor_next), l.gy, carry);
                next_attack_bit = attack_bits & 1u;
            }
            carry = simd::broadcast_first(u);
            factor_next = l.factor;
            return u;
        };
        auto finish = [&](auto inner, std::size_t kk, const local& l, const V& u) DD_INLINE_LAMBDA {
            auto store_gx = [&](const V& v) DD_INLINE_LAMBDA {
                if (!gx) return;
                if constexpr (decltype(inner)::value)
                    v.store_unaligned(gx + t0 + kk);
                else
                    store_partial(gx + t0, kk, n, v);
            };
            V grad_f;
            if constexpr (Sigmoid) {
                acc.at += u * l.d.d_alpha_a;
                acc.rt += u * l.d.d_alpha_r;
                acc.k += u * l.d.d_k;
                grad_f = u * l.d.d_g;
            } else {
                const V ud = u * (l.f - l.y_prev), zero(T(0));
                acc.at += simd::pick(l.attack, ud, zero);
                acc.rt += simd::pick(l.attack, zero, ud);
                grad_f = simd::pick(l.attack, hard.at, hard.rt) * u;
            }
            if (l.unity) {  // the curve's chain rule gives 0 to x_rms and to every curve parameter
                store_gx(V(T(0)));
                return;
            }
            // The curve's partials at L here, after the scan rather than before: across it they
            // would wait in the stack (a vector's masks and distances, twice per pair of vectors).
            // x read again where it is a whole vector (in L1) rather than kept across the scan.
            const V level = V::load_unaligned(level_buf + kk);
            const V xv = decltype(inner)::value ? V::load_unaligned(xr + kk) : l.x;
            V gxv;
            if constexpr (Knee) {
                curve_partials<V> p;
                compexp_gain_db<true>(rc.curve, level, p);
                gxv = curve_pullback(p, grad_f, l.f, xv, acc);
            } else {
                gxv = hard_branch_pullback(rc.curve, hard_branch<V>(rc.curve, level), grad_f, l.f, xv, acc, comp_sums,
                                           exp_sums);
            }
            store_gx(gxv);
        };
        // Vectors from the last to the first; two at a time where possible, so that their
        // preparations (independent chains) can be interleaved by the scheduler.
        auto vectors = [&](auto inner) DD_INLINE_LAMBDA {
            std::size_t v = (n + WW - 1) / WW;
            if (v % 2) {
                --v;
                const local l = prepare(inner, v * WW);
                finish(inner, v * WW, l, scan(l));
            }
            for (; v > 0; v -= 2) {
                prefetch_previous_chunk(inner, (v - 2) * WW, 2 * WW);
                const local hi = prepare(inner, (v - 1) * WW), lo = prepare(inner, (v - 2) * WW);
                const V u_hi = scan(hi);
                const V u_lo = scan(lo);
                finish(inner, (v - 1) * WW, hi, u_hi);
                finish(inner, (v - 2) * WW, lo, u_lo);
            }
        };
        if (t0 > 0 && t0 + chunk < cols)
            vectors(std::true_type{});
        else
            vectors(std::false_type{});
        const simd::wide<T> all[8] = {acc.ct, acc.cr, acc.et, acc.er, acc.knee, acc.at, acc.rt, acc.k};
        for (int i = 0; i < 8; ++i) sums[i] += double(simd::sum_lanes(all[i])) * (i < 4 && !Knee ? branch_scale[i] : 1.0);
    }
    sums[8] += double(factor_next.get(0) * carry.get(0));  // ∂zi = (∂y_0/∂y_{−1})·u_0
    return ok.all();
}



}  // namespace

template <class T> std::size_t compexp_work_size(std::size_t) {
    return context_bytes<T> + (group_work_size<T> + stretch_work_size<T>) * sizeof(T);
}
template <class T> std::size_t compexp_backward_work_size() { return (5 * chunk + simd::wide_lanes<T>) * sizeof(T); }

template <class T>
bool compexp_forward(const dd::detail::compexp_forward_args<T>& a, std::size_t first, std::size_t count, void* work) {
    return a.sigmoid ? compexp_forward_group<true>(a, first, count, work)
                     : compexp_forward_group<false>(a, first, count, work);
}

template <class T>
bool compexp_backward(const dd::detail::compexp_backward_args<T>& a, std::size_t b, void* work, dd::detail::compexp_sums& sums) {
    const row_curve<T> rc(a.curve.row(b));
    const double zi = a.zi ? a.zi[b] : 1.0;
    // The first decision is taken against zi as a row's output (a float row's rounded up).
    const T zi_out = a.sigmoid ? T(zi) : smoother_output<T>(zi);
    const T grad_final = a.grad_final ? T(a.grad_final[b]) : T(0);
    T* gx = a.grad_x ? a.grad_x + b * a.x.cols : nullptr;
    T* buffers = static_cast<T*>(work);
    auto run = [&](auto sigmoid, auto knee) {
        constexpr bool S = decltype(sigmoid)::value, K = decltype(knee)::value;
        return compexp_backward_row<S, K>(rc, a.at[b], a.rt[b], a.k[b], zi_out, grad_final, a.x.row(b), a.y.row(b),
                                          a.grad_y, b, a.x.cols, gx, sums.v, buffers, a.comp_sums, a.exp_sums);
    };
    using yes = std::true_type;
    using no = std::false_type;
    if (a.sigmoid) return rc.knee ? run(yes{}, yes{}) : run(yes{}, no{});
    return rc.knee ? run(no{}, yes{}) : run(no{}, no{});
}

/// Forward mode of one row (either gate), decisions held fixed, in double: per chunk the targets f
/// with the forward's bits (row_curve::targets, so the hard gate's decisions f_t < y_{t−1} are the
/// forward's), their tangent ḟ = f·(ln10/20)·(∂g/∂L·(20/(ln10·x))·ẋ + Σ_θ ∂g/∂θ·θ̇) from the curve's
/// partials at the level, and the smoother's tangent step: hard ẏ = (1 − β)ẏ_{t−1} + β·ḟ + β̇·(f − y_{t−1}),
/// sigmoid ẏ = F_y·ẏ_{t−1} + F_g·ḟ + F_aa·α̇_a + F_ar·α̇_r + F_k·k̇ (sigmoid_second_partials).
template <class T>
bool compexp_jvp(const dd::detail::compexp_jvp_args<T>& a, std::size_t b, void* work, double& final_tangent) {
    const compexp_curve<T> c = a.curve.row(b);
    const row_curve<T> rc(c);
    const prepared_curve<double> pc = prepared_curve<double>::from(compexp_curve<double>{
        double(c.comp_thresh), double(c.comp_ratio), double(c.exp_thresh), double(c.exp_ratio), double(c.knee)});
    const double zi = a.zi ? a.zi[b] : 1.0;
    const T zi_out = a.sigmoid ? T(zi) : smoother_output<T>(zi);  // the first decision's y_{−1}, as the backward's
    const std::size_t cols = a.x.cols;
    const T* x = a.x.row(b);
    const T* y = a.y.row(b);
    const T* dx = a.tangent_x ? a.tangent_x + b * cols : nullptr;
    T* dy = a.tangent_y + b * cols;
    const compexp_param_tangents<T>& tc = a.tangent_curve;
    const double t_ct = double(tc.comp_thresh[b]), t_cr = double(tc.comp_ratio[b]), t_et = double(tc.exp_thresh[b]),
                 t_er = double(tc.exp_ratio[b]), t_knee = double(tc.knee[b]);
    const double t_at = double(a.tangent_at[b]), t_rt = double(a.tangent_rt[b]), t_k = double(a.tangent_k[b]);
    const ar_coeffs<T> hard(a.at[b], a.rt[b]);
    T* const f_buf = static_cast<T*>(work);
    double yd = a.tangent_zi ? a.tangent_zi[b] : 0.0;
    bool ok = true;
    for (std::size_t t0 = 0; t0 < cols; t0 += chunk) {
        const std::size_t n = std::min(chunk, cols - t0);
        ok &= rc.targets(x + t0, n, f_buf);
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t t = t0 + i;
            const double xv = double(x[t]), f = double(f_buf[i]);
            curve_partials<double> p;
            compexp_gain_db<true>(pc, amp2db_raw(xv), p);
            const double g_dot = (dx ? p.level * db_per_neper<double> / xv * double(dx[t]) : 0.0) + p.comp_thresh * t_ct +
                                 p.comp_ratio * t_cr + p.exp_thresh * t_et + p.exp_ratio * t_er + p.knee * t_knee;
            const double f_dot = f * ln10_over_20<double>::value * g_dot;
            const T yp = t ? y[t - 1] : zi_out;
            if (a.sigmoid) {
                yd = sigmoid_second_partials(f, double(yp), double(a.at[b]), double(a.rt[b]), double(a.k[b]), yd, f_dot,
                                             t_at, t_rt, t_k)
                         .y_dot;
            } else {
                const bool attack = f_buf[i] < yp;
                const double beta = double(attack ? hard.at : hard.rt), keep = double(attack ? hard.keep_at : hard.keep_rt);
                yd = keep * yd + beta * f_dot + (attack ? t_at : t_rt) * (f - double(yp));
            }
            dy[t] = T(yd);
        }
    }
    final_tangent = yd;
    return ok;
}

template <class T> void fill_compexp_kernels(dd::detail::kernel_set<T>& k) {
    k.compexp_group_rows = group_rows<T>;
    k.compexp_work_size = &compexp_work_size<T>;
    k.compexp_forward = &compexp_forward<T>;
    k.compexp_backward = &compexp_backward<T>;
    k.compexp_backward_work_size = &compexp_backward_work_size<T>;
    k.compexp_jvp = &compexp_jvp<T>;
}
template void fill_compexp_kernels<float>(dd::detail::kernel_set<float>&);
template void fill_compexp_kernels<double>(dd::detail::kernel_set<double>&);

}  // namespace kernel_impl
DD_ARCH_END
