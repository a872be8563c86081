// The model family's C++ kernels (docs/derivations/family.md): the smooth branching design against
// the library's hard smoother, state continuation, gradients of both kernels against float64 central
// differences on signals that switch many times, and errors naming the argument. (Every member's
// gradients are also checked from Python: tests/python/test_family.py.)
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "differential_dynamics/family.hpp"
#include "differential_dynamics/smoother.hpp"
#include "test_util.hpp"

namespace {

using dd::detector_design;

const detector_design all_designs[] = {detector_design::branching, detector_design::smooth_branching,
                                       detector_design::decoupled, detector_design::smooth_decoupled};

double central_difference(const std::function<double(double)>& f, double v, double h) {
    return (f(v + h) - f(v - h)) / (2 * h);
}

TEST(Family, SmoothBranchingIsTheHardSmootherAttackingOnRises) {
    const auto c = ddtest::switching_level(3, 3000, 1);
    const dd::signal_view<double> cv{c.data.data(), c.rows, c.cols};
    std::vector<double> y(c.data.size()), ref(c.data.size());
    const double zi[6] = {0.3, 0.3, 0.3, 0.3, 0.3, 0.3};
    dd::peak_detector<double>(cv, detector_design::smooth_branching, 0.2, 0.01, 0.0, {y.data(), c.rows, c.cols}, zi);
    dd::attack_release_smoother<double>(cv, 0.3, 0.01, 0.2, {ref.data(), c.rows, c.cols});
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-15) << i;
}

TEST(Family, PeakDetectorStateContinuesTheSignal) {
    const auto c = ddtest::switching_level(2, 1000, 2);
    for (auto d : all_designs) {
        std::vector<double> whole(2000), st(4);
        dd::peak_detector<double>({c.data.data(), 2, 1000}, d, 0.2, 0.02, 0.0, {whole.data(), 2, 1000});
        std::vector<double> first(2 * 400), second(2 * 600), fa(2 * 400), sa(2 * 600);
        for (std::size_t b = 0; b < 2; ++b)
            for (std::size_t t = 0; t < 1000; ++t) (t < 400 ? fa[b * 400 + t] : sa[b * 600 + t - 400]) = c.data[b * 1000 + t];
        dd::peak_detector<double>({fa.data(), 2, 400}, d, 0.2, 0.02, 0.0, {first.data(), 2, 400}, {}, st.data());
        dd::peak_detector<double>({sa.data(), 2, 600}, d, 0.2, 0.02, 0.0, {second.data(), 2, 600}, st.data());
        for (std::size_t b = 0; b < 2; ++b)
            for (std::size_t t = 0; t < 1000; ++t)
                ASSERT_EQ(whole[b * 1000 + t], t < 400 ? first[b * 400 + t] : second[b * 600 + t - 400]);
    }
}

TEST(Family, PeakDetectorGradientsMatchCentralDifferences) {
    const auto c = ddtest::switching_level(1, 400, 3);
    std::vector<double> w(400);
    for (std::size_t t = 0; t < 400; ++t) w[t] = std::cos(0.1 * double(t)) + 0.5;  // loss = Σ w·y
    for (auto d : all_designs) {
        auto loss = [&](std::vector<double> cc, double a, double r) {
            std::vector<double> y(400);
            dd::peak_detector<double>({cc.data(), 1, 400}, d, a, r, 0.0, {y.data(), 1, 400});
            double s = 0;
            for (std::size_t t = 0; t < 400; ++t) s += w[t] * y[t];
            return s;
        };
        std::vector<double> gc(400);
        double ga = 0, gr = 0;
        dd::peak_detector_backward<double>({c.data.data(), 1, 400}, d, 0.3, 0.05, 0.0, {w.data(), 1, 400}, gc.data(),
                                           {&ga, &gr});
        const double fa = central_difference([&](double v) { return loss(c.data, v, 0.05); }, 0.3, 1e-7);
        const double fr = central_difference([&](double v) { return loss(c.data, 0.3, v); }, 0.05, 1e-7);
        EXPECT_NEAR(ga, fa, 1e-6 * std::fabs(fa) + 1e-9) << dd::detector_design_name(d);
        EXPECT_NEAR(gr, fr, 1e-6 * std::fabs(fr) + 1e-9) << dd::detector_design_name(d);
        EXPECT_GT(std::fabs(fa), 1e-3);
        for (std::size_t t : {5u, 77u, 200u, 399u}) {
            const double ft = central_difference([&](double v) { auto cc = c.data; cc[t] = v; return loss(cc, 0.3, 0.05); },
                                                 c.data[t], 1e-6);
            EXPECT_NEAR(gc[t], ft, 1e-4 * std::fabs(ft) + 1e-8) << dd::detector_design_name(d) << " t=" << t;
        }
    }
}

