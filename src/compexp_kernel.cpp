// compexp_gain with the hard gate (SPEC §2.3): the vectorised batch kernel, forward and backward.
//
// Rows are processed in groups (one row per SIMD lane in the recursion), time in chunks that stay in
// cache, each chunk in three phases:
//   P1  per row, time in SIMD lanes: L = amp2db(x), f = db2amp(g_dB(L))          (the expensive part)
//   P2  rows in SIMD lanes (or scalar for a one-row group): the serial recursion over time —
//       forward: hard_smoother_step; backward: hard_smoother_adjoint_step, u_t
//   P3  (backward) per row, time in lanes: ∂f = β·u, the curve's chain rule to x_rms, and the
//       parameter sums (per chunk in lanes, then added in double per row).
// The per-sample math is the shared steps of ballistics.hpp / gain_curve.hpp / simd.hpp, so y has
// the same bits as the scalar row kernels and the streaming form. The order of every sum depends on
// the absolute sample index only (chunks start at multiples of `chunk`, lane = t mod wide_lanes), so results
// do not depend on how rows are grouped or on the number of threads.
#include <algorithm>
#include <vector>

#include "differential_dynamics/compressor.hpp"

namespace dd {

namespace {

constexpr std::size_t chunk = 2048;  // samples per row per chunk (a multiple of every lane count)

struct row_group {
    std::size_t first, count;
};

/// Groups of at most `lanes` rows; with fewer groups than threads the rows are spread out so that
/// every thread has a group (the recursion is latency-bound: a half-empty vector costs the same).
std::vector<row_group> make_groups(std::size_t rows, std::size_t lanes) {
    std::size_t n = (rows + lanes - 1) / lanes;
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

/// Loads x[k..k+WW) (k + WW may pass n: the rest is `fill`).
template <class V, class T> V load_padded(const T* x, std::size_t k, std::size_t n, T fill) {
    constexpr std::size_t WW = V::size;
    if (k + WW <= n) return V::load_unaligned(x + k);
    alignas(64) T tmp[WW];
    for (std::size_t i = 0; i < WW; ++i) tmp[i] = k + i < n ? x[k + i] : fill;
    return V::load_aligned(tmp);
}

/// P1 for one row: f (and optionally x and L) for n samples with time in the widest lanes, padded
/// up to a multiple of the lane count with neutral values (x = 1 → L = 0, f = 1).
template <bool Knee, class T>
void curve_phase(const prepared_curve<simd::wide<T>>& curve, const T* x, std::size_t n, T* x_out, T* level_out,
                 T* f_out) {
    using V = simd::wide<T>;
    constexpr std::size_t WW = simd::wide_lanes<T>;
    for (std::size_t k = 0; k < n; k += WW) {
        const V xv = load_padded<V>(x, k, n, T(1));
        const V level = simd::amp2db(xv);
        const V f = simd::db2amp(compexp_gain_db<Knee>(curve, level));
        if (x_out) xv.store_unaligned(x_out + k);
        if (level_out) level.store_unaligned(level_out + k);
        f.store_unaligned(f_out + k);
    }
}

/// A row's curve for the wide phases, with the knee-free specialisation chosen once per row.
template <class T> struct row_curve {
    prepared_curve<simd::wide<T>> curve;
    bool knee;
    row_curve(const compexp_curve<T>& c) : curve(prepared_curve<simd::wide<T>>::from(c)), knee(c.knee != T(0)) {}
    void targets(const T* x, std::size_t n, T* x_out, T* level_out, T* f_out) const {
        if (knee)
            curve_phase<true>(curve, x, n, x_out, level_out, f_out);
        else
            curve_phase<false>(curve, x, n, x_out, level_out, f_out);
    }
};

template <class T> struct group_lanes {
    static constexpr std::size_t W = simd::lanes<T>;
    T at[W], rt[W];
    /// Lane r carries row first + r; lanes past the group repeat its first row (results discarded).
    group_lanes(const row_param<T>& a, const row_param<T>& r, const row_group& g) {
        for (std::size_t i = 0; i < W; ++i) {
            const std::size_t row = g.first + (i < g.count ? i : 0);
            at[i] = a[row];
            rt[i] = r[row];
        }
    }
};

/// Row pointers for the W lanes of a group: lane i < count → buffer + i·chunk, padding lanes → `pad`.
template <class T, class P> void lane_rows(P* base, P* pad, std::size_t count, P** out) {
    for (std::size_t i = 0; i < simd::lanes<T>; ++i) out[i] = i < count ? base + i * chunk : pad;
}

template <class T>
void compexp_forward_group(signal_view<T> x, const compexp_params<T>& params, row_param<T> at, row_param<T> rt,
                           signal_span<T> y, const row_group& g) {
    using V = simd::vec<T>;
    constexpr std::size_t W = simd::lanes<T>;
    const std::size_t cols = x.cols;
    const bool multi = g.count > 1;
    // Scratch: f and y per row, one padding row, f and y in lanes.
    T* const f = scratch<T>((2 * g.count + 1) * chunk + 2 * chunk * W);
    T* const y_buf = f + g.count * chunk;
    T* const pad = y_buf + g.count * chunk;
    T* const lanes_f = pad + chunk;
    T* const lanes_y = lanes_f + chunk * W;
    const T* f_rows[W];
    T* y_rows_out[W];
    lane_rows<T>(static_cast<const T*>(f), static_cast<const T*>(f), g.count, f_rows);
    lane_rows<T>(y_buf, pad, g.count, y_rows_out);
    std::vector<row_curve<T>> curves;
    for (std::size_t r = 0; r < g.count; ++r) curves.emplace_back(params.row(g.first + r));
    const group_lanes<T> lanes(at, rt, g);
    const ar_coeffs<V> coeffs(V::load_unaligned(lanes.at), V::load_unaligned(lanes.rt));
    V state(T(1));
    for (std::size_t t0 = 0; t0 < cols; t0 += chunk) {
        const std::size_t n = std::min(chunk, cols - t0), padded = (n + W - 1) / W * W;
        for (std::size_t r = 0; r < g.count; ++r)
            curves[r].targets(x.row(g.first + r) + t0, n, nullptr, nullptr, f + r * chunk);
        if (!multi) {
            // One row: the vector step on a broadcast sample keeps the recursion branch-free (a
            // scalar compare-and-branch mispredicts at every attack/release flip).
            T* out = y.row(g.first) + t0;
            for (std::size_t k = 0; k < n; ++k) {
                state = hard_smoother_step(V(f[k]), state, coeffs);
                out[k] = state.get(0);
            }
            continue;
        }
        simd::to_lanes(f_rows, 0, padded, lanes_f);
        for (std::size_t k = 0; k < n; ++k) {
            state = hard_smoother_step(V::load_unaligned(&lanes_f[k * W]), state, coeffs);
            state.store_unaligned(&lanes_y[k * W]);
        }
        if (n == padded) {  // whole blocks: transpose straight into the output rows
            T* out_rows[W];
            for (std::size_t i = 0; i < W; ++i) out_rows[i] = i < g.count ? y.row(g.first + i) + t0 : pad;
            simd::from_lanes(static_cast<const T*>(lanes_y), 0, padded, out_rows);
            continue;
        }
        simd::from_lanes(static_cast<const T*>(lanes_y), 0, padded, y_rows_out);
        for (std::size_t r = 0; r < g.count; ++r)
            std::copy(y_buf + r * chunk, y_buf + r * chunk + n, y.row(g.first + r) + t0);
    }
}

template <class T> struct param_sums {
    simd::wide<T> ct, cr, et, er, knee, at, rt;
    param_sums() : ct(T(0)), cr(T(0)), et(T(0)), er(T(0)), knee(T(0)), at(T(0)), rt(T(0)) {}
};

/// P3 for one row: ∂f = β·u, the chain rule through the curve to x_rms (written to gx, if wanted)
/// and the parameter sums of this chunk, with time in the widest lanes.
template <bool Knee, class T>
void gradient_phase(const prepared_curve<simd::wide<T>>& cv, T at, T rt, std::size_t n, const T* f, const T* y_prev,
                    const T* u, const T* level, const T* xs, T* gx, param_sums<T>& acc) {
    using V = simd::wide<T>;
    constexpr std::size_t WW = simd::wide_lanes<T>;
    const V at_v(at), rt_v(rt), zero(T(0));
    for (std::size_t k = 0; k < n; k += WW) {
        const V fv = V::load_unaligned(f + k), yp = V::load_unaligned(y_prev + k);
        const V uv = V::load_unaligned(u + k);
        const auto attack = fv < yp;
        const V ud = uv * (fv - yp);
        acc.at += simd::pick(attack, ud, zero);
        acc.rt += simd::pick(attack, zero, ud);
        curve_partials<V> p;
        compexp_gain_db<Knee>(cv, V::load_unaligned(level + k), p);
        const V gg = simd::pick(attack, at_v, rt_v) * uv * fv * V(ln10_over_20<T>::value);
        acc.ct += gg * p.comp_thresh;
        acc.cr += gg * p.comp_ratio;
        acc.et += gg * p.exp_thresh;
        acc.er += gg * p.exp_ratio;
        if constexpr (Knee) acc.knee += gg * p.knee;
        if (gx) {
            const V gxv = gg * p.level * V(db_per_neper<T>) / V::load_unaligned(xs + k);
            if (k + WW <= n) {
                gxv.store_unaligned(gx + k);
            } else {
                alignas(64) T tmp[WW];
                gxv.store_aligned(tmp);
                for (std::size_t i = 0; k + i < n; ++i) gx[k + i] = tmp[i];
            }
        }
    }
}

template <class T>
void compexp_backward_group(signal_view<T> x, const compexp_params<T>& params, row_param<T> at, row_param<T> rt,
                            signal_view<T> y, strided_view<T> grad_y, T* grad_x, const compexp_param_grads<T>& curve_grads,
                            T* grad_at, T* grad_rt, const row_group& g) {
    using V = simd::vec<T>;
    constexpr std::size_t W = simd::lanes<T>, WW = simd::wide_lanes<T>;
    const std::size_t cols = x.cols;
    const std::size_t m = g.count * chunk;
    const bool multi = g.count > 1;
    // Scratch: x, L, f, y_{t−1}, grad_y, u per row; a padding row; f, y_{t−1}, grad_y, u in lanes.
    T* const xs = scratch<T>(6 * m + chunk + 4 * chunk * W);
    T* const level = xs + m;
    T* const f = level + m;
    T* const y_prev = f + m;
    T* const gy = y_prev + m;
    T* const u = gy + m;
    T* const pad = u + m;
    T* const lanes_f = pad + chunk;
    T* const lanes_yp = lanes_f + chunk * W;
    T* const lanes_gy = lanes_yp + chunk * W;
    T* const lanes_u = lanes_gy + chunk * W;
    const T *f_rows[W], *yp_rows[W], *gy_rows[W];
    T* u_rows[W];
    lane_rows<T>(static_cast<const T*>(f), static_cast<const T*>(f), g.count, f_rows);
    lane_rows<T>(static_cast<const T*>(y_prev), static_cast<const T*>(y_prev), g.count, yp_rows);
    lane_rows<T>(static_cast<const T*>(gy), static_cast<const T*>(gy), g.count, gy_rows);
    lane_rows<T>(u, pad, g.count, u_rows);
    std::vector<row_curve<T>> curves;
    for (std::size_t r = 0; r < g.count; ++r) curves.emplace_back(params.row(g.first + r));
    const group_lanes<T> lanes(at, rt, g);
    const ar_coeffs<V> coeffs(V::load_unaligned(lanes.at), V::load_unaligned(lanes.rt));
    std::vector<double> sums(g.count * 7, 0.0);
    V u_next(T(0)), keep_next(T(0));

    const std::size_t n_chunks = (cols + chunk - 1) / chunk;
    for (std::size_t c = n_chunks; c-- > 0;) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, cols - t0);
        const std::size_t padded = (n + W - 1) / W * W;                             // P2 blocks
        const std::size_t wide_padded = (n + WW - 1) / WW * WW;                     // P1/P3 vectors
        // P1: level and target; y_{t−1} (zi = 1 before the first sample) and grad_y, padded neutrally.
        for (std::size_t r = 0; r < g.count; ++r) {
            const std::size_t o = r * chunk;
            curves[r].targets(x.row(g.first + r) + t0, n, xs + o, level + o, f + o);
            const T* yr = y.row(g.first + r);
            T* yp = y_prev + o;
            if (t0 == 0) {
                yp[0] = T(1);
                std::copy(yr, yr + n - 1, yp + 1);
            } else {
                std::copy(yr + t0 - 1, yr + t0 - 1 + n, yp);
            }
            std::fill(yp + n, yp + wide_padded, T(1));
            grad_y.copy_row(g.first + r, t0, n, gy + o);
            std::fill(gy + o + n, gy + o + wide_padded, T(0));
        }
        // P2: u_t = gy_t + (1 − β_{t+1})·u_{t+1}, backwards in time.
        if (!multi) {  // broadcast, as in the forward: branch-free
            for (std::size_t k = n; k-- > 0;) {
                u_next = hard_smoother_adjoint_step(V(gy[k]), keep_next, u_next);
                u[k] = u_next.get(0);
                keep_next = simd::pick(V(f[k]) < V(y_prev[k]), coeffs.keep_at, coeffs.keep_rt);
            }
        } else {
            simd::to_lanes(f_rows, 0, padded, lanes_f);
            simd::to_lanes(yp_rows, 0, padded, lanes_yp);
            simd::to_lanes(gy_rows, 0, padded, lanes_gy);
            for (std::size_t k = n; k-- > 0;) {
                u_next = hard_smoother_adjoint_step(V::load_unaligned(&lanes_gy[k * W]), keep_next, u_next);
                u_next.store_unaligned(&lanes_u[k * W]);
                const auto attack = V::load_unaligned(&lanes_f[k * W]) < V::load_unaligned(&lanes_yp[k * W]);
                keep_next = simd::pick(attack, coeffs.keep_at, coeffs.keep_rt);
            }
            simd::from_lanes(static_cast<const T*>(lanes_u), 0, padded, u_rows);
        }
        // P3: gradients, time in the widest lanes.
        for (std::size_t r = 0; r < g.count; ++r) {
            const std::size_t o = r * chunk;
            std::fill(u + o + n, u + o + wide_padded, T(0));  // padding contributes exactly 0
            param_sums<T> acc;
            T* gx = grad_x ? grad_x + (g.first + r) * cols + t0 : nullptr;
            if (curves[r].knee)
                gradient_phase<true>(curves[r].curve, at[g.first + r], rt[g.first + r], n, f + o, y_prev + o, u + o,
                                     level + o, xs + o, gx, acc);
            else
                gradient_phase<false>(curves[r].curve, at[g.first + r], rt[g.first + r], n, f + o, y_prev + o, u + o,
                                      level + o, xs + o, gx, acc);
            double* s = &sums[r * 7];
            const simd::wide<T> all[7] = {acc.ct, acc.cr, acc.et, acc.er, acc.knee, acc.at, acc.rt};
            for (int i = 0; i < 7; ++i) s[i] += double(xsimd::hadd(all[i]));
        }
    }
    for (std::size_t r = 0; r < g.count; ++r) {
        const std::size_t b = g.first + r;
        const double* s = &sums[r * 7];
        store_row(curve_grads.comp_thresh, b, s[0]);
        store_row(curve_grads.comp_ratio, b, s[1]);
        store_row(curve_grads.exp_thresh, b, s[2]);
        store_row(curve_grads.exp_ratio, b, s[3]);
        store_row(curve_grads.knee, b, s[4]);
        store_row(grad_at, b, s[5]);
        store_row(grad_rt, b, s[6]);
    }
}

}  // namespace

