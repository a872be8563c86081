// The sigmoid-gated smoother's forward mode and second order, and compexp_gain_mode's forward mode
// (both gates): JVPs against float64 central differences of the forward and against the backward
// (⟨w, J·v⟩ = ⟨Jᵀ·w, v⟩), the second order against central differences of the first-order backward,
// on levels that switch between attack and release many times.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "differential_dynamics/differential_dynamics.hpp"
#include "test_util.hpp"

using namespace ddtest;
using dd::row_param;
using dd::signal_span;
using dd::signal_view;

namespace {
constexpr std::size_t row_length = 500;  // samples per row (B: test_util.hpp's rows)
signal_view<double> view(const std::vector<double>& v, std::size_t cols = row_length) { return {v.data(), B, cols}; }
signal_span<double> span(std::vector<double>& v, std::size_t cols = row_length) { return {v.data(), B, cols}; }

struct sigmoid_case {
    std::vector<double> g = [] {
        batch b = switching_level(B, row_length, 8);
        for (auto& v : b.data) v = std::min(0.999, v * 1.5);  // a target gain in (0, 1)
        return b.data;
    }();
    std::vector<double> zi = {1.0, 0.8, 0.5}, aa = {0.3, 0.1, 0.02}, ar = {0.01, 0.05, 0.2}, k = {0.3, 1.0, 2.5};
    std::vector<double> forward() const {
        std::vector<double> y(B * row_length);
        dd::sigmoid_smoother(view(g), per_row(zi), per_row(aa), per_row(ar), per_row(k), span(y));
        return y;
    }
    /// The first-order backward's outputs, flattened: [∂g (B·row_length), ∂zi, ∂α_a, ∂α_r, ∂k (B each)].
    std::vector<double> backward(const std::vector<double>& gy, const std::vector<double>& gfinal) const {
        const std::vector<double> y = forward();
        std::vector<double> out(B * row_length + 4 * B);
        double* p = out.data() + B * row_length;
        dd::sigmoid_smoother_backward(view(g), per_row(zi), per_row(aa), per_row(ar), per_row(k), view(y), view(gy),
                                      out.data(), dd::sigmoid_param_grads<double>{p, p + B, p + 2 * B, p + 3 * B},
                                      gfinal.data());
        return out;
    }
};

/// The decisions are smooth here, but the targets must stay on the same side of the dB floor.
std::size_t gate_flips(const sigmoid_case& c) {
    const std::vector<double> y = c.forward();
    std::size_t flips = 0;
    for (std::size_t b = 0; b < B; ++b) {
        std::vector<double> f(c.g.begin() + b * row_length, c.g.begin() + (b + 1) * row_length), yr(y.begin() + b * row_length, y.begin() + (b + 1) * row_length);
        flips += count_decision_flips(f, yr, c.zi[b]);
    }
    return flips;
}
}  // namespace

TEST(SigmoidSmoother, JvpMatchesFiniteDifferencesAndTransposesTheBackward) {
    sigmoid_case c;
    EXPECT_GE(gate_flips(c), 3 * 20u);
    const std::vector<double> vg = random_weights(B * row_length, 1), vzi = {0.2, -0.1, 0.3}, vaa = {0.05, -0.02, 0.004},
                              var = {-0.003, 0.01, 0.05}, vk = {0.1, -0.3, 0.5};
    const std::vector<double> y = c.forward();
    std::vector<double> dy(B * row_length), dfinal(B);
    dd::sigmoid_smoother_jvp(view(c.g), per_row(c.zi), per_row(c.aa), per_row(c.ar), per_row(c.k), view(y), vg.data(),
                             per_row(vzi), per_row(vaa), per_row(var), per_row(vk), span(dy), dfinal.data());
    const std::vector<double> w = random_weights(B * row_length, 2), wf = {0.3, -0.7, 0.5};
    // Against the forward along the whole direction (g relative: it must stay positive).
    double s = 0;
    auto along = [&] {
        sigmoid_case m = c;
        for (std::size_t i = 0; i < B * row_length; ++i) m.g[i] = c.g[i] + s * vg[i] * c.g[i];
        for (std::size_t b = 0; b < B; ++b) {
            m.zi[b] += s * vzi[b];
            m.aa[b] += s * vaa[b];
            m.ar[b] += s * var[b];
            m.k[b] += s * vk[b];
        }
        const std::vector<double> ym = m.forward();
        double last = 0;
        for (std::size_t b = 0; b < B; ++b) last += wf[b] * ym[b * row_length + row_length - 1];
        return dot(ym, w) + last;
    };
    // The tangent of g used above is v_g·g.
    std::vector<double> vg_rel(B * row_length);
    for (std::size_t i = 0; i < B * row_length; ++i) vg_rel[i] = vg[i] * c.g[i];
    dd::sigmoid_smoother_jvp(view(c.g), per_row(c.zi), per_row(c.aa), per_row(c.ar), per_row(c.k), view(y),
                             vg_rel.data(), per_row(vzi), per_row(vaa), per_row(var), per_row(vk), span(dy),
                             dfinal.data());
    const double analytic = dot(dy, w) + dot(dfinal, wf);
    expect_gradient_close(analytic, central_difference(s, 1e-5, along), 1e-6, "jvp");
    for (std::size_t b = 0; b < B; ++b) EXPECT_EQ(dfinal[b], dy[b * row_length + row_length - 1]);
    // Transpose: ⟨w, J·v⟩ = ⟨Jᵀ·w, v⟩.
    std::vector<double> w_last = w;
    const std::vector<double> gb = c.backward(w, wf);
    double tr = 0;
    for (std::size_t i = 0; i < B * row_length; ++i) tr += gb[i] * vg_rel[i];
    for (std::size_t b = 0; b < B; ++b)
        tr += gb[B * row_length + b] * vzi[b] + gb[B * row_length + B + b] * vaa[b] + gb[B * row_length + 2 * B + b] * var[b] +
              gb[B * row_length + 3 * B + b] * vk[b];
    EXPECT_NEAR(analytic, tr, 1e-10 * std::abs(tr));
}