TEST(Family, FeedbackGradientsMatchCentralDifferences) {
    const auto x = ddtest::bursty_audio(1, 300, 4);
    std::vector<double> w(300);
    for (std::size_t t = 0; t < 300; ++t) w[t] = std::sin(0.07 * double(t)) + 1.2;
    for (auto placement : {dd::ballistics_placement::level, dd::ballistics_placement::gain})
        for (auto domain : {dd::ballistics_domain::linear, dd::ballistics_domain::log})
            for (auto d : all_designs) {
                const dd::family_topology topo{dd::family_detector::peak, placement, domain, d};
                auto loss = [&](double ct, double cr, double a) {
                    std::vector<double> g(300);
                    dd::feedback_compressor_gain<double>({x.data.data(), 1, 300}, topo, {ct, cr, 3.0, a, 0.05},
                                                         {g.data(), 1, 300});
                    double s = 0;
                    for (std::size_t t = 0; t < 300; ++t) s += w[t] * g[t];
                    return s;
                };
                double gct = 0, gcr = 0, gk = 0, ga = 0, gr = 0;
                dd::feedback_compressor_gain_backward<double>({x.data.data(), 1, 300}, topo, {-12.0, 4.0, 3.0, 0.3, 0.05},
                                                              {w.data(), 1, 300}, nullptr, {&gct, &gcr, &gk, &ga, &gr});
                const double fct = central_difference([&](double v) { return loss(v, 4.0, 0.3); }, -12.0, 1e-6);
                const double fcr = central_difference([&](double v) { return loss(-12.0, v, 0.3); }, 4.0, 1e-6);
                const double fa = central_difference([&](double v) { return loss(-12.0, 4.0, v); }, 0.3, 1e-7);
                EXPECT_NEAR(gct, fct, 1e-5 * std::fabs(fct) + 1e-9) << dd::detector_design_name(d);
                EXPECT_NEAR(gcr, fcr, 1e-5 * std::fabs(fcr) + 1e-9) << dd::detector_design_name(d);
                EXPECT_NEAR(ga, fa, 1e-5 * std::fabs(fa) + 1e-9) << dd::detector_design_name(d);
                EXPECT_GT(std::fabs(fct), 1e-3);
            }
}

TEST(Family, ErrorsNameTheArgument) {
    std::vector<double> c(10, 0.5), y(10);
    try {
        dd::peak_detector<double>({c.data(), 1, 10}, detector_design::decoupled, 1.5, 0.1, 0.0, {y.data(), 1, 10});
        FAIL();
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), "attack");
    }
    try {
        dd::parse_detector_design("fast");
        FAIL();
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), "design");
    }
    try {
        dd::feedback_compressor_gain<double>({c.data(), 1, 10}, {}, {-20.0, 1.0, 0.0, 0.1, 0.1}, {y.data(), 1, 10});
        FAIL();
    } catch (const dd::argument_error& e) {
        EXPECT_EQ(e.argument(), "comp_ratio");
    }
}

}  // namespace
