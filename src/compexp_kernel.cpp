// compexp_gain (SPEC §2.3, §2.6): the vectorised batch kernels, forward and backward, hard and
// sigmoid gate.
//
// Forward: rows in groups (one row per SIMD lane in the recursion, up to two vectors of rows whose
// recursions are stepped side by side), time in chunks that stay in cache, each chunk in two phases:
//   P1  per row, time in the widest SIMD lanes: L = amp2db(x), f = db2amp(g_dB(L))  (the expensive part;
//       skipped, f = 1, for vectors inside the curve's unity band: row_curve)
//   P2  rows in SIMD lanes (a broadcast vector for a one-row group): the serial recursion over time,
//       hard_smoother_step / sigmoid_smoother_step, with in-register transposes in and out; the
//       output lines and the next chunk's x (in a group's last chunk: the next group's first chunk)
//       are prefetched meanwhile.
// A one-row group interleaves the next chunk's P1 with P2 (compexp_forward_single); a long one, when
// the smoother forgets fast enough, runs as stretches of the row in lanes from guessed states,
// bit-exactly (guess, re-run until the runs merge: compexp_forward_single_stretches). On two threads,
// long rows that fit one vector of lanes are split in time the same way
// (compexp_forward_group_time_split, compexp_forward_single_time_split); a short multi-row group runs
// P1 and P2 on different threads (compexp_forward_group_pipelined).
// Backward: one pass per row from the last sample to the first, time in the widest lanes
// (compexp_backward_row): the curve is recomputed, the adjoint recursion is a linear recurrence
// solved by an in-register scan per vector (simd::reverse_linear_scan), and the gradient chain and
// parameter sums follow in the same loop: no scratch buffers, no transposes, rows in parallel (long
// rows on two threads: taken from the two ends, and the row where the threads meet split in time like
// the forward, compexp_backward_row_time_split). Each kind of time split divides the work by what its
// earlier splits measured: how fast the two CPUs ran and how long the re-run took (time_split_history).
// The per-sample math is the shared steps of ballistics.hpp / gain_curve.hpp / simd.hpp, so y has
// the same bits as the scalar row kernels and the streaming form. The order of every sum depends on
// the absolute sample index only (chunks start at multiples of `chunk`, lane = t mod wide_lanes), so
// results do not depend on how rows are grouped or on the number of threads.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

#include "differential_dynamics/compressor.hpp"