TEST(SigmoidSmoother, GradientOfTheGradientMatchesFiniteDifferencesOfTheBackward) {
    sigmoid_case c;
    const std::vector<double> gy = random_weights(B * row_length, 3), gfinal = {0.4, -0.2, 0.9};
    const std::vector<double> vg = random_weights(B * row_length, 4), vzi = {0.4, -0.3, 0.2}, vaa = {0.7, -0.5, 1.1},
                              var = {-0.6, 0.9, 0.3}, vk = {0.2, -0.4, 0.6};
    // ℓ₂ = ⟨v, backward(gy, grad_final)⟩ with the first-order kernel.
    auto l2 = [&](const sigmoid_case& m, const std::vector<double>& gyy, const std::vector<double>& gf) {
        const std::vector<double> gb = m.backward(gyy, gf);
        double s = 0;
        for (std::size_t i = 0; i < B * row_length; ++i) s += gb[i] * vg[i];
        for (std::size_t b = 0; b < B; ++b)
            s += gb[B * row_length + b] * vzi[b] + gb[B * row_length + B + b] * vaa[b] + gb[B * row_length + 2 * B + b] * var[b] +
                 gb[B * row_length + 3 * B + b] * vk[b];
        return s;
    };
    const std::vector<double> y = c.forward();
    std::vector<double> dgy(B * row_length), dgf(B), dg(B * row_length), gzi(B), gaa(B), gar(B), gk(B);
    dd::sigmoid_smoother_backward_backward(view(c.g), per_row(c.zi), per_row(c.aa), per_row(c.ar), per_row(c.k),
                                           view(y), view(gy), gfinal.data(), vg.data(), per_row(vzi), per_row(vaa),
                                           per_row(var), per_row(vk), dgy.data(), dgf.data(), dg.data(),
                                           dd::sigmoid_param_grads<double>{gzi.data(), gaa.data(), gar.data(), gk.data()});
    sigmoid_case m = c;
    auto loss = [&] { return l2(m, gy, gfinal); };
    for (std::size_t b = 0; b < B; ++b) {
        expect_gradient_close(gzi[b], central_difference(m.zi[b], 1e-5, loss), 1e-6, "zi");
        expect_gradient_close(gaa[b], central_difference(m.aa[b], 1e-6, loss), 1e-6, "alpha_a");
        expect_gradient_close(gar[b], central_difference(m.ar[b], 1e-6, loss), 1e-6, "alpha_r");
        expect_gradient_close(gk[b], central_difference(m.k[b], 1e-5, loss), 1e-6, "k");
        for (double v : {gzi[b], gaa[b], gar[b], gk[b]}) EXPECT_NE(v, 0.0);
    }
    expect_directional_gradient(m.g, dg, 5, loss, 1e-6, "g direction");
    // Samples of g one by one (the derivative at a sample involves its own and the next step).
    for (std::size_t i : {std::size_t(7), std::size_t(row_length + 200), std::size_t(2 * row_length + 499)})
        expect_gradient_close(dg[i], central_difference(m.g[i], 1e-4 * m.g[i], loss), 1e-6, "g sample");
    // ℓ₂ is linear in gy and grad_final: their gradients reproduce it exactly.
    double lin = dot(dgy, gy) + dot(dgf, gfinal);
    EXPECT_NEAR(lin, l2(c, gy, gfinal), 1e-10 * std::abs(lin));
    std::vector<double> e(B * row_length, 0.0), ef(B, 0.0);
    e[321] = 1.0;
    EXPECT_NEAR(dgy[321], l2(c, e, ef), 1e-12);
    e[321] = 0.0;
    ef[1] = 1.0;
    EXPECT_NEAR(dgf[1], l2(c, e, ef), 1e-12);
}

