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

/// What a group's phases need besides the signals: each row's curve, and both gates' coefficients
/// with one row per lane.
template <class T> struct group_context {
    using V = simd::vec<T>;
    std::vector<row_curve<T>> curves;
    ar_coeffs<V> hard;
    sigmoid_coeffs<V> sigmoid;
    group_context(const compexp_params<T>& params, row_param<T> at, row_param<T> rt, row_param<T> k,
                  const row_group& g) {
        for (std::size_t r = 0; r < g.count; ++r) curves.emplace_back(params.row(g.first + r));
        const group_lanes<T> lanes(at, rt, k, g);
        const V at_l = V::load_unaligned(lanes.at), rt_l = V::load_unaligned(lanes.rt);
        hard = ar_coeffs<V>(at_l, rt_l);
        sigmoid = {at_l, rt_l, V::load_unaligned(lanes.k)};
    }
};

/// sdb of n values (padded to whole wide vectors), for the sigmoid gate.
template <class T> void safe_db_phase(const T* in, std::size_t n, T* out) {
    using V = simd::wide<T>;
    for (std::size_t k = 0; k < n; k += V::size) safe_db(V::load_unaligned(in + k)).store_unaligned(out + k);
}

/// Row pointers for the W lanes of a group: lane i < count → buffer + i·chunk, padding lanes → `pad`.
template <class T, class P> void lane_rows(P* base, P* pad, std::size_t count, P** out) {
    for (std::size_t i = 0; i < simd::lanes<T>; ++i) out[i] = i < count ? base + i * chunk : pad;
}
/// Read-only lanes: padding lanes repeat the first row.
template <class T> void lane_rows(const T* base, std::size_t count, const T** out) {
    lane_rows<T>(base, base, count, out);
}

/// The gate's recursion state for the rows in lanes: y, and sdb(y) for the sigmoid gate.
template <class V> struct gate_state {
    V y, ly;
};