namespace dd {

namespace {

constexpr std::size_t chunk = 2048;  // samples per row per chunk (a multiple of every lane count)

struct row_group {
    std::size_t first, count;
};

/// Groups of at most `size` rows; with fewer groups than threads the rows are spread out so that
/// every thread has a group (the recursion is latency-bound: a half-empty vector costs the same).
std::vector<row_group> make_groups(std::size_t rows, std::size_t size) {
    std::size_t n = (rows + size - 1) / size;
    const std::size_t threads = static_cast<std::size_t>(std::max(1, num_threads()));
    if (n < threads) n = std::min(rows, threads);
    std::vector<row_group> groups;
    std::size_t first = 0;
    for (std::size_t g = 0; g < n; ++g) {
        const std::size_t count = rows / n + (g < rows % n ? 1 : 0);
        groups.push_back({first, count});
        first += count;
    }
    return groups;
}

template <class T> struct ln10_over_20 {
    static constexpr T value = ln10<T> / T(20);
};

/// Grow-only per-thread scratch memory: no allocation (and no page faults) after the first call.
template <class T> T* scratch(std::size_t n) {
    thread_local std::vector<T> buffer;
    if (buffer.size() < n) buffer.resize(n);
    return buffer.data();
}

/// Lanes holding a valid level: finite and > 0 (NaN fails both comparisons).
template <class V> DD_INLINE auto acceptable_level(const V& x) {
    using T = typename simd::scalar_of<V>::type;
    return (x > V(T(0))) & (x <= V(std::numeric_limits<T>::max()));
}

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
    row_curve(const compexp_curve<T>& c) : curve(prepared_curve<V>::from(c)), knee(c.knee != T(0)) {
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
    /// Lanes certainly in the unity band (then also finite and > 0).
    DD_INLINE auto in_unity_band(const V& x) const { return (x > unity_lo) & (x < unity_hi); }
    /// f for n samples of x; false if some x is not finite and > 0.
    bool targets(const T* x, std::size_t n, T* f_out) const;
};

/// f (and L, if level_out is not null) for Count vectors of samples from x + k, the Count chains
/// side by side for the scheduler; returns the lanes whose x were finite and > 0. Count > 1: whole
/// vectors only; Count = 1 pads past n with x = 1 (→ L = 0, f = 1). When all Count vectors lie in
/// the unity band, f = 1 is stored and L is not (nothing reads it there).
template <bool Knee, std::size_t Count, class T>
DD_INLINE auto curve_vectors(const row_curve<T>& rc, const T* x, std::size_t k, std::size_t n, T* f_out,
                             T* level_out) {
    using V = simd::wide<T>;
    constexpr std::size_t WW = V::size;
    const prepared_curve<V>& curve = rc.curve;
    V xv[Count], lv[Count], fv[Count];
    auto ok = acceptable_level(V(T(1)));
#pragma GCC unroll 8
    for (std::size_t u = 0; u < Count; ++u)
        xv[u] = Count > 1 ? V::load_unaligned(x + k + u * WW) : simd::load_padded<V>(x, k + u * WW, n, T(1));
    auto unity = rc.in_unity_band(xv[0]);
#pragma GCC unroll 8
    for (std::size_t u = 1; u < Count; ++u) unity = unity & rc.in_unity_band(xv[u]);
    if (xsimd::all(unity)) {
#pragma GCC unroll 8
        for (std::size_t u = 0; u < Count; ++u) V(T(1)).store_unaligned(f_out + k + u * WW);
        return ok;
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
#pragma GCC unroll 8
        for (std::size_t u = 0; u < Count; ++u) {
            if constexpr (std::is_same_v<T, float>)
                fv[u] = Knee ? knee_curve_target(ev[u], mv[u], lv[u], curve, rc.hard_terms)
                             : hard_curve_target(ev[u], mv[u], rc.hard_terms);
        }
    } else {
#pragma GCC unroll 8
        for (std::size_t u = 0; u < Count; ++u) lv[u] = simd::amp2db(xv[u]);
#pragma GCC unroll 8
        for (std::size_t u = 0; u < Count; ++u) fv[u] = simd::db2amp(compexp_gain_db<Knee>(curve, lv[u]));
    }
#pragma GCC unroll 8
    for (std::size_t u = 0; u < Count; ++u) {
        ok = ok & acceptable_level(xv[u]);
        if (level_out) lv[u].store_unaligned(level_out + k + u * WW);
        fv[u].store_unaligned(f_out + k + u * WW);
    }
    return ok;
}

/// P1 for one row: f for n samples with time in the widest lanes, padded up to a multiple of the
/// lane count with neutral values (x = 1 → L = 0, f = 1).
template <bool Knee, class T> bool curve_phase(const row_curve<T>& curve, const T* x, std::size_t n, T* f_out) {
    constexpr std::size_t WW = simd::wide_lanes<T>;
    auto ok = acceptable_level(simd::wide<T>(T(1)));
    std::size_t k = 0;
    for (; k + unroll * WW <= n; k += unroll * WW) ok = ok & curve_vectors<Knee, unroll>(curve, x, k, n, f_out, static_cast<T*>(nullptr));
    for (; k < n; k += WW) ok = ok & curve_vectors<Knee, 1>(curve, x, k, n, f_out, static_cast<T*>(nullptr));
    return xsimd::all(ok);
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

/// A rows-in-lanes group holds up to this many vectors of rows ("chains"): their recursions are
/// independent latency-bound chains, which one loop steps side by side, so a second chain costs
/// little more than the first.
constexpr std::size_t max_chains = 2;

/// The rows of chain c of group g.
template <class T> row_group chain_rows(const row_group& g, std::size_t c) {
    constexpr std::size_t W = simd::lanes<T>;
    return {g.first + c * W, std::min(W, g.count - c * W)};
}

/// What a group's phases need besides the signals: each row's curve, and both gates' coefficients
/// with one row per lane, per chain.
template <class T> struct group_context {
    using V = simd::vec<T>;
    std::vector<row_curve<T>> curves;
    std::size_t chains;
    typename hard_lanes<T>::coeffs hard[max_chains];  // the hard gate's, in double (hard_lanes)
    sigmoid_coeffs<V> sigmoid[max_chains];
    T first_at, first_rt;  // the first row's at and rt, for the one-row path
    group_context(const compexp_params<T>& params, row_param<T> at, row_param<T> rt, row_param<T> k,
                  const row_group& g)
        : chains((g.count + simd::lanes<T> - 1) / simd::lanes<T>), first_at(at[g.first]), first_rt(rt[g.first]) {
        for (std::size_t r = 0; r < g.count; ++r) curves.emplace_back(params.row(g.first + r));
        for (std::size_t c = 0; c < chains; ++c) {
            const group_lanes<T> lanes(at, rt, k, chain_rows<T>(g, c));
            const V at_l = V::load_unaligned(lanes.at), rt_l = V::load_unaligned(lanes.rt);
            hard[c] = hard_lanes<T>::make_coeffs(lanes.at, lanes.rt);
            sigmoid[c] = {at_l, rt_l, V::load_unaligned(lanes.k)};
        }
    }
};

/// sdb of n values (padded to whole wide vectors), for the sigmoid gate.
template <class T> void safe_db_phase(const T* in, std::size_t n, T* out) {
    using V = simd::wide<T>;
    for (std::size_t k = 0; k < n; k += V::size) safe_db(V::load_unaligned(in + k)).store_unaligned(out + k);
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
    /// Every lane at y (hard and sigmoid).
    static gate_state all(double y) {
        gate_state s;
        s.y = simd::vec<T>(T(y));
        s.ly = safe_db(s.y);
        std::fill(s.h, s.h + simd::lanes<T>, y);
        return s;
    }
};

/// Called after each chunk of a forward with the number of chunks done: whether to go on with the
/// next chunk (a time split's first thread stops where the second took over). Always yes by default.
struct no_progress {
    bool operator()(std::size_t) const { return true; }
};

/// The forward of a one-row group, over `cols` samples (or until `progress` says stop) from the state
/// y_state (y_{−1}; 1 for a whole row), which is left at the state after the last sample run. The
/// recursion is a latency-bound chain: the hard gate's runs a block of guessed decisions at a time
/// (hard_smoother_guessing), the sigmoid gate's steps on a broadcast sample. The next chunk's P1 (throughput-bound) is interleaved with it, one wide
/// vector of targets every WW steps, so the core does both at once. Every step and target is the one a
/// whole row takes, so a row run in pieces, each from the state the one before left, gets the same
/// bits. The state is a double (the hard gate's, hard_smoother_guessing; the sigmoid gate's is a T);
/// if chunk_states is not null, the state after chunk c is stored at chunk_states[c]. Returns false
/// if some x is not finite and > 0.
template <bool Sigmoid, bool Knee, class T, class Progress = no_progress>
bool compexp_forward_single(const T* x, std::size_t cols, const row_curve<T>& cv, const group_context<T>& ctx,
                            T* y, double& y_state, Progress progress = {}, double* chunk_states = nullptr) {
    using V = simd::vec<T>;
    using VW = simd::wide<T>;
    constexpr std::size_t WW = simd::wide_lanes<T>;
    T* const bufs = scratch<T>(4 * chunk);  // f and sdb(f), for two chunks
    auto ok = acceptable_level(VW(T(1)));
    // P1, one wide vector: targets (and sdb) of samples j·WW … of the chunk at t0 (n long).
    auto targets = [&](std::size_t t0, std::size_t n, std::size_t j, T* f) DD_INLINE_LAMBDA {
        const std::size_t k = j * WW;
        ok = ok & curve_vectors<Knee, 1>(cv, x + t0, k, n, f, static_cast<T*>(nullptr));
        if constexpr (Sigmoid) safe_db(VW::load_unaligned(f + k)).store_unaligned(f + chunk + k);
    };
    const std::size_t n_chunks = (cols + chunk - 1) / chunk;
    for (std::size_t j = 0, n0 = std::min(chunk, cols); j * WW < n0; ++j) targets(0, n0, j, bufs);
    gate_state<T> state = gate_state<T>::all(y_state);
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
        if constexpr (!Sigmoid) hard.round_state();  // at every chunk boundary (hard_lanes)
        if (chunk_states) chunk_states[c] = Sigmoid ? double(state.y.get(0)) : hard.state();
        if (!progress(c + 1)) break;
    }
    y_state = Sigmoid ? double(state.y.get(0)) : hard.state();
    return xsimd::all(ok);
}

/// A speculative run's guess for the state before sample x[0]: the first target there. (Whether x[0]
/// is a valid level is checked by the run that starts there.)
template <class T> T first_target(const row_curve<T>& cv, const T* x) {
    alignas(64) T f_first[simd::wide_lanes<T>];
    cv.targets(x, 1, f_first);
    return f_first[0];
}

/// Runs n samples again on the one-row path from the exact `state` (hard gate), over a speculative
/// run's output in y; whether the state after them equals that run's there (`speculated`), bit for
/// bit (from there the two runs take the same steps). ok as compexp_forward_single's.
template <bool Knee, class T>
bool rerun_merges(const T* x, std::size_t n, const row_curve<T>& cv, const group_context<T>& ctx, T* y,
                  double& state, double speculated, bool& ok) {
    ok &= compexp_forward_single<false, Knee>(x, n, cv, ctx, y, state);
    return std::memcmp(&speculated, &state, sizeof(double)) == 0;
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
    signal_span<T> y;
    T *y_buf, *pad, *lanes_f, *lanes_lg, *lanes_y;  // chain c's lanes at + c·lane_buf
    gate_state<T> state[max_chains];
    /// The group's input rows, if the next chunk of x should be prefetched during the recursion.
    const signal_view<T>* x_next = nullptr;
    /// Rows of x_next whose first chunk the last chunk's recursion prefetches instead: the group run
    /// next on this thread, which otherwise starts cold (the backward's next_row does the same).
    row_group next_group{0, 0};

    /// Work memory: y per row, one padding row, f, sdb(f) and y in lanes for every chain.
    static std::size_t work_size(std::size_t rows) { return (rows + 1) * chunk + 3 * max_chains * lane_buf; }

    lanes_recursion(const group_context<T>& c, const row_group& grp, signal_span<T> out, T* work)
        : ctx(c), g(grp), y(out) {
        for (auto& s : state) s = gate_state<T>::all(1.0);
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
    /// Prefetches, at step k of the chunk at t0, one cache line: the output lines the chunk writes
    /// (for ownership) and the next chunk's x, which the curve phase reads next. The recursion is
    /// latency-bound and leaves the memory system idle meanwhile.
    DD_INLINE void prefetch_step(std::size_t t0, std::size_t n, std::size_t k, bool x_ahead) const {
        constexpr std::size_t line = 64 / sizeof(T), lines_per_row = chunk / line;
        if (k < g.count * lines_per_row) {
            const std::size_t r = k / lines_per_row, l = (k % lines_per_row) * line;
            if (l < n) __builtin_prefetch(y.row(g.first + r) + t0 + l, 1);
            if (x_ahead && t0 + chunk + l < x_next->cols) __builtin_prefetch(x_next->row(g.first + r) + t0 + chunk + l);
            else if (!x_ahead && r < next_group.count && l < x_next->cols) __builtin_prefetch(x_next->row(next_group.first + r) + l);
        }
    }
    /// The hard gate's recursion of the first C chains over n samples (a multiple of W) with the
    /// row ↔ lane transposes in registers: a block of W samples of every lane's row is loaded and
    /// transposed, stepped W times, and the states are transposed back into the output rows. The
    /// shuffles run in the shadow of the latency-bound steps, and no lanes buffer makes a round trip
    /// through the cache. The same steps as recursion<C>, so the same bits.
    ///
    /// The second chain runs `lag` samples (a cache line) behind the first. Rows whose stride is a
    /// multiple of 4 KiB (T = 16384, say) put the same sample of every row in one L1 set; two chains
    /// in step would keep 16 lines of y live in a 12-way set between a line's two blocks, and thrash.
    template <std::size_t C>
    DD_INLINE void recursion_in_registers(std::size_t t0, std::size_t n, const T* const* f_rows, T* const* out_rows) {
        constexpr std::size_t lag = C == 1 ? 0 : (64 / sizeof(T) > W ? 64 / sizeof(T) : W);
        using H = hard_lanes<T>;
        typename H::state ys[C];
        typename H::coeffs hard[C];
        for (std::size_t c = 0; c < C; ++c) {
            ys[c] = H::load(state[c].h);
            hard[c] = ctx.hard[c];
        }
        const bool x_ahead = x_next != nullptr && t0 + chunk < x_next->cols;
        // Chains whose bit is set in Active step the block at k − c·lag.
        auto block = [&](auto active, std::size_t k) DD_INLINE_LAMBDA {
            constexpr unsigned mask = decltype(active)::value;
            V r[C][W];
            for (std::size_t c = 0; c < C; ++c) {
                if (!(mask >> c & 1)) continue;
                for (std::size_t i = 0; i < W; ++i) r[c][i] = V::load_unaligned(f_rows[c * W + i] + k - c * lag);
                simd::transpose_square<T>(r[c]);
            }
#pragma GCC unroll 8
            for (std::size_t s = 0; s < W; ++s) {
                prefetch_step(t0, n, k + s, x_ahead);
                for (std::size_t c = 0; c < C; ++c)
                    if (mask >> c & 1) r[c][s] = H::step(r[c][s], ys[c], hard[c]);
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
        for (std::size_t c = 0; c < C; ++c) {
            H::round(ys[c]);  // every call runs a whole chunk (or a row's last, partial one)
            H::store(ys[c], state[c].h);
        }
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
        const bool x_ahead = x_next != nullptr && t0 + chunk < x_next->cols;
        for (std::size_t k = 0; k < n; ++k) {
            prefetch_step(t0, n, k, x_ahead);
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
            if constexpr (!Sigmoid) H::round(hs[c]);  // every call runs a whole chunk (or a row's last, partial one)
            H::store(hs[c], state[c].h);
        }
    }
};

/// P1 then P2, chunk by chunk, over chunks [c_begin, c_end) of a multi-row group (or until `progress`,
/// called after each chunk, says stop), from the recursion states `states` (one per chain, one row per
/// lane), which are left at the states after the last sample run. If chunk_states is not null, the
/// first chain's hard-gate states after chunk c are stored at chunk_states + c·W. Returns false if
/// some x is not finite and > 0.
template <bool Sigmoid, class T, class Progress = no_progress>
bool group_chunks(signal_view<T> x, const group_context<T>& ctx, const row_group& g, signal_span<T> y,
                  std::size_t c_begin, std::size_t c_end, gate_state<T>* states, Progress progress = {},
                  double* chunk_states = nullptr) {
    constexpr std::size_t W = simd::lanes<T>, stride = f_row_stride<T>;
    // Scratch: f and sdb(f) per row, then P2's work memory.
    T* const f = scratch<T>(2 * g.count * stride + lanes_recursion<Sigmoid, T>::work_size(g.count));
    T* const lg = f + g.count * stride;
    lanes_recursion<Sigmoid, T> p2(ctx, g, y, lg + g.count * stride);
    p2.x_next = &x;
    if (c_end * chunk >= x.cols && g.first + g.count < x.rows)  // runs to the row's end; a group follows
        p2.next_group = {g.first + g.count, std::min(g.count, x.rows - g.first - g.count)};
    const T *f_rows[max_chains * W], *lg_rows[max_chains * W];
    for (std::size_t c = 0; c < ctx.chains; ++c) {
        const row_group rows = chain_rows<T>(g, c);
        lane_rows<T>(f + (rows.first - g.first) * stride, rows.count, f_rows + c * W, stride);
        lane_rows<T>(lg + (rows.first - g.first) * stride, rows.count, lg_rows + c * W, stride);
        p2.state[c] = states[c];
    }
    bool ok = true;
    for (std::size_t c = c_begin; c < c_end; ++c) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, x.cols - t0);
        for (std::size_t r = 0; r < g.count; ++r) {
            ok &= ctx.curves[r].targets(x.row(g.first + r) + t0, n, f + r * stride);
            if constexpr (Sigmoid) safe_db_phase(f + r * stride, n, lg + r * stride);
        }
        p2.chunk_step(t0, n, f_rows, lg_rows);
        if (chunk_states) std::copy(p2.state[0].h, p2.state[0].h + W, chunk_states + c * W);
        if (!progress(c + 1)) break;
    }
    for (std::size_t c = 0; c < ctx.chains; ++c) states[c] = p2.state[c];
    return ok;
}

/// A one-row forward on one thread is one latency-bound chain (an fma per sample), while rows in SIMD
/// lanes step W samples per fma. So a long float row runs as W stretches of equal length, one per lane
/// (group_chunks on the row seen as W rows), speculatively:
///   - stretch 0 starts from the row's initial state; stretch s > 0 from a guess: the state after a
///     warm-up run, in lanes too, over the chunks before it (stretch_warm_up_chunks), itself started from its
///     first target. (The warm-up writes y there first; stretch s − 1 overwrites it later.)
///   - Then, for s = 1 … W − 1, the exact state at the end of stretch s − 1 is known. If it equals the
///     guess bit for bit, stretch s was run from the exact state. Otherwise stretch s is run again, a
///     chunk at a time on the one-row path from the exact state, until at a chunk's end the state
///     equals the lanes run's there: from then on both runs take the same steps on the same targets
///     (rows in lanes take the one-row path's steps, bit for bit), so the rest of the lanes run is
///     exact, and so is its final state. A stretch that never merges is re-run to its end: slower (a
///     one-row pass over it), still exact.
///   - The samples after the last whole stretch run on the one-row path.
/// How fast the smoother forgets a state sets the warm-up and whether stretches pay
/// (stretch_warm_up_chunks).

/// A state is forgotten through the smoother's contraction, 1 − β per step: two states a relative
/// distance 1 apart become equal to the last bit after about ln 2^digits / β steps of the faster
/// coefficient (attack, usually; rounding then maps neighbours onto the same value). Program material
/// is not in attack all the time, so the warm-up is 7 times that (6 chunks at the benchmark's 5 ms
/// attack in float), and a stretch at least 4 warm-ups long (and 16 chunks), so that stretches that
/// do not merge in the warm-up rarely run long. Only a row with room for a whole vector of stretches
/// takes them, and only in float (0: the one-row path): with fewer lanes the lanes pass saves less
/// than the re-runs can cost. Measured on the benchmark's row and on a smoother
/// detector level with attack/release from 2/50 to 100/2000 ms (docs/benchmarks.md): with these rules
/// never slower than the one-row path; with fixed 6-chunk warm-ups and any 2 stretches or more (and
/// double), up to 1.7× slower at slow time constants.
template <class T> std::size_t stretch_warm_up_chunks(std::size_t cols, T at, T rt) {
    if (!std::is_same_v<T, float>) return 0;
    const double fastest = std::max(double(at), double(rt));
    // The states the merges compare are rounded to compexp_chunk_state_digits bits (hard_lanes).
    const double forget = std::log(2.0) * compexp_chunk_state_digits / std::max(fastest, 1e-12);
    const double warm_up = std::ceil(7.0 * forget / double(chunk));
    if (!(warm_up < double(cols / chunk))) return 0;  // also NaN-safe
    const std::size_t warm_up_chunks = std::size_t(warm_up);
    const std::size_t min_chunks = std::max<std::size_t>(16, 4 * warm_up_chunks);
    return cols / chunk / min_chunks >= simd::lanes<T> ? warm_up_chunks : 0;
}

/// The forward of one row in W lanes stretches (see above) after warm-ups of `warm_up` chunks, the
/// hard gate, from the initial state 1. Returns false if some x is not finite and > 0.
template <bool Knee, class T>
bool compexp_forward_single_stretches(const T* x, std::size_t cols, const compexp_curve<T>& curve, T at, T rt,
                                      T* y, std::size_t warm_up) {
    constexpr std::size_t W = simd::lanes<T>, stretches = W;
    const std::size_t stretch_chunks = cols / chunk / stretches, len = stretch_chunks * chunk;
    const compexp_params<T> params{curve.comp_thresh, curve.comp_ratio, curve.exp_thresh, curve.exp_ratio, curve.knee};
    const group_context<T> ctx(params, at, rt, row_param<T>(T(1)), row_group{0, stretches});
    const row_curve<T>& rc = ctx.curves[0];
    // Rows [0, rows) of the row seen as rows of len samples from x + offset, in lanes, chunks [0, chunks),
    // lane r from lanes[r] (left at the states after them).
    // The lanes run's states after each of its chunks (lane s: stretch s), for the re-runs to merge with.
    std::vector<double> chunk_states(stretch_chunks * W);
    auto lanes_run = [&](std::size_t offset, std::size_t rows, std::size_t chunks, double* lanes, double* per_chunk) {
        gate_state<T> states[max_chains];
        for (auto& st : states) {
            st = gate_state<T>::all(1.0);
            std::copy(lanes, lanes + W, st.h);
        }
        const bool ok = group_chunks<false>(signal_view<T>{x + offset, rows, len}, ctx, row_group{0, rows},
                                            signal_span<T>{y + offset, rows, len}, 0, chunks, states, no_progress{},
                                            per_chunk);
        std::copy(states[0].h, states[0].h + W, lanes);
        return ok;
    };
    // The warm-up: lane r for stretch r + 1, from its first target.
    double lanes[W];
    bool ok = true;
    for (std::size_t r = 0; r < W; ++r)
        lanes[r] = r + 1 < stretches ? double(first_target(rc, x + (r + 1) * len - warm_up * chunk)) : 1.0;
    ok &= lanes_run(len - warm_up * chunk, stretches - 1, warm_up, lanes, nullptr);
    // The stretches: lane s from the guess for stretch s.
    double guess[W];
    guess[0] = 1.0;
    for (std::size_t s = 1; s < W; ++s) guess[s] = lanes[s - 1];
    std::copy(guess, guess + W, lanes);
    ok &= lanes_run(0, stretches, stretch_chunks, lanes, chunk_states.data());
    double state = lanes[0];  // exact: the state at the end of stretch s − 1 in the loop
    for (std::size_t s = 1; s < stretches; ++s) {
        bool merged = std::memcmp(&state, &guess[s], sizeof(double)) == 0;
        for (std::size_t j = 0; j < stretch_chunks && !merged; ++j) {
            const std::size_t c = s * stretch_chunks + j;
            merged = rerun_merges<Knee>(x + c * chunk, chunk, rc, ctx, y + c * chunk, state, chunk_states[j * W + s], ok);
        }
        if (merged) state = lanes[s];
    }
    const std::size_t done = stretches * len;
    if (done < cols) ok &= compexp_forward_single<false, Knee>(x + done, cols - done, rc, ctx, y + done, state);
    return ok;
}

/// The forward of one group of rows on one thread. Returns false if some x is not finite and > 0.
template <bool Sigmoid, class T>
bool compexp_forward_group(signal_view<T> x, const compexp_params<T>& params, row_param<T> at, row_param<T> rt,
                           row_param<T> kk, signal_span<T> y, const row_group& g) {
    const std::size_t cols = x.cols;
    const group_context<T> ctx(params, at, rt, kk, g);
    const auto& curves = ctx.curves;
    if (g.count == 1) {
        const auto& rc = curves[0];
        const std::size_t warm_up = Sigmoid ? 0 : stretch_warm_up_chunks<T>(cols, at[g.first], rt[g.first]);
        if (warm_up > 0) {
            const compexp_curve<T> curve = params.row(g.first);
            return rc.knee ? compexp_forward_single_stretches<true>(x.row(g.first), cols, curve, at[g.first], rt[g.first], y.row(g.first), warm_up)
                           : compexp_forward_single_stretches<false>(x.row(g.first), cols, curve, at[g.first], rt[g.first], y.row(g.first), warm_up);
        }
        double state = 1.0;
        return rc.knee ? compexp_forward_single<Sigmoid, true>(x.row(g.first), cols, rc, ctx, y.row(g.first), state)
                       : compexp_forward_single<Sigmoid, false>(x.row(g.first), cols, rc, ctx, y.row(g.first), state);
    }
    gate_state<T> states[max_chains];
    for (auto& s : states) s = gate_state<T>::all(1.0);
    return group_chunks<Sigmoid>(x, ctx, g, y, 0, (cols + chunk - 1) / chunk, states);
}

/// Rows of at least this many chunks take a time split on two threads.
constexpr std::size_t time_split_min_chunks = 16;

/// The CPU the calling thread runs on (-1 if unknown).
int current_cpu() {
#ifdef __linux__
    return sched_getcpu();
#else
    return -1;
#endif
}

/// How fast the CPUs run, relative to each other, as the time splits of one kind have measured them.
/// The two vCPUs of this host at times run 10–40 % apart, for minutes (docs/benchmarks.md); a split
/// made for two equal CPUs then finishes at the slower one's pace. Each split measures its two
/// threads' time per chunk and where they ran, and the next split of its kind on those CPUs gives the
/// faster one more. Each kind keeps its own table: a kind's two spans can differ in pace for reasons of
/// their own (a backward row's first span measured ~15 % slower per chunk than its second on equal
/// CPUs), which another kind's splits must not take for the CPUs'. Only the division of the work
/// depends on it, never a result (every split gives the same bits).
class cpu_speeds {
public:
    /// Estimated time per chunk on cpu b over that on cpu a: 1 when either is unknown, and when they
    /// differ by less than 5 % (a split's own time per chunk varies about that much with the data and
    /// the timing, so smaller differences would only move the split at random).
    double time_ratio(int a, int b) const {
        if (!known(a) || !known(b) || a == b) return 1.0;
        const double d = double(log_time_[b].load(std::memory_order_relaxed)) -
                         double(log_time_[a].load(std::memory_order_relaxed));
        constexpr double dead_band = 0.05;
        return std::exp(d > dead_band ? d - dead_band : d < -dead_band ? d + dead_band : 0.0);
    }
    /// One split's measurement: time per chunk ta on cpu a, tb on cpu b. The estimate moves a quarter
    /// of the way to it, so one odd measurement (a preempted thread) does not decide the next split.
    void record(int a, double ta, int b, double tb) {
        if (!known(a) || !known(b) || a == b || !(ta > 0) || !(tb > 0)) return;
        const double now = std::log(tb / ta);
        const double was = double(log_time_[b].load(std::memory_order_relaxed)) -
                           double(log_time_[a].load(std::memory_order_relaxed));
        const double step = 0.125 * std::clamp(now - was, -2.0, 2.0);  // each side an eighth: a quarter in all
        log_time_[a].store(float(double(log_time_[a].load(std::memory_order_relaxed)) - step), std::memory_order_relaxed);
        log_time_[b].store(float(double(log_time_[b].load(std::memory_order_relaxed)) + step), std::memory_order_relaxed);
    }

private:
    static constexpr int max_cpus = 256;
    static bool known(int cpu) { return cpu >= 0 && cpu < max_cpus; }
    // log of each CPU's time per chunk, up to a common constant; relaxed: a stale value only moves a split
    std::array<std::atomic<float>, max_cpus> log_time_{};
};

/// How long one kind of time split's re-run has taken (the stretch from the end of the first span to
/// the merge), in chunks of the first span's pace; the next split of that kind leaves the first thread
/// that much less. It depends on the signal (how soon every row's guessed state is forgotten: 2–20
/// chunks at 8×480000) and on the kind (a group's re-run chunk costs more than a span's, a backward's
/// merges sooner), moved a quarter of the way per measurement like cpu_speeds. Only the division of
/// the work depends on it, never a result.
class rerun_cost {
public:
    /// The estimate, or `otherwise` before the first measurement.
    double chunks(double otherwise) const {
        const float c = chunks_.load(std::memory_order_relaxed);
        return c >= 0 ? double(c) : otherwise;
    }
    void record(double measured) {
        const float was = chunks_.load(std::memory_order_relaxed);
        chunks_.store(was >= 0 ? float(double(was) + 0.25 * (measured - double(was))) : float(measured),
                      std::memory_order_relaxed);
    }

private:
    std::atomic<float> chunks_{-1.0f};  // relaxed: a stale value only moves a split
};

/// What the earlier time splits of one kind (one caller of two_thread_time_split, per type) measured.
struct time_split_history {
    cpu_speeds speeds;
    rerun_cost rerun;
};

/// Who runs which chunk in a two-thread time split. The first thread claims chunks one at a time from
/// the front. The second, when it starts, takes the chunks from a split point on, chosen then from
/// what is left and how fast the two CPUs run (cpu_speeds): a second thread that starts late (a
/// waking vCPU of this machine takes ~0.2 ms, a third of a one-row forward) or runs on the slower CPU
/// gets less. One atomic word holds both the first thread's next chunk and its limit, so no chunk is
/// run by both; if the second thread starts too late to be worth it, or never before the first is
/// done (both tasks on one thread), the first runs every chunk.
class time_split_claims {
public:
    /// Chunk 0 is the first thread's from the start.
    explicit time_split_claims(std::size_t n_chunks) : n_(n_chunks), word_(pack(1, n_chunks)) {}
    /// First thread, after its chunk c − 1: may it run chunk c?
    bool claim(std::size_t c) {
        std::uint64_t w = word_.load(std::memory_order_acquire);
        while (c < limit(w))
            if (word_.compare_exchange_weak(w, pack(c + 1, limit(w)), std::memory_order_acq_rel)) return true;
        return false;
    }
    /// Second thread, once: the first chunk of its span (n_chunks: none). `time_ratio` is its time per
    /// chunk over the first thread's. The two should finish together: the first thread runs up to the
    /// split and then re-runs, from the exact state, the second's first chunks until the runs merge,
    /// which takes `rerun` (rerun_cost; before it is known, 1/20 of what is left), so with equal CPUs
    /// it keeps a little less than half.
    std::size_t take_tail(double time_ratio, const rerun_cost& rerun) {
        time_ratio = std::clamp(time_ratio, 0.5, 2.0);  // the other way round beyond 2: a bad estimate
        std::uint64_t w = word_.load(std::memory_order_acquire);
        for (;;) {
            const std::size_t next = std::size_t(w >> 32), left = n_ - next;
            if (left < 4) return n_;
            // tail chunks b: (left − b + rerun)·t_first = b·t_second
            const double rerun_chunks = std::clamp(rerun.chunks(double(left) / 20.0), 0.0, double(left) / 2.0);
            const double tail = (double(left) + rerun_chunks) / (1.0 + time_ratio);
            const std::size_t split = n_ - std::min(left - 1, std::size_t(tail));
            if (word_.compare_exchange_weak(w, pack(next, split), std::memory_order_acq_rel)) return split;
        }
    }

private:
    static std::uint64_t pack(std::size_t next, std::size_t limit) { return (std::uint64_t(next) << 32) | limit; }
    static std::size_t limit(std::uint64_t w) { return std::size_t(w & 0xffffffffu); }
    std::size_t n_;
    std::atomic<std::uint64_t> word_;
};

/// A bit-exact two-thread time split of a forward, chunk by chunk, whatever runs the chunks (a group
/// of rows in lanes, or one row). One thread runs the first span of chunks from the initial state;
/// the other runs the rest from a guessed state. Then the second span is run again from the true
/// state, chunk by chunk, until at a chunk's end the state equals the guessed run's bit for bit: from
/// there on the two runs are the same steps on the same targets, so the guessed run's output is the
/// true one. The guessed state is forgotten at the speed of the smoother (the attack steps mostly):
/// on program material the runs merge within a few chunks, so the re-run is short; when they never
/// merge, it runs to the end and the result is still exact. The spans are chosen when the second
/// thread starts (time_split_claims). The first thread starts the re-run as soon as its span is done,
/// on the chunks the other thread has finished by then (it never waits for it: both tasks may run on
/// one thread, one after the other); what is left is re-run after both.
///   run(c, state, progress)  runs chunks c, c + 1, … from `state` (left at the state after the last
///                            chunk run) while progress(chunks done in all) says go on; false if some
///                            x is not finite and > 0
///   guess(c)                 the guessed state at the start of chunk c
///   rerun(c, state, ok)      runs chunk c alone from `state`; whether the state after it equals the
///                            guessed run's there (read before the chunk is overwritten); ok as run's
/// Returns false if some x is not finite and > 0.
template <class State, class Run, class Guess, class Rerun>
bool two_thread_time_split(std::size_t n_chunks, State state, Run run, Guess guess, Rerun rerun,
                           time_split_history& history) {
    using clock = std::chrono::steady_clock;
    time_split_claims claims(n_chunks);
    // The guessed run has written chunks [split, guessed_done): stored by the second thread after each
    // chunk, so on lines of its own, apart from the first thread's claims and next_rerun, which it
    // writes after each chunk (shared lines would cross between the cores twice a chunk).
    struct alignas(128) own_lines {
        std::atomic<std::size_t> value{0};
    } guessed_done;
    std::size_t next_rerun = n_chunks;  // from the end of the first span
    bool merged = false, ok[3] = {true, true, true};
    double rerun_time = 0;  // seconds in rerun_next, for history.rerun
    auto rerun_next = [&] {
        const auto t0 = clock::now();
        merged = rerun(next_rerun++, state, ok[2]);
        rerun_time += std::chrono::duration<double>(clock::now() - t0).count();
    };
    // Where each span ran and its time per chunk, for history.speeds.
    std::atomic<int> first_cpu{-1};
    int second_cpu = -1;
    double first_time = 0, second_time = 0;
    std::size_t first_chunks = 0, second_chunks = 0;
    auto seconds_since = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
    parallel_rows(2, [&](std::size_t task) {
        const auto t0 = clock::now();
        if (task == 0) {
            first_cpu.store(current_cpu(), std::memory_order_relaxed);
            ok[0] = run(std::size_t(0), state, [&](std::size_t done) {
                next_rerun = done;
                return claims.claim(done);
            });
            first_time = seconds_since(t0);
            first_chunks = next_rerun;
            while (!merged && next_rerun < guessed_done.value.load(std::memory_order_acquire)) rerun_next();
            return;
        }
        second_cpu = current_cpu();
        const std::size_t split =
            claims.take_tail(history.speeds.time_ratio(first_cpu.load(std::memory_order_relaxed), second_cpu),
                             history.rerun);
        if (split == n_chunks) return;
        State guessed = guess(split);
        ok[1] = run(split, guessed, [&](std::size_t done) {
            guessed_done.value.store(done, std::memory_order_release);
            return true;
        });
        second_time = seconds_since(t0);
        second_chunks = n_chunks - split;
    });
    while (!merged && next_rerun < n_chunks) rerun_next();
    // Both spans long enough to time (a span's first chunk carries its thread's start-up).
    if (first_chunks >= 8 && second_chunks >= 8) {
        const double first_pace = first_time / double(first_chunks);
        history.speeds.record(first_cpu.load(std::memory_order_relaxed), first_pace, second_cpu,
                              second_time / double(second_chunks));
        history.rerun.record(std::min(rerun_time / first_pace, double(second_chunks)));
    }
    return ok[0] && ok[1] && ok[2];
}

/// A time split's re-run of a group goes on row by row, on the one-row path, once at most this many
/// rows have still to merge. The rows merge one by one (one whose level rose lately within a chunk or
/// two, one in a long release only after 10–20), and a re-run chunk of the whole group costs as much
/// as 2–3 rows alone: 12.4–13 µs against 4.5–4.9 µs (float, 8×480000, measured with timestamps; the
/// one-row path is one latency-bound chain, and the re-run's lines come from the other core), so the
/// last two stragglers are cheaper alone. docs/benchmarks.md has the measurements.
constexpr std::size_t rerun_rows_alone_max = 2;

/// The forward of one group of rows in one vector of lanes (hard gate) on two threads, split in time
/// without changing a bit (two_thread_time_split; the guess is each row's first target there). The
/// re-run checks each row's state after every chunk: a row that equals the guessed run's there has
/// merged, and once few rows are left the others are re-run alone (rerun_rows_alone_max).
/// Returns false if some x is not finite and > 0.
template <class T>
bool compexp_forward_group_time_split(signal_view<T> x, const compexp_params<T>& params, row_param<T> at,
                                      row_param<T> rt, signal_span<T> y, const row_group& g) {
    constexpr std::size_t W = simd::lanes<T>;
    const std::size_t cols = x.cols, n_chunks = (cols + chunk - 1) / chunk;
    const group_context<T> ctx(params, at, rt, row_param<T>(T(1)), g);
    auto lane_row = [&](std::size_t i) { return g.first + (i < g.count ? i : 0); };  // padding lanes: row 0
    // group_chunks takes a state per chain; these rows are one chain. The hard gate's state is y alone.
    using state_t = std::array<gate_state<T>, max_chains>;
    // The guessed run's states after each chunk, for the re-run to merge with.
    std::vector<double> chunk_states(n_chunks * W);
    auto run = [&](std::size_t c, state_t& state, auto progress) {
        return group_chunks<false>(x, ctx, g, y, c, n_chunks, state.data(), progress, chunk_states.data());
    };
    auto guess = [&](std::size_t c) {
        state_t state{};
        state[0] = gate_state<T>::all(1.0);
        for (std::size_t i = 0; i < W; ++i)
            state[0].h[i] = double(first_target(ctx.curves[lane_row(i) - g.first], x.row(lane_row(i)) + c * chunk));
        return state;
    };
    // The re-run: the rows not merged yet, and each one's one-row context once it runs alone.
    std::array<bool, W> merged{};
    std::size_t left = g.count;
    std::vector<std::unique_ptr<group_context<T>>> alone(g.count);
    auto rerun = [&](std::size_t c, state_t& state, bool& ok) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, cols - t0);
        double* const h = state[0].h;
        const double* const speculated = chunk_states.data() + c * W;
        if (left > rerun_rows_alone_max) {
            ok &= group_chunks<false>(x, ctx, g, y, c, c + 1, state.data());
            for (std::size_t i = 0; i < g.count; ++i)
                if (!merged[i] && std::memcmp(&h[i], &speculated[i], sizeof(double)) == 0) merged[i] = true, --left;
            return left == 0;
        }
        for (std::size_t i = 0; i < g.count; ++i) {
            if (merged[i]) continue;
            const std::size_t row = g.first + i;
            if (!alone[i]) alone[i] = std::make_unique<group_context<T>>(params, at, rt, row_param<T>(T(1)), row_group{row, 1});
            const auto& one = *alone[i];
            const bool same = one.curves[0].knee
                                  ? rerun_merges<true>(x.row(row) + t0, n, one.curves[0], one, y.row(row) + t0, h[i], speculated[i], ok)
                                  : rerun_merges<false>(x.row(row) + t0, n, one.curves[0], one, y.row(row) + t0, h[i], speculated[i], ok);
            if (same) merged[i] = true, --left;
        }
        return left == 0;
    };
    state_t initial{};
    initial[0] = gate_state<T>::all(1.0);
    static time_split_history history;
    return two_thread_time_split(n_chunks, initial, run, guess, rerun, history);
}

/// The forward of one row (hard gate) on two threads, split in time as a group is
/// (two_thread_time_split), each span on the one-row path. Returns false if some x is not finite and > 0.
template <bool Knee, class T>
bool compexp_forward_single_time_split(const T* x, std::size_t cols, const row_curve<T>& cv,
                                       const group_context<T>& ctx, T* y) {
    const std::size_t n_chunks = (cols + chunk - 1) / chunk;
    // The states after each chunk (the guessed run's, where it ran), for the re-run to merge with.
    std::vector<double> chunk_states(n_chunks);
    auto run = [&](std::size_t c, double& state, auto progress) {
        const std::size_t t0 = c * chunk;
        return compexp_forward_single<false, Knee>(x + t0, cols - t0, cv, ctx, y + t0, state,
                                                   [&](std::size_t done) { return progress(c + done); },
                                                   chunk_states.data() + c);
    };
    auto guess = [&](std::size_t c) { return double(first_target(cv, x + c * chunk)); };
    auto rerun = [&](std::size_t c, double& state, bool& ok) {
        const std::size_t t0 = c * chunk;
        return rerun_merges<Knee>(x + t0, std::min(chunk, cols - t0), cv, ctx, y + t0, state, chunk_states[c], ok);
    };
    static time_split_history history;
    return two_thread_time_split(n_chunks, 1.0, run, guess, rerun, history);
}

/// The forward of one multi-row group (hard gate) on two threads, pipelined: a producer computes P1
/// (the targets f, the throughput-bound part) chunk by chunk ahead of a consumer that runs P2 (the
/// latency-bound recursion and the transposes), so the two overlap. Whole chunks of f are written
/// into y itself (the consumer reads them before overwriting them with the gain), the partial last
/// chunk into a padded buffer. Chunks are claimed through an atomic counter: if the consumer reaches
/// a chunk nobody has claimed, it computes it itself, so the result is correct (and identical) even
/// when both tasks end up on one thread, one after the other; it only waits for a chunk that the
/// producer is computing at that moment. Returns false if some x is not finite and > 0.
template <class T>
bool compexp_forward_group_pipelined(signal_view<T> x, const compexp_params<T>& params, row_param<T> at,
                                     row_param<T> rt, signal_span<T> y, const row_group& g) {
    constexpr std::size_t W = simd::lanes<T>;
    const std::size_t cols = x.cols, n_chunks = (cols + chunk - 1) / chunk;
    const group_context<T> ctx(params, at, rt, row_param<T>(T(1)), g);
    const auto& curves = ctx.curves;
    const bool partial_tail = cols % chunk != 0;
    std::vector<T> tail(partial_tail ? g.count * chunk : 0);
    std::unique_ptr<std::atomic<bool>[]> ready(new std::atomic<bool>[n_chunks]);
    for (std::size_t c = 0; c < n_chunks; ++c) ready[c].store(false, std::memory_order_relaxed);
    std::atomic<std::size_t> claimed{0};
    std::atomic<bool> ok{true};
    auto f_row = [&](std::size_t r, std::size_t c) -> T* {
        return c + 1 == n_chunks && partial_tail ? tail.data() + r * chunk : y.row(g.first + r) + c * chunk;
    };
    auto claim = [&](std::size_t c) {
        std::size_t expected = c;
        return claimed.compare_exchange_strong(expected, c + 1, std::memory_order_acq_rel);
    };
    auto produce = [&](std::size_t c) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, cols - t0);
        bool chunk_ok = true;
        for (std::size_t r = 0; r < g.count; ++r) chunk_ok &= curves[r].targets(x.row(g.first + r) + t0, n, f_row(r, c));
        if (!chunk_ok) ok.store(false, std::memory_order_relaxed);
        ready[c].store(true, std::memory_order_release);
    };
    auto producer = [&] {
        for (std::size_t c = claimed.load(std::memory_order_acquire); c < n_chunks; c = claimed.load(std::memory_order_acquire))
            if (claim(c)) produce(c);
    };
    auto consumer = [&] {
        lanes_recursion<false, T> p2(ctx, g, y, scratch<T>(lanes_recursion<false, T>::work_size(g.count)));
        for (std::size_t c = 0; c < n_chunks; ++c) {
            while (!ready[c].load(std::memory_order_acquire)) {
                if (claimed.load(std::memory_order_acquire) == c && claim(c)) {
                    produce(c);
                    break;
                }
                std::this_thread::yield();  // the producer is computing chunk c right now
            }
            const T* f_rows[W];
            for (std::size_t i = 0; i < W; ++i) f_rows[i] = f_row(i < g.count ? i : 0, c);
            p2.chunk_step(c * chunk, std::min(chunk, cols - c * chunk), f_rows, f_rows);
        }
    };
    parallel_rows(2, [&](std::size_t i) { i == 0 ? producer() : consumer(); });
    return ok.load();
}

