// Shared by the pybind11 binding files: numpy buffers → the library's views. No math here.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "differential_dynamics/core.hpp"

namespace dd_bind {

namespace py = pybind11;

template <class T> using array = py::array_t<T, py::array::c_style>;
template <class T> using maybe_array = std::optional<array<T>>;

template <class T> dd::signal_view<T> view(const array<T>& a, const char* name) {
    if (a.ndim() != 2) throw dd::argument_error(name, "must be a 2-D (B, T) array");
    return {a.data(), static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1))};
}
/// Output buffers come fresh from torch (large ones through mmap) and are about to be written for
/// the first time: asking for transparent huge pages (Linux, THP mode "madvise") turns 512 page
/// faults per 2 MiB into one; for B×T outputs of tens of MB the faults otherwise cost more than the
/// kernels. Only a hint: ignored elsewhere.
inline void huge_page_hint(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t huge = std::uintptr_t(2) << 20;  // only whole aligned 2 MiB pages inside
    const std::uintptr_t p = reinterpret_cast<std::uintptr_t>(data);
    const std::uintptr_t begin = (p + huge - 1) & ~(huge - 1), end = (p + bytes) & ~(huge - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
    (void)data;
    (void)bytes;
#endif
}

template <class T> dd::signal_span<T> span(array<T>& a, const char* name) {
    if (a.ndim() != 2) throw dd::argument_error(name, "must be a 2-D (B, T) array");
    huge_page_hint(a.mutable_data(), static_cast<std::size_t>(a.size()) * sizeof(T));
    return {a.mutable_data(), static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1))};
}
/// A 1-element array is a scalar for all rows; otherwise one value per row.
template <class T> dd::row_param<T> param(const array<T>& a, const char* name) {
    if (a.ndim() != 1 || a.size() == 0) throw dd::argument_error(name, "must be a scalar or one value per row");
    if (a.size() == 1) return dd::row_param<T>(a.data()[0]);
    return dd::row_param<T>(a.data(), static_cast<std::size_t>(a.size()));
}
template <class T> T* out(maybe_array<T>& a) {
    if (!a) return nullptr;
    huge_page_hint(a->mutable_data(), static_cast<std::size_t>(a->size()) * sizeof(T));
    return a->mutable_data();
}
/// A batch state (rows × per_row float64 values), or null.
inline const double* state(const maybe_array<double>& a, std::size_t rows, std::size_t per_row, const char* name) {
    if (!a) return nullptr;
    if (static_cast<std::size_t>(a->size()) != rows * per_row)
        throw dd::argument_error(name, "must hold " + std::to_string(per_row) + " float64 value(s) per row (" +
                                           std::to_string(rows * per_row) + " in all), got " +
                                           std::to_string(a->size()));
    return a->data();
}
inline double* state_out(maybe_array<double>& a, std::size_t rows, std::size_t per_row, const char* name) {
    if (!a) return nullptr;
    if (static_cast<std::size_t>(a->size()) != rows * per_row)
        throw dd::argument_error(name, "must hold " + std::to_string(per_row) + " float64 value(s) per row");
    return a->mutable_data();
}

/// The channel pointers of a (C, n) block for a streaming processor with `channels` channels.
template <class T, class A> std::vector<T*> channels_of(A& a, std::size_t channels, const char* name) {
    if (a.ndim() != 2 || static_cast<std::size_t>(a.shape(0)) != channels)
        throw dd::argument_error(name, "must be a (channels, n) block with " + std::to_string(channels) + " channels");
    std::vector<T*> p(channels);
    for (std::size_t c = 0; c < channels; ++c) p[c] = const_cast<T*>(a.data()) + c * static_cast<std::size_t>(a.shape(1));
    return p;
}

/// get_state() / set_state(state) of a streaming processor P: channels × P::state_size float64 values.
template <class P> pybind11::class_<P>& def_state(pybind11::class_<P>& cls) {
    return cls
        .def("get_state",
             [](const P& p) {
                 pybind11::array_t<double> s({p.channels(), P::state_size});
                 p.get_state(s.mutable_data());
                 return s;
             })
        .def(
            "set_state",
            [](P& p, const array<double>& s) {
                if (static_cast<std::size_t>(s.size()) != p.channels() * P::state_size)
                    throw dd::argument_error("state", "must hold channels × " + std::to_string(P::state_size) +
                                                          " float64 values");
                p.set_state(s.data());
            },
            pybind11::arg("state"));
}

}  // namespace dd_bind
