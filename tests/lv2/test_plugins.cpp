// Two stereo plugins for the LV2 tests, never installed: "null" copies its input (the baseline of
// the host benchmark: the host's own cost), "misbehaving" also allocates, locks and writes in run()
// (the run probe must see it, or its zero counts for the real plugins would prove nothing).
#include <lv2/core/lv2.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <mutex>

namespace {

struct stereo_copy {
    const float* in[2] = {};
    float* out[2] = {};
};

LV2_Handle instantiate(const LV2_Descriptor*, double, const char*, const LV2_Feature* const*) {
    return new stereo_copy;
}
void connect_port(LV2_Handle h, std::uint32_t port, void* data) {
    auto* p = static_cast<stereo_copy*>(h);
    if (port < 2) p->in[port] = static_cast<const float*>(data);
    else if (port < 4) p->out[port - 2] = static_cast<float*>(data);
}
void run_null(LV2_Handle h, std::uint32_t n) {
    auto* p = static_cast<stereo_copy*>(h);
    for (int c = 0; c < 2; ++c) std::copy_n(p->in[c], n, p->out[c]);
}
std::mutex run_mutex;
float* volatile scratch = nullptr;  // volatile: the compiler may not elide the allocation
void run_misbehaving(LV2_Handle h, std::uint32_t n) {
    const std::lock_guard<std::mutex> lock(run_mutex);
    scratch = new float[n + 1];
    delete[] scratch;
    std::fflush(stderr);
    run_null(h, n);
}
void cleanup(LV2_Handle h) { delete static_cast<stereo_copy*>(h); }

const LV2_Descriptor descriptors[] = {
    {"urn:differential-dynamics:test:null", instantiate, connect_port, nullptr, run_null, nullptr, cleanup, nullptr},
    {"urn:differential-dynamics:test:misbehaving", instantiate, connect_port, nullptr, run_misbehaving, nullptr, cleanup,
     nullptr},
};

}  // namespace

extern "C" LV2_SYMBOL_EXPORT const LV2_Descriptor* lv2_descriptor(std::uint32_t index) {
    return index < 2 ? &descriptors[index] : nullptr;
}