namespace {
struct compexp_mode_case {
    batch x = switching_level(B, row_length, 11, -65, -5);
    std::vector<double> ct = {-20, -25, -15}, cr = {4, 2, 8}, et = {-50, -45, -55}, er = {0.5, 0.7, 0.3},
                        knee = {0, 6, 3}, at = {0.3, 0.1, 0.02}, rt = {0.01, 0.05, 0.2}, k = {0.5, 1.5, 3.0},
                        zi = {1.0, 0.7, 0.4};
    dd::compexp_params<double> params() const { return {per_row(ct), per_row(cr), per_row(et), per_row(er), per_row(knee)}; }
    std::vector<double> run(dd::ar_mode mode, std::vector<double>* final_state = nullptr) const {
        std::vector<double> y(B * row_length);
        dd::compexp_gain_mode(view(x.data), params(), per_row(at), per_row(rt), mode, per_row(k), span(y), zi.data(),
                              final_state ? final_state->data() : nullptr);
        return y;
    }
};
}  // namespace

TEST(CompexpGain, JvpMatchesFiniteDifferencesAndTransposesTheBackwardForBothGates) {
    for (dd::ar_mode mode : {dd::ar_mode::hard, dd::ar_mode::sigmoid}) {
        SCOPED_TRACE(mode == dd::ar_mode::hard ? "hard" : "sigmoid");
        const compexp_mode_case c;
        const std::vector<double> vx = random_weights(B * row_length, 21);
        std::vector<double> vx_rel(B * row_length);
        for (std::size_t i = 0; i < B * row_length; ++i) vx_rel[i] = vx[i] * c.x.data[i];  // relative: x stays positive
        const std::vector<double> vct = {0.5, -1.0, 0.3}, vcr = {0.2, -0.1, 0.5}, vet = {1.0, 0.4, -0.6},
                                  ver = {0.02, -0.01, 0.03}, vkn = {0.0, 0.5, -0.4}, vat = {0.01, -0.005, 0.002},
                                  vrt = {-0.001, 0.003, 0.01}, vk = {0.1, -0.2, 0.3}, vzi = {-0.1, 0.05, 0.2};
        std::vector<double> yfinal(B);
        const std::vector<double> y = c.run(mode, &yfinal);
        std::vector<double> dy(B * row_length), dfinal(B);
        dd::compexp_gain_mode_jvp(view(c.x.data), c.params(), per_row(c.at), per_row(c.rt), mode, per_row(c.k), view(y),
                                  vx_rel.data(),
                                  dd::compexp_param_tangents<double>{per_row(vct), per_row(vcr), per_row(vet),
                                                                     per_row(ver), per_row(vkn)},
                                  per_row(vat), per_row(vrt), per_row(vk), span(dy), c.zi.data(), vzi.data(),
                                  dfinal.data());
        const std::vector<double> w = random_weights(B * row_length, 22), wf = {0.3, -0.7, 0.5};
        const double analytic = dot(dy, w) + dot(dfinal, wf);
        double s = 0;
        auto along = [&] {
            compexp_mode_case m = c;
            for (std::size_t i = 0; i < B * row_length; ++i) m.x.data[i] = c.x.data[i] + s * vx_rel[i];
            for (std::size_t b = 0; b < B; ++b) {
                m.ct[b] += s * vct[b];
                m.cr[b] += s * vcr[b];
                m.et[b] += s * vet[b];
                m.er[b] += s * ver[b];
                m.knee[b] += s * vkn[b];
                m.at[b] += s * vat[b];
                m.rt[b] += s * vrt[b];
                m.k[b] += s * vk[b];
                m.zi[b] += s * vzi[b];
            }
            std::vector<double> fin(B);
            const std::vector<double> ym = m.run(mode, &fin);
            return dot(ym, w) + dot(fin, wf);
        };
        // The hard gate's decisions must not move within the steps: 1e-7 keeps them.
        expect_gradient_close(analytic, central_difference(s, mode == dd::ar_mode::hard ? 1e-7 : 1e-5, along), 1e-6,
                              "jvp");
        EXPECT_NE(analytic, 0.0);
        // Transpose against the backward.
        std::vector<double> gx(B * row_length), gct(B), gcr(B), get(B), ger(B), gkn(B), gat(B), grt(B), gk(B), gzi(B);
        dd::compexp_gain_mode_backward(view(c.x.data), c.params(), per_row(c.at), per_row(c.rt), mode, per_row(c.k),
                                       view(y), view(w), gx.data(),
                                       dd::compexp_param_grads<double>{gct.data(), gcr.data(), get.data(), ger.data(),
                                                                       gkn.data()},
                                       gat.data(), grt.data(), gk.data(), c.zi.data(), wf.data(), gzi.data());
        double tr = dot(gx, vx_rel) + dot(gct, vct) + dot(gcr, vcr) + dot(get, vet) + dot(ger, ver) + dot(gkn, vkn) +
                    dot(gat, vat) + dot(grt, vrt) + dot(gzi, vzi);
        if (mode == dd::ar_mode::sigmoid) tr += dot(gk, vk);
        EXPECT_NEAR(analytic, tr, 1e-9 * std::abs(tr));
    }
}
