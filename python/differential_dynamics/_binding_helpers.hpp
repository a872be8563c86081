// Shared by the pybind11 binding files: numpy buffers → the library's views. No math here.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <optional>

#include "differential_dynamics/batch.hpp"

namespace dd_bind {

namespace py = pybind11;

template <class T> using array = py::array_t<T, py::array::c_style>;
template <class T> using maybe_array = std::optional<array<T>>;

template <class T> dd::signal_view<T> view(const array<T>& a, const char* name) {
    if (a.ndim() != 2) throw dd::argument_error(name, "must be a 2-D (B, T) array");
    return {a.data(), static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1))};
}
template <class T> dd::signal_span<T> span(array<T>& a, const char* name) {
    if (a.ndim() != 2) throw dd::argument_error(name, "must be a 2-D (B, T) array");
    return {a.mutable_data(), static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1))};
}
/// A 1-element array is a scalar for all rows; otherwise one value per row.
template <class T> dd::row_param<T> param(const array<T>& a, const char* name) {
    if (a.ndim() != 1 || a.size() == 0) throw dd::argument_error(name, "must be a scalar or one value per row");
    if (a.size() == 1) return dd::row_param<T>(a.data()[0]);
    return dd::row_param<T>(a.data(), static_cast<std::size_t>(a.size()));
}
template <class T> T* out(maybe_array<T>& a) { return a ? a->mutable_data() : nullptr; }

}  // namespace dd_bind
