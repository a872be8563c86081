// compexp_gain and compexp_gain_mode: validation, the batch entry points (groups of rows in parallel
// on the kernels of compexp_kernels.cpp) and the streaming processor (the same kernels on its
// channels, on the calling thread).
#include "differential_dynamics/compexp.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/validate.hpp"
#include "core/work_memory.hpp"
#include "curve/curve_checks.hpp"

namespace dd {

namespace {

/// The coefficients are called at/rt for the hard gate and alpha_a/alpha_r for the sigmoid gate,
/// which also needs k > 0; hard mode ignores k, but a non-finite k is still refused.
/// x_rms's values (finite, > 0) are checked by the kernels while they read them (one pass over
/// memory instead of two); check_fused_x_rms turns a failure into the usual error.
template <class T>
void check_compexp_args(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                        ar_mode mode, row_param<T> k, state_in zi, const char* at_name, const char* rt_name) {
    const bool hard = mode == ar_mode::hard;
    check_signal_shape(x_rms, "x_rms");
    check_compexp_params(curve, x_rms.rows);
    check_coefficient(at, x_rms.rows, at_name);
    check_coefficient(rt, x_rms.rows, rt_name);
    if (hard)
        check_finite_param(k, x_rms.rows, "k");
    else
        check_gate_k_param(k, x_rms.rows, "k");
    // The hard gate's state may be any finite value; the sigmoid gate takes logs of it.
    check_state(zi, x_rms.rows, 1, "zi", [hard](double v, std::size_t) { return hard || v > 0; },
                hard ? "finite" : "> 0 (the sigmoid gate takes its logarithm)");
}

template <class T> void check_fused_x_rms(bool all_acceptable, signal_view<T> x_rms) {
    if (all_acceptable) return;
    check_positive_signal(x_rms, "x_rms");  // throws, naming the first bad value
    throw argument_error("x_rms", "must be finite and > 0");
}

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

template <class T>
bool forward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt, ar_mode mode,
             row_param<T> k, signal_span<T> gain, state_in zi, state_out final_state) {
    const auto& kern = detail::kernels_for<T>();
    std::vector<const T*> x_rows(x_rms.rows);
    std::vector<T*> y_rows(x_rms.rows);
    for (std::size_t b = 0; b < x_rms.rows; ++b) {
        x_rows[b] = x_rms.row(b);
        y_rows[b] = gain.row(b);
    }
    const detail::compexp_forward_args<T> args{x_rows.data(), y_rows.data(), x_rms.cols, curve, at, rt, k,
                                               mode == ar_mode::sigmoid, zi.data, final_state.data};
    const auto groups = make_groups(x_rms.rows, kern.compexp_group_rows);
    std::vector<unsigned char> ok(groups.size());
    detail::parallel_for(groups.size(), [&](std::size_t i) {
        void* work = detail::thread_work_memory(kern.compexp_work_size(x_rms.cols));
        ok[i] = kern.compexp_forward(args, groups[i].first, groups[i].count, work);
    });
    return std::all_of(ok.begin(), ok.end(), [](unsigned char v) { return v != 0; });
}

template <class T>
bool backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt, ar_mode mode,
              row_param<T> k, signal_view<T> gain, strided_view<T> grad_gain, T* grad_x_rms,
              const compexp_param_grads<T>& curve_grads, T* grad_at, T* grad_rt, T* grad_k, state_in zi,
              const double* grad_final_state, double* grad_zi) {
    const auto& kern = detail::kernels_for<T>();
    const detail::compexp_backward_args<T> args{x_rms,
                                                gain,
                                                grad_gain,
                                                curve,
                                                at,
                                                rt,
                                                k,
                                                mode == ar_mode::sigmoid,
                                                zi.data,
                                                grad_final_state,
                                                grad_x_rms,
                                                curve_grads.comp_thresh != nullptr || curve_grads.comp_ratio != nullptr,
                                                curve_grads.exp_thresh != nullptr || curve_grads.exp_ratio != nullptr};
    std::vector<unsigned char> ok(x_rms.rows);
    detail::parallel_for(x_rms.rows, [&](std::size_t b) {
        detail::compexp_sums s;
        ok[b] = kern.compexp_backward(args, b, detail::thread_work_memory(kern.compexp_backward_work_size()), s);
        store_row(curve_grads.comp_thresh, b, s.v[0]);
        store_row(curve_grads.comp_ratio, b, s.v[1]);
        store_row(curve_grads.exp_thresh, b, s.v[2]);
        store_row(curve_grads.exp_ratio, b, s.v[3]);
        store_row(curve_grads.knee, b, s.v[4]);
        store_row(grad_at, b, s.v[5]);
        store_row(grad_rt, b, s.v[6]);
        if (mode == ar_mode::sigmoid) store_row(grad_k, b, s.v[7]);
        else store_row(grad_k, b, 0.0);
        if (grad_zi) grad_zi[b] = s.v[8];
    });
    return std::all_of(ok.begin(), ok.end(), [](unsigned char v) { return v != 0; });
}

}  // namespace

