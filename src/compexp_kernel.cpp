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
// the absolute sample index only (chunks start at multiples of `chunk`, lane = t mod W), so results
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

/// P1 for one row: f (and optionally L) for n samples, padded with neutral values up to a multiple
/// of the lane count (x = 1 → L = 0, f = 1).
template <class T>
void curve_phase(const prepared_curve<simd::vec<T>>& curve, const T* x, std::size_t n, T* x_out, T* level_out,
                 T* f_out) {
    using V = simd::vec<T>;
    constexpr std::size_t W = simd::lanes<T>;
    const std::size_t padded = (n + W - 1) / W * W;
    for (std::size_t k = 0; k < padded; k += W) {
        V xv;
        if (k + W <= n) {
            xv = V::load_unaligned(x + k);
        } else {
            alignas(64) T tmp[W];
            for (std::size_t i = 0; i < W; ++i) tmp[i] = k + i < n ? x[k + i] : T(1);
            xv = V::load_aligned(tmp);
        }
        const V level = simd::amp2db<T>(xv);
        const V f = simd::db2amp<T>(compexp_gain_db(curve, level));
        if (x_out) xv.store_unaligned(x_out + k);
        if (level_out) level.store_unaligned(level_out + k);
        f.store_unaligned(f_out + k);
    }
}

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
    std::vector<T> f(g.count * chunk), y_rows(multi ? g.count * chunk : 0), scratch(multi ? chunk : 0);
    std::vector<T> lanes_f(multi ? chunk * W : 0), lanes_y(lanes_f.size());
    const T* f_rows[W];
    T* y_rows_out[W];
    lane_rows<T>(static_cast<const T*>(f.data()), static_cast<const T*>(f.data()), g.count, f_rows);
    lane_rows<T>(y_rows.data(), scratch.data(), g.count, y_rows_out);
    std::vector<prepared_curve<V>> curves;
    for (std::size_t r = 0; r < g.count; ++r) curves.push_back(prepared_curve<V>::from(params.row(g.first + r)));
    const group_lanes<T> lanes(at, rt, g);
    const ar_coeffs<V> coeffs(V::load_unaligned(lanes.at), V::load_unaligned(lanes.rt));
    V state(T(1));
    for (std::size_t t0 = 0; t0 < cols; t0 += chunk) {
        const std::size_t n = std::min(chunk, cols - t0), padded = (n + W - 1) / W * W;
        for (std::size_t r = 0; r < g.count; ++r)
            curve_phase<T>(curves[r], x.row(g.first + r) + t0, n, nullptr, nullptr, f.data() + r * chunk);
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
        simd::to_lanes(f_rows, 0, padded, lanes_f.data());
        for (std::size_t k = 0; k < n; ++k) {
            state = hard_smoother_step(V::load_unaligned(&lanes_f[k * W]), state, coeffs);
            state.store_unaligned(&lanes_y[k * W]);
        }
        simd::from_lanes(lanes_y.data(), 0, padded, y_rows_out);
        for (std::size_t r = 0; r < g.count; ++r)
            std::copy(y_rows.data() + r * chunk, y_rows.data() + r * chunk + n, y.row(g.first + r) + t0);
    }
}

template <class T> struct param_sums {
    simd::vec<T> ct, cr, et, er, knee, at, rt;
    param_sums() : ct(T(0)), cr(T(0)), et(T(0)), er(T(0)), knee(T(0)), at(T(0)), rt(T(0)) {}
};

