// Validation of the static curve's parameters, shared by every processor built on the curve.
#pragma once
#include <cstddef>

#include "differential_dynamics/curve.hpp"

namespace dd {
/// CT, ET finite; CR > 1; 0 < ER ≤ 1; knee ≥ 0 — for a signal of `rows` rows. Throws argument_error.
template <class T> void check_compexp_params(const compexp_params<T>& p, std::size_t rows);
}  // namespace dd