template <class T>
void compexp_gain(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                  signal_span<T> gain, state_in zi, state_out final_state) {
    check_compexp_args(x_rms, curve, at, rt, ar_mode::hard, row_param<T>(T(1)), zi, "at", "rt");
    check_output(gain, x_rms, "gain");
    check_fused_x_rms(forward(x_rms, curve, at, rt, ar_mode::hard, row_param<T>(T(1)), gain, zi, final_state), x_rms);
}

template <class T>
void compexp_gain_backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> at, row_param<T> rt,
                           signal_view<T> gain, strided_arg<T> grad_gain, T* grad_x_rms,
                           const compexp_param_grads<T>& curve_grads, T* grad_at, T* grad_rt, state_in zi,
                           const double* grad_final_state, double* grad_zi) {
    check_compexp_args(x_rms, curve, at, rt, ar_mode::hard, row_param<T>(T(1)), zi, "at", "rt");
    check_same_shape(gain, x_rms, "gain");
    check_same_shape(grad_gain, x_rms, "grad_gain");
    check_fused_x_rms(backward(x_rms, curve, at, rt, ar_mode::hard, row_param<T>(T(1)), gain, grad_gain, grad_x_rms,
                               curve_grads, grad_at, grad_rt, static_cast<T*>(nullptr), zi, grad_final_state, grad_zi),
                      x_rms);
}

template <class T>
void compexp_gain_mode(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                       row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_span<T> gain, state_in zi,
                       state_out final_state) {
    check_compexp_args(x_rms, curve, alpha_a, alpha_r, mode, k, zi, "alpha_a", "alpha_r");
    check_output(gain, x_rms, "gain");
    check_fused_x_rms(forward(x_rms, curve, alpha_a, alpha_r, mode, k, gain, zi, final_state), x_rms);
}

template <class T>
void compexp_gain_mode_backward(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                                row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_view<T> gain,
                                strided_arg<T> grad_gain, T* grad_x_rms, const compexp_param_grads<T>& curve_grads,
                                T* grad_alpha_a, T* grad_alpha_r, T* grad_k, state_in zi,
                                const double* grad_final_state, double* grad_zi) {
    check_compexp_args(x_rms, curve, alpha_a, alpha_r, mode, k, zi, "alpha_a", "alpha_r");
    check_same_shape(gain, x_rms, "gain");
    check_same_shape(grad_gain, x_rms, "grad_gain");
    check_fused_x_rms(backward(x_rms, curve, alpha_a, alpha_r, mode, k, gain, grad_gain, grad_x_rms, curve_grads,
                               grad_alpha_a, grad_alpha_r, grad_k, zi, grad_final_state, grad_zi),
                      x_rms);
}