template <class T> struct param_sums {
    simd::wide<T> ct, cr, et, er, knee, at, rt, k;  // at/rt are α_a/α_r for the sigmoid gate
    param_sums() : ct(T(0)), cr(T(0)), et(T(0)), er(T(0)), knee(T(0)), at(T(0)), rt(T(0)), k(T(0)) {}
};

/// The knee-free curve's active branch at the level L (the same operations as compexp_gain_db<false>,
/// so the same lanes are active): distances dc = L − CT and de = ET − L, and the masks.
template <class V> struct hard_branch {
    V dc, de;
    typename V::batch_bool_type comp, exp;
    hard_branch() = default;
    DD_INLINE hard_branch(const prepared_curve<V>& c, const V& level) : dc(level - c.comp_thresh), de(c.exp_thresh - level) {
        const V gc = knee_gain<false>(dc, c.comp_slope, c.knee, c.inv_2w).value;
        const V ge = knee_gain<false>(de, c.exp_slope, c.knee, c.inv_2w).value;
        const auto to_comp = gc <= ge;
        const auto active = simd::pick(to_comp, gc, ge) < V(0);
        comp = active & to_comp;
        exp = active & !to_comp;
    }
};

/// The knee-free curve's chain rule for one wide vector: the partials of a hard branch are constants
/// times 1 or the distance (gain_curve.md), so the sums collect Σ∂g and Σ∂g·distance per branch
/// (acc.ct, acc.cr: compressor; acc.et, acc.er: expander) and the constants are applied once per
/// chunk (hard_branch_constants). Returns ∂x_rms, with the bits of curve_pullback (the same products).
template <class V>
DD_INLINE V hard_branch_pullback(const prepared_curve<V>& c, const hard_branch<V>& br, const V& gf, const V& fv,
                                 const V& x, param_sums<typename simd::scalar_of<V>::type>& acc) {
    using T = typename simd::scalar_of<V>::type;
    const V gg = gf * fv * V(ln10_over_20<T>::value), zero(T(0));
    const V g_comp = simd::pick(br.comp, gg, zero), g_exp = simd::pick(br.exp, gg, zero);
    acc.ct += g_comp;
    acc.cr = simd::fmadd(g_comp, br.dc, acc.cr);
    acc.et += g_exp;
    acc.er = simd::fmadd(g_exp, br.de, acc.er);
    const V level_partial = simd::pick(br.comp, -c.comp_slope, simd::pick(br.exp, c.exp_slope, zero));
    return gg * level_partial * V(db_per_neper<T>) / x;
}

