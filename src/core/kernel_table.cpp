// One instruction set's kernel table (this file is compiled into every kernel object library, with
// that library's -march flags, DD_ARCH_NS and DD_KERNEL_TABLE naming the table's accessor).
#include "core/kernel_fill.hpp"

#ifndef DD_KERNEL_TABLE
#define DD_KERNEL_TABLE kernel_table_baseline
#define DD_KERNEL_LEVEL baseline
#endif

namespace dd::detail {

const kernel_table* DD_KERNEL_TABLE() {
    static const kernel_table table = [] {
        kernel_table t{};
        t.level = simd_level::DD_KERNEL_LEVEL;
        kernel_impl::fill_smoother_kernels(t.f32);
        kernel_impl::fill_smoother_kernels(t.f64);
        kernel_impl::fill_compexp_kernels(t.f32);
        kernel_impl::fill_compexp_kernels(t.f64);
        kernel_impl::fill_limiter_kernels(t.f32);
        kernel_impl::fill_limiter_kernels(t.f64);
        return t;
    }();
    return &table;
}

}  // namespace dd::detail
