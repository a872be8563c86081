// Validation of the static curve's parameters, shared by every processor built on the curve.
#pragma once
#include <cstddef>

#include "differential_dynamics/curve.hpp"

namespace dd {
/// |CT|, |ET| ≤ max_threshold_db; CR > 1; min_exp_ratio ≤ ER ≤ 1; 0 ≤ knee ≤ max_knee_db — for a
/// signal of `rows` rows. Throws argument_error.
template <class T> void check_compexp_params(const compexp_params<T>& p, std::size_t rows);
}  // namespace dd