/// Multipliers that turn hard_branch_pullback's sums into ∂CT, ∂CR, ∂ET, ∂ER: ∂g/∂CT = σ_c,
/// ∂g/∂CR = −dc·dσ_c/dCR, ∂g/∂ET = −σ_e, ∂g/∂ER = −de·dσ_e/dER on the active branch.
template <class T> std::array<double, 4> hard_branch_constants(const prepared_curve<simd::wide<T>>& c) {
    return {double(c.comp_slope.get(0)), -double(c.d_comp_slope.get(0)), -double(c.exp_slope.get(0)),
            -double(c.d_exp_slope.get(0))};
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

/// The adjoint recursion's state between chunks (going down): u_{t+WW} (broadcast), and the factor
/// ∂y_{s+1}/∂y_s of the vector to the right (lane 0 used).
template <class V> struct adjoint_state {
    V carry, factor_next;
};

/// Called after each chunk of a backward with the chunk and the state after it: whether to go on with
/// the chunk below. Always yes by default.
struct no_backward_progress {
    template <class State> bool operator()(std::size_t, const State&) const { return true; }
};

/// The backward of one row, in one pass from the last sample to the first with time in the widest
/// lanes; nothing is stored between phases. Per vector of samples t … t + WW − 1:
///   - the curve again: L = amp2db(x), f = db2amp(g_dB(L)), and the step's local derivatives from f
///     and y_{t−1} (read from y): hard gate β_t and 1 − β_t, sigmoid gate its step partials;
///   - the adjoint u_t = gy_t + (∂y_{t+1}/∂y_t)·u_{t+1} by reverse_linear_scan, the factor taken one
///     lane later (shift_down, the next vector's first lane at the top), u_{t+WW} carried in;
///   - ∂f = β·u (sigmoid: λ·∂y/∂g), the curve's chain rule to x_rms, and the parameter sums.
/// Sums are reduced to double every `chunk` samples (chunks at multiples of `chunk`, lanes at
/// multiples of WW: the order depends on the absolute sample index only); each chunk's reduced sums
/// go to sink(chunk, i, value), i = 0 … 7 (∂CT, ∂CR, ∂ET, ∂ER, ∂knee, ∂at, ∂rt, ∂k).
/// This runs the chunks c_top, c_top − 1, … from the adjoint's state `state` (left at the state after
/// the last chunk run) while progress(chunk just run, state after it) says go on;
/// compexp_backward_row runs a whole row.
template <bool Sigmoid, bool Knee, class T, class Sink, class Progress = no_backward_progress>
bool compexp_backward_chunks(const row_curve<T>& rc, T at, T rt, T k, const T* x, const T* y,
                             const strided_view<T>& grad_y, std::size_t b, std::size_t cols, T* gx,
                             std::size_t c_top, adjoint_state<simd::wide<T>>& state, Sink sink,
                             Progress progress = {}, std::ptrdiff_t next_row = 0) {
    using V = simd::wide<T>;
    constexpr std::size_t WW = V::size;
    const ar_coeffs<V> hard{V(at), V(rt)};
    const sigmoid_coeffs<V> sig{V(at), V(rt), V(k)};
    const bool in_place = grad_y.col_stride == 1;
    // Scratch: the chunk's levels and targets (phase A), and grad_y when it cannot be read in place.
    T* const level_buf = scratch<T>(3 * chunk + WW);
    T* const f_buf = level_buf + chunk;
    T* const gy_copy = f_buf + chunk;
    const std::array<double, 4> branch_scale = hard_branch_constants<T>(rc.curve);  // knee-free sums → ∂CT … ∂ER
    // Locals, not the caller's struct: stores to gx could alias it (vector types may alias anything).
    V carry = state.carry, factor_next = state.factor_next;
    auto ok = acceptable_level(V(T(1)));
    for (std::size_t c = c_top + 1; c-- > 0;) {
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
                ok = ok & curve_vectors<Knee, 1>(rc, xr, kk, n, f_buf, level_buf);
            // The previous chunk's x, y and grad_y (processed next) are prefetched meanwhile: the
            // hardware prefetcher follows descending streams less well than ascending ones.
            const T* const gy_row = in_place ? grad_y.data + std::ptrdiff_t(b) * grad_y.row_stride : nullptr;
            // In the row's first chunk (run last), the last chunk of the row the caller runs next
            // (next_row rows away: 1, −1, or 0 for none) is prefetched instead: without it, every row
            // starts on cold lines.
            const std::size_t next_last = (cols - 1) / chunk * chunk;  // the next row's last chunk
            for (std::size_t kk = whole_end; kk > 0;) {
                kk -= unroll * WW;
                if (t0 >= chunk) {
                    const std::size_t tp = t0 - chunk + kk;
                    for (std::size_t line = 0; line < unroll * WW; line += 64 / sizeof(T)) {
                        __builtin_prefetch(x + tp + line);
                        __builtin_prefetch(y + tp + line);
                        if (gy_row) __builtin_prefetch(gy_row + tp + line);
                    }
                } else if (next_row != 0 && next_last + kk < cols) {
                    const std::size_t tp = next_last + kk;
                    const std::ptrdiff_t row = next_row * std::ptrdiff_t(cols);
                    for (std::size_t line = 0; line < unroll * WW && tp + line < cols; line += 64 / sizeof(T)) {
                        __builtin_prefetch(x + row + tp + line);
                        __builtin_prefetch(y + row + tp + line);
                        if (gy_row) __builtin_prefetch(gy_row + next_row * grad_y.row_stride + tp + line);
                        if (gx) __builtin_prefetch(gx + row + tp + line, 1);
                    }
                }
                ok = ok & curve_vectors<Knee, unroll>(rc, xr, kk, n, f_buf, level_buf);
            }
        }
        param_sums<T> acc;
        // What one vector needs before and after the scan (recomputed forward quantities).
        struct local {
            V x, gy, y_prev, f, factor;
            typename V::batch_bool_type attack;
            bool unity;  // every lane in the curve's unity band: its partials are 0, L was not stored
            sigmoid_local<V> d;
            std::conditional_t<Knee, curve_partials<V>, hard_branch<V>> p;
        };
        auto prepare = [&](std::size_t kk) DD_INLINE_LAMBDA {
            local l;
            const bool whole = kk + WW <= n;
            l.x = whole ? V::load_unaligned(xr + kk) : simd::load_padded<V>(xr, kk, n, T(1));
            l.gy = whole ? V::load_unaligned(gy + kk) : simd::load_padded<V>(gy, kk, n, T(0));
            l.y_prev = simd::load_previous<V>(y, t0 + kk, cols, T(1));
            l.f = V::load_unaligned(f_buf + kk);
            l.unity = xsimd::all(rc.in_unity_band(l.x));
            if (!l.unity) {
                const V level = V::load_unaligned(level_buf + kk);
                if constexpr (Knee)
                    compexp_gain_db<true>(rc.curve, level, l.p);  // the partials
                else
                    l.p = hard_branch<V>(rc.curve, level);
            }
            if constexpr (Sigmoid) {
                l.d = sigmoid_step_partials(l.f, safe_db(l.f), l.y_prev, safe_db(l.y_prev), sig);
                l.factor = l.d.d_y_prev;
            } else {
                l.attack = l.f < l.y_prev;
                l.factor = simd::pick(l.attack, hard.keep_at, hard.keep_rt);
            }
            return l;
        };
        // u (λ for the sigmoid gate) of one vector: the only loop-carried step.
        auto scan = [&](const local& l) DD_INLINE_LAMBDA {
            const V u = simd::reverse_linear_scan(simd::shift_down<1>(l.factor, factor_next), l.gy, carry);
            carry = simd::broadcast_first(u);
            factor_next = l.factor;
            return u;
        };
        auto finish = [&](std::size_t kk, const local& l, const V& u) DD_INLINE_LAMBDA {
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
                if (gx) store_partial(gx + t0, kk, n, V(T(0)));
                return;
            }
            V gxv;
            if constexpr (Knee)
                gxv = curve_pullback(l.p, grad_f, l.f, l.x, acc);
            else
                gxv = hard_branch_pullback(rc.curve, l.p, grad_f, l.f, l.x, acc);
            if (gx) store_partial(gx + t0, kk, n, gxv);
        };
        // Vectors from the last to the first; two at a time where possible, so that their
        // preparations (independent chains) can be interleaved by the scheduler.
        std::size_t v = (n + WW - 1) / WW;
        if (v % 2) {
            --v;
            const local l = prepare(v * WW);
            finish(v * WW, l, scan(l));
        }
        for (; v > 0; v -= 2) {
            const local hi = prepare((v - 1) * WW), lo = prepare((v - 2) * WW);
            const V u_hi = scan(hi);
            const V u_lo = scan(lo);
            finish((v - 1) * WW, hi, u_hi);
            finish((v - 2) * WW, lo, u_lo);
        }
        const simd::wide<T> all[8] = {acc.ct, acc.cr, acc.et, acc.er, acc.knee, acc.at, acc.rt, acc.k};
        for (int i = 0; i < 8; ++i) sink(c, i, double(xsimd::hadd(all[i])) * (i < 4 && !Knee ? branch_scale[i] : 1.0));
        state = {carry, factor_next};
        if (!progress(c, state)) break;
    }
    return xsimd::all(ok);
}

