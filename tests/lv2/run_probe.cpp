// A probe preloaded into an LV2 host (LD_PRELOAD) that counts what a plugin's run() must not do:
// allocate or free memory, lock a mutex, or do file I/O. It wraps every plugin the host loads (it
// interposes dlsym, so the host's lookup of lv2_descriptor returns descriptors whose run() is
// wrapped) and counts those calls only while a run() is active on the calling thread. The plugin
// itself is the installed one, unmodified. At exit the counts go to the file named by the
// environment variable DD_RUN_PROBE_REPORT, as JSON.
#include <dlfcn.h>
#include <fcntl.h>
#include <lv2/core/lv2.h>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);
void* __libc_memalign(std::size_t, std::size_t);
void* __libc_valloc(std::size_t);
void* __libc_pvalloc(std::size_t);
}

namespace {

// Whether this thread is inside a plugin's run() (initial-exec TLS: reading it never allocates).
__thread int inside_run __attribute__((tls_model("initial-exec"))) = 0;

std::atomic<long> runs{0}, frames{0}, allocations{0}, frees{0}, locks{0}, io{0}, instances{0}, libraries{0};

void count(std::atomic<long>& counter) {
    if (inside_run) counter.fetch_add(1, std::memory_order_relaxed);
}

// ------------------------------------------------------------------------------------------------
// Wrapped descriptors. The host gets a copy of each descriptor whose instantiate, run and cleanup
// are ours; instances are mapped back to the plugin's own descriptor in a fixed table.

constexpr int max_descriptors = 64, max_instances = 64;
struct wrapped_descriptor {
    const LV2_Descriptor* plugin = nullptr;
    LV2_Descriptor wrapped{};
};
wrapped_descriptor descriptors[max_descriptors];
int descriptor_count = 0;
struct instance {
    LV2_Handle handle = nullptr;
    const LV2_Descriptor* plugin = nullptr;
};
instance instance_table[max_instances];
using descriptor_function = const LV2_Descriptor* (*)(std::uint32_t);
descriptor_function plugin_lv2_descriptor = nullptr;

const LV2_Descriptor* plugin_of(LV2_Handle handle) {
    for (const instance& i : instance_table)
        if (i.handle == handle) return i.plugin;
    std::abort();  // a handle the host never got from instantiate
}

LV2_Handle probe_instantiate(const LV2_Descriptor* d, double fs, const char* bundle, const LV2_Feature* const* f) {
    for (int k = 0; k < descriptor_count; ++k) {
        if (&descriptors[k].wrapped != d) continue;
        const LV2_Descriptor* plugin = descriptors[k].plugin;
        LV2_Handle handle = plugin->instantiate(plugin, fs, bundle, f);
        for (instance& i : instance_table)
            if (handle && !i.handle) {
                i = {handle, plugin};
                instances.fetch_add(1);
                return handle;
            }
        return handle;
    }
    std::abort();
}

void probe_run(LV2_Handle handle, std::uint32_t n) {
    const LV2_Descriptor* plugin = plugin_of(handle);
    ++inside_run;
    runs.fetch_add(1, std::memory_order_relaxed);
    frames.fetch_add(n, std::memory_order_relaxed);
    plugin->run(handle, n);
    --inside_run;
}

void probe_cleanup(LV2_Handle handle) {
    const LV2_Descriptor* plugin = plugin_of(handle);
    for (instance& i : instance_table)
        if (i.handle == handle) i = {};
    plugin->cleanup(handle);
}

const LV2_Descriptor* probe_lv2_descriptor(std::uint32_t index) {
    const LV2_Descriptor* plugin = plugin_lv2_descriptor(index);
    if (!plugin) return nullptr;
    for (int k = 0; k < descriptor_count; ++k)
        if (descriptors[k].plugin == plugin) return &descriptors[k].wrapped;
    if (descriptor_count == max_descriptors) std::abort();
    wrapped_descriptor& w = descriptors[descriptor_count++];
    w.plugin = plugin;
    w.wrapped = *plugin;
    w.wrapped.instantiate = probe_instantiate;
    w.wrapped.run = probe_run;
    w.wrapped.cleanup = probe_cleanup;
    return &w.wrapped;
}

// The functions this probe wraps, looked up once (plain pointers: a function-local static's guard
// could itself take a lock while the lock functions are being wrapped).
using dlsym_function = void* (*)(void*, const char*);
dlsym_function libc_dlsym = nullptr;
dlsym_function real_dlsym() {
    if (!libc_dlsym) {
        libc_dlsym = reinterpret_cast<dlsym_function>(dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34"));
        if (!libc_dlsym) libc_dlsym = reinterpret_cast<dlsym_function>(dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5"));
    }
    return libc_dlsym;
}

template <class F> F next(const char* name) { return reinterpret_cast<F>(real_dlsym()(RTLD_NEXT, name)); }

// The next definitions of the functions wrapped below, looked up when the probe is loaded (a
// lookup inside a run() would itself allocate and free), or at first use if that comes earlier.
#define DD_WRAPPED(X)                                                                                           \
    X(pthread_mutex_lock) X(pthread_mutex_trylock) X(pthread_rwlock_rdlock) X(pthread_rwlock_wrlock) X(open)  \
    X(read) X(write) X(fopen) X(fwrite) X(fread) X(fputs) X(puts) X(vfprintf) X(fflush)
#define DD_DECLARE(name) decltype(&::name) real_##name = nullptr;
DD_WRAPPED(DD_DECLARE)
#define DD_RESOLVE(name) \
    if (!real_##name) real_##name = next<decltype(real_##name)>(#name);
__attribute__((constructor)) void resolve_wrapped() { DD_WRAPPED(DD_RESOLVE) }

void write_report() {
    const char* path = std::getenv("DD_RUN_PROBE_REPORT");
    if (!path) return;
    std::FILE* f = std::fopen(path, "w");
    if (!f) return;
    std::fprintf(f,
                 "{\"runs\": %ld, \"frames\": %ld, \"allocations\": %ld, \"frees\": %ld, \"locks\": %ld, \"io\": %ld, "
                 "\"instances\": %ld, \"libraries\": %ld}\n",
                 runs.load(), frames.load(), allocations.load(), frees.load(), locks.load(), io.load(),
                 instances.load(), libraries.load());
    std::fclose(f);
}

struct reporter {
    ~reporter() { write_report(); }
} report_at_exit;

}  // namespace

extern "C" {

// A host looks up lv2_descriptor in the plugin's module: it gets ours, which wraps the plugin's.
// One plugin module per host process (lv2apply, lv2file): a second would share the one pointer,
// so it is counted and the test requires one.
void* dlsym(void* handle, const char* name) {
    void* f = real_dlsym()(handle, name);
    if (!f || std::strcmp(name, "lv2_descriptor") != 0) return f;
    if (reinterpret_cast<descriptor_function>(f) != plugin_lv2_descriptor) libraries.fetch_add(1);
    plugin_lv2_descriptor = reinterpret_cast<descriptor_function>(f);
    return reinterpret_cast<void*>(probe_lv2_descriptor);
}

// Memory (operator new and delete reach these too)
void* malloc(std::size_t n) {
    count(allocations);
    return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) {
    count(allocations);
    return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) {
    count(allocations);
    return __libc_realloc(p, n);
}
void free(void* p) {
    if (p) count(frees);
    __libc_free(p);
}
void* memalign(std::size_t alignment, std::size_t n) {
    count(allocations);
    return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
    count(allocations);
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
    count(allocations);
    void* p = __libc_memalign(alignment, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void* valloc(std::size_t n) {
    count(allocations);
    return __libc_valloc(n);
}
void* pvalloc(std::size_t n) {
    count(allocations);
    return __libc_pvalloc(n);
}

// Locks
int pthread_mutex_lock(pthread_mutex_t* m) {
    count(locks);
    DD_RESOLVE(pthread_mutex_lock)
    return real_pthread_mutex_lock(m);
}
int pthread_mutex_trylock(pthread_mutex_t* m) {
    count(locks);
    DD_RESOLVE(pthread_mutex_trylock)
    return real_pthread_mutex_trylock(m);
}
int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
    count(locks);
    DD_RESOLVE(pthread_rwlock_rdlock)
    return real_pthread_rwlock_rdlock(l);
}
int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
    count(locks);
    DD_RESOLVE(pthread_rwlock_wrlock)
    return real_pthread_rwlock_wrlock(l);
}

// File I/O
int open(const char* path, int flags, ...) {
    count(io);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list args;
        va_start(args, flags);
        mode = mode_t(va_arg(args, int));
        va_end(args);
    }
    DD_RESOLVE(open)
    return real_open(path, flags, mode);
}
ssize_t read(int fd, void* buffer, std::size_t n) {
    count(io);
    DD_RESOLVE(read)
    return real_read(fd, buffer, n);
}
ssize_t write(int fd, const void* buffer, std::size_t n) {
    count(io);
    DD_RESOLVE(write)
    return real_write(fd, buffer, n);
}
std::FILE* fopen(const char* path, const char* mode) {
    count(io);
    DD_RESOLVE(fopen)
    return real_fopen(path, mode);
}
std::size_t fwrite(const void* buffer, std::size_t size, std::size_t n, std::FILE* file) {
    count(io);
    DD_RESOLVE(fwrite)
    return real_fwrite(buffer, size, n, file);
}
std::size_t fread(void* buffer, std::size_t size, std::size_t n, std::FILE* file) {
    count(io);
    DD_RESOLVE(fread)
    return real_fread(buffer, size, n, file);
}
int fputs(const char* s, std::FILE* file) {
    count(io);
    DD_RESOLVE(fputs)
    return real_fputs(s, file);
}
int puts(const char* s) {
    count(io);
    DD_RESOLVE(puts)
    return real_puts(s);
}
int vfprintf(std::FILE* file, const char* format, va_list args) {
    count(io);
    DD_RESOLVE(vfprintf)
    return real_vfprintf(file, format, args);
}
int fprintf(std::FILE* file, const char* format, ...) {
    va_list args;
    va_start(args, format);
    const int n = vfprintf(file, format, args);
    va_end(args);
    return n;
}
int printf(const char* format, ...) {
    va_list args;
    va_start(args, format);
    const int n = vfprintf(stdout, format, args);
    va_end(args);
    return n;
}
int fflush(std::FILE* file) {
    count(io);
    DD_RESOLVE(fflush)
    return real_fflush(file);
}

}  // extern "C"
