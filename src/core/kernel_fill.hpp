// Each processor's kernel file fills its entries of a kernel_set; kernel_table.cpp calls them all.
// Declared in the instruction set's namespace (core/arch.hpp), like everything they fill in.
#pragma once
#include "core/arch.hpp"
#include "core/kernels.hpp"

DD_ARCH_BEGIN
namespace kernel_impl {
template <class T> void fill_smoother_kernels(dd::detail::kernel_set<T>& k);
template <class T> void fill_compexp_kernels(dd::detail::kernel_set<T>& k);
template <class T> void fill_limiter_kernels(dd::detail::kernel_set<T>& k);
}  // namespace kernel_impl
DD_ARCH_END