/// Rows claimed by two threads from the two ends: one from the first row up, the other from the
/// last row down, one row at a time, until they meet. One atomic word holds both ends, so no row is
/// claimed twice; the row claimed when one is left is marked last.
class two_ended_claims {
public:
    struct claimed {
        bool valid;
        std::size_t row;
        bool last;
    };
    explicit two_ended_claims(std::size_t rows) : word_(pack(0, rows)) {}
    claimed claim(bool up) {
        std::uint64_t w = word_.load(std::memory_order_relaxed);
        for (;;) {
            const std::size_t lo = std::size_t(w >> 32), hi = std::size_t(w & 0xffffffffu);
            if (lo >= hi) return {false, 0, false};
            const std::uint64_t taken = up ? pack(lo + 1, hi) : pack(lo, hi - 1);
            if (word_.compare_exchange_weak(w, taken, std::memory_order_relaxed)) return {true, up ? lo : hi - 1, hi - lo == 1};
        }
    }

private:
    static std::uint64_t pack(std::size_t lo, std::size_t hi) { return (std::uint64_t(lo) << 32) | hi; }
    std::atomic<std::uint64_t> word_;
};

/// The backward of one row (compexp_backward_chunks over all its chunks), the sums added to `sums`
/// chunk by chunk from the last.
template <bool Sigmoid, bool Knee, class T>
bool compexp_backward_row(const row_curve<T>& rc, T at, T rt, T k, const T* x, const T* y,
                          const strided_view<T>& grad_y, std::size_t b, std::size_t cols, T* gx, double* sums,
                          std::ptrdiff_t next_row) {
    if (cols == 0) return true;
    adjoint_state<simd::wide<T>> state{simd::wide<T>(T(0)), simd::wide<T>(T(0))};
    return compexp_backward_chunks<Sigmoid, Knee>(rc, at, rt, k, x, y, grad_y, b, cols, gx, (cols - 1) / chunk, state,
                                                  [sums](std::size_t, int i, double v) { sums[i] += v; },
                                                  no_backward_progress{}, next_row);
}

