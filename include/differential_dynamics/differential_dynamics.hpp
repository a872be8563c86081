// Umbrella header: the whole public C++ API of differential_dynamics (docs/reference/).
#pragma once
#include "compexp.hpp"
#include "conversions.hpp"
#include "core.hpp"
#include "curve.hpp"
#include "detectors.hpp"
#include "family.hpp"
#include "limiter.hpp"
#include "processor.hpp"
#include "smoother.hpp"
#include "ssl.hpp"