template <class T>
void compexp_backward_group(signal_view<T> x, const compexp_params<T>& params, row_param<T> at, row_param<T> rt,
                            signal_view<T> y, strided_view<T> grad_y, T* grad_x, const compexp_param_grads<T>& curve_grads,
                            T* grad_at, T* grad_rt, const row_group& g) {
    using V = simd::vec<T>;
    constexpr std::size_t W = simd::lanes<T>;
    const std::size_t cols = x.cols;
    const std::size_t m = g.count * chunk;
    const bool multi = g.count > 1;
    std::vector<T> xs(m), level(m), f(m), y_prev(m), gy(m), u(m), scratch(multi ? chunk : 0);
    std::vector<T> lanes_f(multi ? chunk * W : 0), lanes_yp(lanes_f.size()), lanes_gy(lanes_f.size()),
        lanes_u(lanes_f.size());
    const T *f_rows[W], *yp_rows[W], *gy_rows[W];
    T* u_rows[W];
    lane_rows<T>(static_cast<const T*>(f.data()), static_cast<const T*>(f.data()), g.count, f_rows);
    lane_rows<T>(static_cast<const T*>(y_prev.data()), static_cast<const T*>(y_prev.data()), g.count, yp_rows);
    lane_rows<T>(static_cast<const T*>(gy.data()), static_cast<const T*>(gy.data()), g.count, gy_rows);
    lane_rows<T>(u.data(), scratch.data(), g.count, u_rows);
    std::vector<prepared_curve<V>> curves;
    for (std::size_t r = 0; r < g.count; ++r) curves.push_back(prepared_curve<V>::from(params.row(g.first + r)));
    const group_lanes<T> lanes(at, rt, g);
    const ar_coeffs<V> coeffs(V::load_unaligned(lanes.at), V::load_unaligned(lanes.rt));
    std::vector<double> sums(g.count * 7, 0.0);
    V u_next(T(0)), keep_next(T(0));

    const std::size_t n_chunks = (cols + chunk - 1) / chunk;
    for (std::size_t c = n_chunks; c-- > 0;) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, cols - t0);
        const std::size_t padded = (n + W - 1) / W * W;
        // P1: level and target; y_{t−1} (zi = 1 before the first sample) and grad_y, padded neutrally.
        for (std::size_t r = 0; r < g.count; ++r) {
            const std::size_t o = r * chunk;
            curve_phase<T>(curves[r], x.row(g.first + r) + t0, n, xs.data() + o, level.data() + o, f.data() + o);
            const T* yr = y.row(g.first + r);
            T* yp = y_prev.data() + o;
            if (t0 == 0) {
                yp[0] = T(1);
                std::copy(yr, yr + n - 1, yp + 1);
            } else {
                std::copy(yr + t0 - 1, yr + t0 - 1 + n, yp);
            }
            std::fill(yp + n, yp + padded, T(1));
            grad_y.copy_row(g.first + r, t0, n, gy.data() + o);
            std::fill(gy.data() + o + n, gy.data() + o + padded, T(0));
        }
        // P2: u_t = gy_t + (1 − β_{t+1})·u_{t+1}, backwards in time.
        if (!multi) {  // broadcast, as in the forward: branch-free
            for (std::size_t k = n; k-- > 0;) {
                u_next = hard_smoother_adjoint_step(V(gy[k]), keep_next, u_next);
                u[k] = u_next.get(0);
                keep_next = simd::pick(V(f[k]) < V(y_prev[k]), coeffs.keep_at, coeffs.keep_rt);
            }
        } else {
            simd::to_lanes(f_rows, 0, padded, lanes_f.data());
            simd::to_lanes(yp_rows, 0, padded, lanes_yp.data());
            simd::to_lanes(gy_rows, 0, padded, lanes_gy.data());
            for (std::size_t k = n; k-- > 0;) {
                u_next = hard_smoother_adjoint_step(V::load_unaligned(&lanes_gy[k * W]), keep_next, u_next);
                u_next.store_unaligned(&lanes_u[k * W]);
                const auto attack = V::load_unaligned(&lanes_f[k * W]) < V::load_unaligned(&lanes_yp[k * W]);
                keep_next = simd::pick(attack, coeffs.keep_at, coeffs.keep_rt);
            }
            simd::from_lanes(lanes_u.data(), 0, padded, u_rows);
        }
        // P3: gradients, time in lanes.
        for (std::size_t r = 0; r < g.count; ++r) {
            const std::size_t o = r * chunk;
            for (std::size_t k = n; k < padded; ++k) u[o + k] = T(0);  // padding contributes exactly 0
            const prepared_curve<V>& cv = curves[r];
            const V at_v(at[g.first + r]), rt_v(rt[g.first + r]), zero(T(0));
            param_sums<T> acc;
            T* gx = grad_x ? grad_x + (g.first + r) * cols + t0 : nullptr;
            for (std::size_t k = 0; k < padded; k += W) {
                const V fv = V::load_unaligned(&f[o + k]), yp = V::load_unaligned(&y_prev[o + k]);
                const V uv = V::load_unaligned(&u[o + k]);
                const auto attack = fv < yp;
                const V ud = uv * (fv - yp);
                acc.at += simd::pick(attack, ud, zero);
                acc.rt += simd::pick(attack, zero, ud);
                curve_partials<V> p;
                compexp_gain_db(cv, V::load_unaligned(&level[o + k]), p);
                const V gg = simd::pick(attack, at_v, rt_v) * uv * fv * V(ln10_over_20<T>::value);
                acc.ct += gg * p.comp_thresh;
                acc.cr += gg * p.comp_ratio;
                acc.et += gg * p.exp_thresh;
                acc.er += gg * p.exp_ratio;
                acc.knee += gg * p.knee;
                if (gx) {
                    const V gxv = gg * p.level * V(db_per_neper<T>) / V::load_unaligned(&xs[o + k]);
                    if (k + W <= n) {
                        gxv.store_unaligned(gx + k);
                    } else {
                        alignas(64) T tmp[W];
                        gxv.store_aligned(tmp);
                        for (std::size_t i = 0; k + i < n; ++i) gx[k + i] = tmp[i];
                    }
                }
            }
            double* s = &sums[r * 7];
            const V all[7] = {acc.ct, acc.cr, acc.et, acc.er, acc.knee, acc.at, acc.rt};
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