/// The backward of one row on two threads, split in time without changing a bit, as the forward is
/// (two_thread_time_split, with the chunks taken from the last): the adjoint is a contraction too
/// (u_t = gy_t + (1 − β_{t+1})·u_{t+1}), so a run from a guessed carry (0) merges with the true one.
/// The state compared at a chunk's start is the carry u; the other half of the state, the factor of
/// the vector to the right, depends on x and y only. Each chunk's sums are kept apart and added at the
/// end in compexp_backward_row's order, so the sums have its bits too.
template <bool Sigmoid, bool Knee, class T>
bool compexp_backward_row_time_split(const row_curve<T>& rc, T at, T rt, T k, const T* x, const T* y,
                                     const strided_view<T>& grad_y, std::size_t b, std::size_t cols, T* gx,
                                     double* sums) {
    using V = simd::wide<T>;
    using state_t = adjoint_state<V>;
    const std::size_t n_chunks = (cols + chunk - 1) / chunk;
    std::vector<double> chunk_sums(8 * n_chunks);
    std::vector<T> carries(n_chunks);  // the guessed run's carry after each chunk (u at its first sample)
    auto chunk_at = [&](std::size_t i) { return n_chunks - 1 - i; };  // the split's i-th chunk, from the last
    auto keep_sum = [&](std::size_t c, int i, double v) { chunk_sums[8 * c + std::size_t(i)] = v; };
    auto run = [&](std::size_t i, state_t& state, auto progress) {
        return compexp_backward_chunks<Sigmoid, Knee>(rc, at, rt, k, x, y, grad_y, b, cols, gx, chunk_at(i), state,
                                                      keep_sum, [&](std::size_t c, const state_t& after) {
                                                          carries[c] = after.carry.get(0);
                                                          return progress(n_chunks - c);
                                                      });
    };
    auto guess = [&](std::size_t) { return state_t{V(T(0)), V(T(0))}; };
    auto rerun = [&](std::size_t i, state_t& state, bool& ok) {
        const std::size_t c = chunk_at(i);
        const T guessed = carries[c];
        ok &= compexp_backward_chunks<Sigmoid, Knee>(rc, at, rt, k, x, y, grad_y, b, cols, gx, c, state, keep_sum,
                                                     [](std::size_t, const state_t&) { return false; });
        const T exact = state.carry.get(0);
        return std::memcmp(&guessed, &exact, sizeof(T)) == 0;
    };
    static time_split_history history;
    const bool ok = two_thread_time_split(n_chunks, state_t{V(T(0)), V(T(0))}, run, guess, rerun, history);
    for (std::size_t c = n_chunks; c-- > 0;)
        for (std::size_t i = 0; i < 8; ++i) sums[i] += chunk_sums[8 * c + i];
    return ok;
}

}  // namespace

