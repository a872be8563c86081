// Exit status 0 if this CPU (and build) runs the named SIMD level, 1 otherwise: lets CTest skip, visibly,
// the per-instruction-set test binaries a CPU cannot run (they could fault before main).
#include <cstdio>
#include <cstring>

#include "differential_dynamics/core.hpp"

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    for (dd::simd_level level : {dd::simd_level::baseline, dd::simd_level::avx2, dd::simd_level::avx512})
        if (std::strcmp(argv[1], dd::simd_level_name(level)) == 0) {
            const bool ok = dd::simd_level_supported(level);
            if (!ok) std::printf("this CPU cannot run the %s kernels: skipped\n", argv[1]);
            return ok ? 0 : 1;
        }
    return 2;
}