template <class T>
void compexp_gain_mode_jvp(signal_view<T> x_rms, const compexp_params<T>& curve, row_param<T> alpha_a,
                           row_param<T> alpha_r, ar_mode mode, row_param<T> k, signal_view<T> gain,
                           const T* tangent_x_rms, const compexp_param_tangents<T>& tangent_curve,
                           row_param<T> tangent_alpha_a, row_param<T> tangent_alpha_r, row_param<T> tangent_k,
                           signal_span<T> tangent_gain, state_in zi, const double* tangent_zi,
                           double* tangent_final_state) {
    check_compexp_args(x_rms, curve, alpha_a, alpha_r, mode, k, zi, "alpha_a", "alpha_r");
    check_same_shape(gain, x_rms, "gain");
    check_output(tangent_gain, x_rms, "tangent_gain");
    if (tangent_x_rms) check_signal(signal_view<T>{tangent_x_rms, x_rms.rows, x_rms.cols}, "tangent_x_rms");
    check_finite_param(tangent_curve.comp_thresh, x_rms.rows, "tangent_comp_thresh");
    check_finite_param(tangent_curve.comp_ratio, x_rms.rows, "tangent_comp_ratio");
    check_finite_param(tangent_curve.exp_thresh, x_rms.rows, "tangent_exp_thresh");
    check_finite_param(tangent_curve.exp_ratio, x_rms.rows, "tangent_exp_ratio");
    check_finite_param(tangent_curve.knee, x_rms.rows, "tangent_knee");
    check_finite_param(tangent_alpha_a, x_rms.rows, "tangent_alpha_a");
    check_finite_param(tangent_alpha_r, x_rms.rows, "tangent_alpha_r");
    check_finite_param(tangent_k, x_rms.rows, "tangent_k");
    check_state(tangent_zi, x_rms.rows, 1, "tangent_zi", [](double, std::size_t) { return true; }, "finite");
    const auto& kern = detail::kernels_for<T>();
    const detail::compexp_jvp_args<T> args{x_rms,           gain,           curve,      alpha_a,        alpha_r,
                                           k,               mode == ar_mode::sigmoid,   zi.data,        tangent_x_rms,
                                           tangent_curve,   tangent_alpha_a, tangent_alpha_r, tangent_k, tangent_zi,
                                           tangent_gain.data};
    std::vector<unsigned char> ok(x_rms.rows);
    detail::parallel_for(x_rms.rows, [&](std::size_t b) {
        double last = 0;
        ok[b] = kern.compexp_jvp(args, b, detail::thread_work_memory(kern.compexp_backward_work_size()), last);
        if (tangent_final_state) tangent_final_state[b] = last;
    });
    check_fused_x_rms(std::all_of(ok.begin(), ok.end(), [](unsigned char v) { return v != 0; }), x_rms);
}

// ------------------------------------------------------------------------------------------------
// Streaming

namespace {
enum field { f_ct, f_cr, f_et, f_er, f_knee, f_at, f_rt, f_k, n_fields };
}

template <class T> void compexp_processor<T>::check_settings(const compexp_settings& s) {
    const compexp_params<double> p{s.comp_thresh, s.comp_ratio, s.exp_thresh, s.exp_ratio, s.knee};
    check_compexp_params(p, 1);
    const bool hard = s.mode == ar_mode::hard;
    check_coefficient_setting(s.at, hard ? "at" : "alpha_a");
    check_coefficient_setting(s.rt, hard ? "rt" : "alpha_r");
    if (hard)
        check_finite_setting(s.k, "k");
    else
        check_gate_k_setting(s.k, "k");
    if (hard)
        check_finite_setting(s.zi, "zi");
    else
        check_positive_setting(s.zi, "zi");
}

template <class T> void compexp_processor<T>::check_state(const double* state) { check_finite_setting(state[0], "state"); }

template <class T> void compexp_processor<T>::on_prepare() {
    const std::size_t channels = this->spec_.channels;
    fields_.assign(n_fields * channels, T(0));
    next_state_.assign(channels, 0.0);
    in_.assign(channels, nullptr);
    out_.assign(channels, nullptr);
    work_.assign(detail::max_compexp_work_size<T>(std::min(this->spec_.max_block, std::size_t(1) << 20)) + 64, 0);
}