template <bool Sigmoid, class T>
void compexp_forward_group(signal_view<T> x, const compexp_params<T>& params, row_param<T> at, row_param<T> rt,
                           row_param<T> kk, signal_span<T> y, const row_group& g) {
    using V = simd::vec<T>;
    constexpr std::size_t W = simd::lanes<T>;
    const std::size_t cols = x.cols;
    const bool multi = g.count > 1;
    // Scratch: f, sdb(f) and y per row, one padding row, f, sdb(f) and y in lanes.
    T* const f = scratch<T>((3 * g.count + 1) * chunk + 3 * chunk * W);
    T* const lg = f + g.count * chunk;
    T* const y_buf = lg + g.count * chunk;
    T* const pad = y_buf + g.count * chunk;
    T* const lanes_f = pad + chunk;
    T* const lanes_lg = lanes_f + chunk * W;
    T* const lanes_y = lanes_lg + chunk * W;
    const T *f_rows[W], *lg_rows[W];
    T* y_rows_out[W];
    lane_rows<T>(f, g.count, f_rows);
    lane_rows<T>(lg, g.count, lg_rows);
    lane_rows<T>(y_buf, pad, g.count, y_rows_out);
    const group_context<T> ctx(params, at, rt, kk, g);
    const auto& curves = ctx.curves;
    gate_state<V> state{V(T(1)), safe_db(V(T(1)))};
    // One step of the gate; f and lg are lane vectors (broadcast for a one-row group).
    auto step = [&](const V& fv, const V& lgv) {
        if constexpr (Sigmoid)
            state.y = sigmoid_smoother_step(fv, lgv, state.y, state.ly, ctx.sigmoid);
        else
            state.y = hard_smoother_step(fv, state.y, ctx.hard);
    };
    for (std::size_t t0 = 0; t0 < cols; t0 += chunk) {
        const std::size_t n = std::min(chunk, cols - t0), padded = (n + W - 1) / W * W;
        for (std::size_t r = 0; r < g.count; ++r) {
            curves[r].targets(x.row(g.first + r) + t0, n, nullptr, nullptr, f + r * chunk);
            if constexpr (Sigmoid) safe_db_phase(f + r * chunk, n, lg + r * chunk);
        }
        if (!multi) {
            // One row: the vector step on a broadcast sample keeps the recursion branch-free (a
            // scalar compare-and-branch mispredicts at every attack/release flip).
            T* out = y.row(g.first) + t0;
            for (std::size_t k = 0; k < n; ++k) {
                step(V(f[k]), Sigmoid ? V(lg[k]) : V(T(0)));
                out[k] = state.y.get(0);
            }
            continue;
        }
        simd::to_lanes(f_rows, 0, padded, lanes_f);
        if constexpr (Sigmoid) simd::to_lanes(lg_rows, 0, padded, lanes_lg);
        for (std::size_t k = 0; k < n; ++k) {
            step(V::load_unaligned(&lanes_f[k * W]), Sigmoid ? V::load_unaligned(&lanes_lg[k * W]) : V(T(0)));
            state.y.store_unaligned(&lanes_y[k * W]);
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
    simd::wide<T> ct, cr, et, er, knee, at, rt, k;  // at/rt are α_a/α_r for the sigmoid gate
    param_sums() : ct(T(0)), cr(T(0)), et(T(0)), er(T(0)), knee(T(0)), at(T(0)), rt(T(0)), k(T(0)) {}
};

/// The curve's chain rule for one wide vector: ∂f → ∂g_dB → x_rms (returned) and the curve sums.
template <bool Knee, class V>
V curve_pullback(const prepared_curve<V>& cv, const V& gf, const V& fv, const V& level, const V& x,
                 param_sums<typename simd::scalar_of<V>::type>& acc) {
    using T = typename simd::scalar_of<V>::type;
    curve_partials<V> p;
    compexp_gain_db<Knee>(cv, level, p);
    const V gg = gf * fv * V(ln10_over_20<T>::value);
    acc.ct += gg * p.comp_thresh;
    acc.cr += gg * p.comp_ratio;
    acc.et += gg * p.exp_thresh;
    acc.er += gg * p.exp_ratio;
    if constexpr (Knee) acc.knee += gg * p.knee;
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

/// P3 for one row, hard gate: ∂f = β·u, the chain rule through the curve to x_rms (written to gx, if
/// wanted) and the parameter sums of this chunk, with time in the widest lanes.
template <bool Knee, class T>
void gradient_phase(const prepared_curve<simd::wide<T>>& cv, T at, T rt, std::size_t n, const T* f, const T* y_prev,
                    const T* u, const T* level, const T* xs, T* gx, param_sums<T>& acc) {
    using V = simd::wide<T>;
    const V at_v(at), rt_v(rt), zero(T(0));
    for (std::size_t k = 0; k < n; k += V::size) {
        const V fv = V::load_unaligned(f + k), yp = V::load_unaligned(y_prev + k);
        const V uv = V::load_unaligned(u + k);
        const auto attack = fv < yp;
        const V ud = uv * (fv - yp);
        acc.at += simd::pick(attack, ud, zero);
        acc.rt += simd::pick(attack, zero, ud);
        const V gxv = curve_pullback<Knee>(cv, simd::pick(attack, at_v, rt_v) * uv, fv, V::load_unaligned(level + k),
                                           V::load_unaligned(xs + k), acc);
        if (gx) store_partial(gx, k, n, gxv);
    }
}

/// P3 for one row, sigmoid gate: ∂f = λ·∂y/∂g with the step partials stored by P1.
template <bool Knee, class T>
void sigmoid_gradient_phase(const prepared_curve<simd::wide<T>>& cv, std::size_t n, const T* f, const T* lambda,
                            const T* d_g, const T* d_aa, const T* d_ar, const T* d_k, const T* level, const T* xs,
                            T* gx, param_sums<T>& acc) {
    using V = simd::wide<T>;
    for (std::size_t k = 0; k < n; k += V::size) {
        const V lv = V::load_unaligned(lambda + k);
        acc.at += lv * V::load_unaligned(d_aa + k);
        acc.rt += lv * V::load_unaligned(d_ar + k);
        acc.k += lv * V::load_unaligned(d_k + k);
        const V gxv = curve_pullback<Knee>(cv, lv * V::load_unaligned(d_g + k), V::load_unaligned(f + k),
                                           V::load_unaligned(level + k), V::load_unaligned(xs + k), acc);
        if (gx) store_partial(gx, k, n, gxv);
    }
}

template <bool Sigmoid, class T>
void compexp_backward_group(signal_view<T> x, const compexp_params<T>& params, row_param<T> at, row_param<T> rt,
                            row_param<T> kk, signal_view<T> y, strided_view<T> grad_y, T* grad_x,
                            const compexp_param_grads<T>& curve_grads, T* grad_at, T* grad_rt, T* grad_k,
                            const row_group& g) {
    using V = simd::vec<T>;
    constexpr std::size_t W = simd::lanes<T>, WW = simd::wide_lanes<T>;
    const std::size_t cols = x.cols;
    const std::size_t m = g.count * chunk;
    const bool multi = g.count > 1;
    // Scratch: x, L, f, y_{t−1}, grad_y, u per row (u is λ for the sigmoid gate), and for the sigmoid
    // gate its step partials ∂y_t/∂y_{t−1}, ∂y_t/∂g_t, ∂α_a, ∂α_r, ∂k; a padding row; f, y_{t−1} (or
    // ∂y_t/∂y_{t−1}), grad_y and u in lanes. x, y_{t−1} and grad_y are copied only where they cannot be
    // read in place: the last (partial) chunk, the first sample's y_{−1} = zi, a non-contiguous grad_y.
    T* const xs = scratch<T>(11 * m + chunk + 4 * chunk * W);
    T* const level = xs + m;
    T* const f = level + m;
    T* const y_prev = f + m;
    T* const gy = y_prev + m;
    T* const u = gy + m;
    T* const d_prev = u + m;
    T* const d_g = d_prev + m;
    T* const d_aa = d_g + m;
    T* const d_ar = d_aa + m;
    T* const d_k = d_ar + m;
    T* const pad = d_k + m;
    T* const lanes_f = pad + chunk;
    T* const lanes_yp = lanes_f + chunk * W;
    T* const lanes_gy = lanes_yp + chunk * W;
    T* const lanes_u = lanes_gy + chunk * W;
    const T* f_rows[W];
    T* u_rows[W];
    // Lanes of the decision inputs: f and y_{t−1} (hard) or the sigmoid step's ∂y_t/∂y_{t−1}.
    lane_rows<T>(Sigmoid ? d_prev : f, g.count, f_rows);
    lane_rows<T>(u, pad, g.count, u_rows);
    const group_context<T> ctx(params, at, rt, kk, g);
    const auto& curves = ctx.curves;
    const ar_coeffs<V>& coeffs = ctx.hard;
    std::vector<double> sums(g.count * 8, 0.0);
    V u_next(T(0)), keep_next(T(0));
    // Per chunk: where each row's x, y_{t−1} and grad_y are read (in place or a scratch copy).
    const T *x_at[W], *yp_at[W], *gy_at[W];

    const std::size_t n_chunks = (cols + chunk - 1) / chunk;
    for (std::size_t c = n_chunks; c-- > 0;) {
        const std::size_t t0 = c * chunk, n = std::min(chunk, cols - t0);
        const std::size_t padded = (n + W - 1) / W * W;                             // P2 blocks
        const std::size_t wide_padded = (n + WW - 1) / WW * WW;                     // P1/P3 vectors
        const bool whole = n == chunk;  // no padding needed: every vector lies inside the row
        // P1: level and target; y_{t−1} (zi = 1 before the first sample) and grad_y, padded neutrally.
        for (std::size_t r = 0; r < g.count; ++r) {
            const std::size_t o = r * chunk, b = g.first + r;
            const T* xr = x.row(b) + t0;
            x_at[r] = whole ? xr : xs + o;
            curves[r].targets(xr, n, whole ? nullptr : xs + o, level + o, f + o);
            const T* yr = y.row(b);
            if (whole && t0 > 0) {
                yp_at[r] = yr + t0 - 1;
            } else {
                T* yp = y_prev + o;
                if (t0 == 0) {
                    yp[0] = T(1);
                    std::copy(yr, yr + n - 1, yp + 1);
                } else {
                    std::copy(yr + t0 - 1, yr + t0 - 1 + n, yp);
                }
                std::fill(yp + n, yp + wide_padded, T(1));
                yp_at[r] = yp;
            }
            if (whole && grad_y.col_stride == 1) {
                gy_at[r] = grad_y.data + std::ptrdiff_t(b) * grad_y.row_stride + std::ptrdiff_t(t0);
            } else {
                grad_y.copy_row(b, t0, n, gy + o);
                std::fill(gy + o + n, gy + o + wide_padded, T(0));
                gy_at[r] = gy + o;
            }
            if constexpr (Sigmoid) {
                using VW = simd::wide<T>;
                const T* yp = yp_at[r];
                const sigmoid_coeffs<VW> sig{VW(at[b]), VW(rt[b]), VW(kk[b])};
                for (std::size_t k = 0; k < wide_padded; k += VW::size) {
                    const VW fv = VW::load_unaligned(f + o + k), ypv = VW::load_unaligned(yp + k);
                    const sigmoid_local<VW> d = sigmoid_step_partials(fv, safe_db(fv), ypv, safe_db(ypv), sig);
                    d.d_y_prev.store_unaligned(d_prev + o + k);
                    d.d_g.store_unaligned(d_g + o + k);
                    d.d_alpha_a.store_unaligned(d_aa + o + k);
                    d.d_alpha_r.store_unaligned(d_ar + o + k);
                    d.d_k.store_unaligned(d_k + o + k);
                }
            }
        }
        for (std::size_t r = g.count; r < W; ++r) {  // padding lanes repeat the first row
            x_at[r] = x_at[0];
            yp_at[r] = yp_at[0];
            gy_at[r] = gy_at[0];
        }
        // P2: u_t = gy_t + (∂y_{t+1}/∂y_t)·u_{t+1}, backwards in time; the factor is 1 − β_{t+1} for the
        // hard gate and the sigmoid step's partial (from P1) for the sigmoid gate.
        if (!multi) {  // broadcast, as in the forward: branch-free
            for (std::size_t k = n; k-- > 0;) {
                u_next = hard_smoother_adjoint_step(V(gy_at[0][k]), keep_next, u_next);
                u[k] = u_next.get(0);
                if constexpr (Sigmoid)
                    keep_next = V(d_prev[k]);
                else
                    keep_next = simd::pick(V(f[k]) < V(yp_at[0][k]), coeffs.keep_at, coeffs.keep_rt);
            }
        } else {
            simd::to_lanes(f_rows, 0, padded, lanes_f);
            if constexpr (!Sigmoid) simd::to_lanes(yp_at, 0, padded, lanes_yp);
            simd::to_lanes(gy_at, 0, padded, lanes_gy);
            for (std::size_t k = n; k-- > 0;) {
                u_next = hard_smoother_adjoint_step(V::load_unaligned(&lanes_gy[k * W]), keep_next, u_next);
                u_next.store_unaligned(&lanes_u[k * W]);
                if constexpr (Sigmoid) {
                    keep_next = V::load_unaligned(&lanes_f[k * W]);
                } else {
                    const auto attack = V::load_unaligned(&lanes_f[k * W]) < V::load_unaligned(&lanes_yp[k * W]);
                    keep_next = simd::pick(attack, coeffs.keep_at, coeffs.keep_rt);
                }
            }
            simd::from_lanes(static_cast<const T*>(lanes_u), 0, padded, u_rows);
        }
        // P3: gradients, time in the widest lanes.
        for (std::size_t r = 0; r < g.count; ++r) {
            const std::size_t o = r * chunk;
            std::fill(u + o + n, u + o + wide_padded, T(0));  // padding contributes exactly 0
            param_sums<T> acc;
            T* gx = grad_x ? grad_x + (g.first + r) * cols + t0 : nullptr;
            const auto& cv = curves[r].curve;
            if constexpr (Sigmoid) {
                if (curves[r].knee)
                    sigmoid_gradient_phase<true>(cv, n, f + o, u + o, d_g + o, d_aa + o, d_ar + o, d_k + o, level + o,
                                                 x_at[r], gx, acc);
                else
                    sigmoid_gradient_phase<false>(cv, n, f + o, u + o, d_g + o, d_aa + o, d_ar + o, d_k + o, level + o,
                                                  x_at[r], gx, acc);
            } else {
                const T a = at[g.first + r], rr = rt[g.first + r];
                if (curves[r].knee)
                    gradient_phase<true>(cv, a, rr, n, f + o, yp_at[r], u + o, level + o, x_at[r], gx, acc);
                else
                    gradient_phase<false>(cv, a, rr, n, f + o, yp_at[r], u + o, level + o, x_at[r], gx, acc);
            }
            double* s = &sums[r * 8];
            const simd::wide<T> all[8] = {acc.ct, acc.cr, acc.et, acc.er, acc.knee, acc.at, acc.rt, acc.k};
            for (int i = 0; i < 8; ++i) s[i] += double(xsimd::hadd(all[i]));
        }
    }
    for (std::size_t r = 0; r < g.count; ++r) {
        const std::size_t b = g.first + r;
        const double* s = &sums[r * 8];
        store_row(curve_grads.comp_thresh, b, s[0]);
        store_row(curve_grads.comp_ratio, b, s[1]);
        store_row(curve_grads.exp_thresh, b, s[2]);
        store_row(curve_grads.exp_ratio, b, s[3]);
        store_row(curve_grads.knee, b, s[4]);
        store_row(grad_at, b, s[5]);
        store_row(grad_rt, b, s[6]);
        if constexpr (Sigmoid) store_row(grad_k, b, s[7]);
    }
}

}  // namespace

template <class T>
void compexp_gain_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                         ar_mode mode, row_param<T> k, signal_span<T> gain) {
    const auto groups = make_groups(x_rms.rows, simd::lanes<T>);
    parallel_rows(groups.size(), [&](std::size_t i) {
        if (mode == ar_mode::sigmoid)
            compexp_forward_group<true>(x_rms, curve, at, rt, k, gain, groups[i]);
        else
            compexp_forward_group<false>(x_rms, curve, at, rt, k, gain, groups[i]);
    });
}

template <class T>
void compexp_gain_backward_kernel(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at,
                                  row_param<T> rt, ar_mode mode, row_param<T> k, signal_view<T> gain,
                                  strided_arg<T> grad_gain, T* grad_x_rms, const compexp_param_grads<T>& curve_grads,
                                  T* grad_at, T* grad_rt, T* grad_k) {
    const auto groups = make_groups(x_rms.rows, simd::lanes<T>);
    parallel_rows(groups.size(), [&](std::size_t i) {
        if (mode == ar_mode::sigmoid)
            compexp_backward_group<true>(x_rms, curve, at, rt, k, gain, grad_gain, grad_x_rms, curve_grads, grad_at,
                                         grad_rt, grad_k, groups[i]);
        else
            compexp_backward_group<false>(x_rms, curve, at, rt, k, gain, grad_gain, grad_x_rms, curve_grads, grad_at,
                                          grad_rt, grad_k, groups[i]);
    });
}

#define DD_INSTANTIATE(T)                                                                                        \
    template void compexp_gain_kernel<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,   \
                                         ar_mode, row_param<T>, signal_span<T>);                                 \
    template void compexp_gain_backward_kernel<T>(signal_view<T>, const compexp_params<T>&, row_param<T>,        \
                                                  row_param<T>, ar_mode, row_param<T>, signal_view<T>,           \
                                                  strided_arg<T>, T*, const compexp_param_grads<T>&, T*, T*, T*);
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