template <class T>
bool compexp_gain_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                         ar_mode mode, row_param<T> k, signal_span<T> gain) {
    // Rows that fit one vector of lanes, on two threads or more (hard gate): long rows are split in
    // time (one row on the one-row path, unless it takes stretches in lanes: below); short ones, when
    // they are few (2 to 3/4 of the lanes), pipeline P1 and P2 on two threads; otherwise two groups of
    // rows (make_groups), one per thread, are faster (each thread then pays a whole recursion chain,
    // but no f crosses between cores; measured for two vectors of rows too: float 12 and 16 rows,
    // double 6 and 8, against one group of two chains split in time). docs/benchmarks.md has the figures.
    const bool one_vector_on_two_threads =
        mode == ar_mode::hard && num_threads() >= 2 && x_rms.rows <= simd::lanes<T>;
    // A float row long enough for stretches in lanes runs them on one thread: two halves on the
    // one-row path were slower (1×480000: 0.88 ns/sample on one thread, 1.18 split on two).
    const bool one_row_in_stretches = x_rms.rows == 1 && stretch_warm_up_chunks<T>(x_rms.cols, at[0], rt[0]) > 0;
    if (one_vector_on_two_threads && x_rms.cols >= time_split_min_chunks * chunk && !one_row_in_stretches) {
        const row_group all{0, x_rms.rows};
        if (x_rms.rows > 1) return compexp_forward_group_time_split(x_rms, curve, at, rt, gain, all);
        const group_context<T> ctx(curve, at, rt, row_param<T>(T(1)), all);
        const auto& rc = ctx.curves[0];
        return rc.knee ? compexp_forward_single_time_split<true>(x_rms.data, x_rms.cols, rc, ctx, gain.data)
                       : compexp_forward_single_time_split<false>(x_rms.data, x_rms.cols, rc, ctx, gain.data);
    }
    if (one_vector_on_two_threads && x_rms.rows > 1 && 4 * x_rms.rows < 3 * simd::lanes<T>)
        return compexp_forward_group_pipelined(x_rms, curve, at, rt, gain, row_group{0, x_rms.rows});
    const auto groups = make_groups(x_rms.rows, max_chains * simd::lanes<T>);
    std::vector<unsigned char> ok(groups.size());
    parallel_rows(groups.size(), [&](std::size_t i) {
        ok[i] = mode == ar_mode::sigmoid ? compexp_forward_group<true>(x_rms, curve, at, rt, k, gain, groups[i])
                                         : compexp_forward_group<false>(x_rms, curve, at, rt, k, gain, groups[i]);
    });
    return std::all_of(ok.begin(), ok.end(), [](unsigned char v) { return v != 0; });
}