template <class T> void compexp_processor<T>::on_settings() {
    const std::size_t channels = this->spec_.channels;
    for (std::size_t c = 0; c < channels; ++c) {
        const compexp_settings& s = this->settings_[c];
        const double values[n_fields] = {s.comp_thresh, s.comp_ratio, s.exp_thresh, s.exp_ratio,
                                         s.knee,        s.at,         s.rt,         s.k};
        for (int f = 0; f < n_fields; ++f) fields_[std::size_t(f) * channels + c] = T(values[f]);
    }
}

template <class T> void compexp_processor<T>::process(const T* const* x_rms, T* const* gain, std::size_t n) {
    this->check();
    if (n == 0) return;
    const std::size_t channels = this->spec_.channels;
    const auto& kern = detail::kernels_for<T>();
    auto field_of = [&](int f) { return row_param<T>(fields_.data() + std::size_t(f) * channels, channels); };
    // One mode per call of the kernel: channels with the other gate run in a second pass.
    for (std::size_t c = 0; c < channels; ++c) next_state_[c] = this->state_[c];
    for (ar_mode mode : {ar_mode::hard, ar_mode::sigmoid}) {
        for (std::size_t first = 0; first < channels;) {
            if (this->settings_[first].mode != mode) {
                ++first;
                continue;
            }
            // A run of channels with this mode, at most one kernel group.
            std::size_t count = 1;
            while (first + count < channels && count < kern.compexp_group_rows &&
                   this->settings_[first + count].mode == mode)
                ++count;
            for (std::size_t t0 = 0; t0 < n; t0 += this->spec_.max_block) {
                const std::size_t m = std::min(this->spec_.max_block, n - t0);
                for (std::size_t c = first; c < first + count; ++c) {
                    in_[c] = x_rms[c] + t0;
                    out_[c] = gain[c] + t0;
                }
                const detail::compexp_forward_args<T> args{
                    in_.data(),       out_.data(),       m,           compexp_params<T>{field_of(f_ct), field_of(f_cr), field_of(f_et), field_of(f_er), field_of(f_knee)},
                    field_of(f_at),   field_of(f_rt),    field_of(f_k), mode == ar_mode::sigmoid,
                    next_state_.data(), next_state_.data()};
                if (!kern.compexp_forward(args, first, count, detail::align64(work_.data())))
                    throw argument_error("x_rms", "must be finite and > 0 (the processor's state is unchanged)");
            }
            first += count;
        }
    }
    for (std::size_t c = 0; c < channels; ++c) this->state_[c] = next_state_[c];
}

#define DD_INSTANTIATE(T)                                                                                           \
    template void compexp_gain<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,             \
                                  signal_span<T>, state_in, state_out);                                             \
    template void compexp_gain_backward<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,    \
                                           signal_view<T>, strided_arg<T>, T*, const compexp_param_grads<T>&, T*,   \
                                           T*, state_in, const double*, double*);                                   \
    template void compexp_gain_mode<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,        \
                                       ar_mode, row_param<T>, signal_span<T>, state_in, state_out);                 \
    template void compexp_gain_mode_backward<T>(signal_view<T>, const compexp_params<T>&, row_param<T>,             \
                                                row_param<T>, ar_mode, row_param<T>, signal_view<T>, strided_arg<T>, \
                                                T*, const compexp_param_grads<T>&, T*, T*, T*, state_in,            \
                                                const double*, double*);                                            \
    template void compexp_gain_mode_jvp<T>(signal_view<T>, const compexp_params<T>&, row_param<T>, row_param<T>,    \
                                           ar_mode, row_param<T>, signal_view<T>, const T*,                         \
                                           const compexp_param_tangents<T>&, row_param<T>, row_param<T>,            \
                                           row_param<T>, signal_span<T>, state_in, const double*, double*);         \
    template class compexp_processor<T>;
DD_INSTANTIATE(float)
DD_INSTANTIATE(double)
#undef DD_INSTANTIATE

}  // namespace dd
