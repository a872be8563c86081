// The instruction set a kernel translation unit is compiled for. Every inline function and template
// of the private headers lives in dd::DD_ARCH_NS, an inline namespace named after the instruction
// set: the same code compiled with AVX2 and with AVX-512 flags then has different symbol names, so
// the linker can never merge an AVX-512 copy into code that runs on a CPU without it. CMake sets
// DD_ARCH_NS (and the -march flags) per kernel object library; everything else is baseline.
#pragma once

#ifndef DD_ARCH_NS
#define DD_ARCH_NS arch_baseline
#endif

#define DD_ARCH_BEGIN \
    namespace dd {    \
    inline namespace DD_ARCH_NS {
#define DD_ARCH_END \
    }               \
    }
