// Umbrella header: the whole public C++ API of differential_dynamics.
#pragma once
#include "ballistics.hpp"
#include "batch.hpp"
#include "compressor.hpp"
#include "conversions.hpp"
#include "detectors.hpp"
#include "errors.hpp"
#include "gain_curve.hpp"
#include "simd.hpp"
#include "ssl.hpp"