template <class T>
bool compexp_gain_backward_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at,
                                  row_param<T> rt, ar_mode mode, row_param<T> k, signal_view<T> gain,
                                  strided_arg<T> grad_gain, T* grad_x_rms, const compexp_param_grads<T>& curve_grads,
                                  T* grad_at, T* grad_rt, T* grad_k) {
    const std::size_t cols = x_rms.cols, rows = x_rms.rows;
    const int threads = num_threads();
    const bool long_rows = threads >= 2 && cols >= time_split_min_chunks * chunk;
    std::vector<unsigned char> ok(rows);
    // Row b's backward, split in time across two threads or not; next_row: the row this thread runs
    // next, relative to b (1, −1, 0 for none), whose first lines it prefetches.
    auto row_backward = [&](std::size_t b, bool split, std::ptrdiff_t next_row) {
        const row_curve<T> rc(curve.row(b));
        double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        T* gx = grad_x_rms ? grad_x_rms + b * cols : nullptr;
        auto run = [&](auto sigmoid, auto knee) {
            constexpr bool S = decltype(sigmoid)::value, K = decltype(knee)::value;
            return split ? compexp_backward_row_time_split<S, K>(rc, at[b], rt[b], k[b], x_rms.row(b), gain.row(b),
                                                                 grad_gain, b, cols, gx, s)
                         : compexp_backward_row<S, K>(rc, at[b], rt[b], k[b], x_rms.row(b), gain.row(b), grad_gain,
                                                      b, cols, gx, s, next_row);
        };
        using yes = std::true_type;
        using no = std::false_type;
        if (mode == ar_mode::sigmoid)
            ok[b] = rc.knee ? run(yes{}, yes{}) : run(yes{}, no{});
        else
            ok[b] = rc.knee ? run(no{}, yes{}) : run(no{}, no{});
        store_row(curve_grads.comp_thresh, b, s[0]);
        store_row(curve_grads.comp_ratio, b, s[1]);
        store_row(curve_grads.exp_thresh, b, s[2]);
        store_row(curve_grads.exp_ratio, b, s[3]);
        store_row(curve_grads.knee, b, s[4]);
        store_row(grad_at, b, s[5]);
        store_row(grad_rt, b, s[6]);
        if (mode == ar_mode::sigmoid) store_row(grad_k, b, s[7]);
    };
    if (long_rows && threads == 2 && rows >= 2) {
        // Two threads take rows from the two ends, and the row where they meet is split in time
        // (compexp_backward_row_time_split): the thread that takes it starts it, and the other joins
        // when its own last row is done, with a span chosen then from what is left and how fast the two
        // CPUs run. So they finish together even when the host runs one CPU slower than the other
        // (docs/benchmarks.md), where whole rows, half and half or one at a time, finish at the slower
        // one's pace.
        two_ended_claims claims(rows);
        parallel_rows(2, [&](std::size_t task) {
            const bool up = task == 0;
            for (auto c = claims.claim(up); c.valid; c = claims.claim(up))
                row_backward(c.row, c.last, c.last ? 0 : up ? 1 : -1);
        });
    } else {
        // Rows in parallel, each on one thread; a single long row split in time across two.
        const std::size_t split_rows = long_rows && rows == 1 ? 1 : 0;
        parallel_rows(rows - split_rows, [&](std::size_t b) { row_backward(b, false, b + 1 < rows ? 1 : 0); });
        for (std::size_t b = rows - split_rows; b < rows; ++b) row_backward(b, true, 0);
    }
    return std::all_of(ok.begin(), ok.end(), [](unsigned char v) { return v != 0; });
}

#define DD_INSTANTIATE(T)                                                                                        \
    template bool compexp_gain_kernel<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,   \
                                         ar_mode, row_param<T>, signal_span<T>);                                 \
    template bool compexp_gain_backward_kernel<T>(signal_view<T>, const compexp_params<T>&, row_param<T>,        \
                                                  row_param<T>, ar_mode, row_param<T>, signal_view<T>,           \
                                                  strided_arg<T>, T*, const compexp_param_grads<T>&, T*, T*, T*);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