template <class T>
void compexp_gain_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                         signal_span<T> gain) {
    const auto groups = make_groups(x_rms.rows, simd::lanes<T>);
    parallel_rows(groups.size(), [&](std::size_t i) { compexp_forward_group(x_rms, curve, at, rt, gain, groups[i]); });
}

template <class T>
void compexp_gain_backward_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at,
                                  row_param<T> rt, signal_view<T> gain, strided_arg<T> grad_gain, T* grad_x_rms,
                                  const compexp_param_grads<T>& curve_grads, T* grad_at, T* grad_rt) {
    const auto groups = make_groups(x_rms.rows, simd::lanes<T>);
    parallel_rows(groups.size(), [&](std::size_t i) {
        compexp_backward_group(x_rms, curve, at, rt, gain, grad_gain, grad_x_rms, curve_grads, grad_at, grad_rt,
                               groups[i]);
    });
}

#define DD_INSTANTIATE(T)                                                                                        \
    template void compexp_gain_kernel<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,   \
                                         signal_span<T>);                                                        \
    template void compexp_gain_backward_kernel<T>(signal_view<T>, const compexp_params<T>&, row_param<T>,        \
                                                  row_param<T>, signal_view<T>, strided_arg<T>, T*,              \
                                                  const compexp_param_grads<T>&, T*, T*);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
