// A small LV2 host on lilv for the tests, for what lv2apply and lv2file cannot do: change a control
// in the middle of a file (at an exact frame, as hosts with sample-accurate automation do), run
// blocks of random lengths, process in place, leave optional side-chain ports unconnected, and
// report the plugin's ports and its latency. It also checks that run() restores the host's
// floating-point mode.
//
//     dd_lv2_host ports URI
//     dd_lv2_host run URI IN.wav OUT.wav [--block N | --random-blocks SEED:MAX] [--set SYM=VALUE]...
//                 [--at FRAME:SYM=VALUE]... [--in-place]
//
// The plugin is found through LV2_PATH. `run` writes float WAV and prints "latency N" when the
// plugin has a latency port.
#include <lilv/lilv.h>
#include <lv2/core/lv2.h>
#include <sndfile.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
/// The floating-point mode (MXCSR): a plugin may change it inside run() but must restore it.
unsigned floating_point_mode() { return _mm_getcsr(); }
#else
unsigned floating_point_mode() { return 0; }
#endif

namespace {

struct port_info {
    std::string symbol;
    bool audio = false, input = false, side_chain = false, latency = false;
    float minimum = NAN, maximum = NAN, fallback = NAN;
    std::string minimum_text, maximum_text, fallback_text;  // as the .ttl writes them ("null" if absent)
};

std::string literal(LilvNode* node) {
    std::string text = node ? lilv_node_as_string(node) : "null";
    lilv_node_free(node);
    return text;
}

using world_ptr = std::unique_ptr<LilvWorld, decltype(&lilv_world_free)>;
using instance_ptr = std::unique_ptr<LilvInstance, decltype(&lilv_instance_free)>;

struct plugin_ports {
    world_ptr world{nullptr, lilv_world_free};
    const LilvPlugin* plugin = nullptr;
    std::vector<port_info> ports;
};

plugin_ports load(const std::string& uri) {
    plugin_ports p;
    p.world.reset(lilv_world_new());
    lilv_world_load_all(p.world.get());
    LilvNode* uri_node = lilv_new_uri(p.world.get(), uri.c_str());
    p.plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(p.world.get()), uri_node);
    lilv_node_free(uri_node);
    if (!p.plugin) throw std::runtime_error("plugin <" + uri + "> not found (LV2_PATH?)");
    const uint32_t n = lilv_plugin_get_num_ports(p.plugin);
    std::vector<float> minimum(n), maximum(n), fallback(n);
    lilv_plugin_get_port_ranges_float(p.plugin, minimum.data(), maximum.data(), fallback.data());
    LilvNode* audio = lilv_new_uri(p.world.get(), LV2_CORE__AudioPort);
    LilvNode* input = lilv_new_uri(p.world.get(), LV2_CORE__InputPort);
    LilvNode* side_chain = lilv_new_uri(p.world.get(), LV2_CORE_PREFIX "isSideChain");
    const uint32_t latency_port = lilv_plugin_has_latency(p.plugin) ? lilv_plugin_get_latency_port_index(p.plugin) : n;
    for (uint32_t i = 0; i < n; ++i) {
        const LilvPort* port = lilv_plugin_get_port_by_index(p.plugin, i);
        port_info info;
        info.symbol = lilv_node_as_string(lilv_port_get_symbol(p.plugin, port));
        info.audio = lilv_port_is_a(p.plugin, port, audio);
        info.input = lilv_port_is_a(p.plugin, port, input);
        info.side_chain = lilv_port_has_property(p.plugin, port, side_chain);
        info.latency = i == latency_port;
        info.minimum = minimum[i], info.maximum = maximum[i], info.fallback = fallback[i];
        LilvNode *low = nullptr, *high = nullptr, *fallback_node = nullptr;
        lilv_port_get_range(p.plugin, port, &fallback_node, &low, &high);
        info.minimum_text = literal(low), info.maximum_text = literal(high), info.fallback_text = literal(fallback_node);
        p.ports.push_back(info);
    }
    for (LilvNode* node : {audio, input, side_chain}) lilv_node_free(node);
    return p;
}

void print_ports(const plugin_ports& p) {
    std::printf("[\n");
    for (std::size_t i = 0; i < p.ports.size(); ++i) {
        const port_info& q = p.ports[i];
        std::printf("  {\"index\": %zu, \"symbol\": \"%s\", \"type\": \"%s\", \"direction\": \"%s\", \"side_chain\": %s, "
                    "\"latency\": %s, \"minimum\": %s, \"maximum\": %s, \"default\": %s}%s\n",
                    i, q.symbol.c_str(), q.audio ? "audio" : "control", q.input ? "input" : "output",
                    q.side_chain ? "true" : "false", q.latency ? "true" : "false", q.minimum_text.c_str(),
                    q.maximum_text.c_str(), q.fallback_text.c_str(), i + 1 < p.ports.size() ? "," : "");
    }
    std::printf("]\n");
}

struct control_change {
    long frame;
    std::string symbol;
    float value;
};

/// "SYM=VALUE" → (symbol, value).
std::pair<std::string, float> parse_assignment(const std::string& text) {
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) throw std::runtime_error("expected SYMBOL=VALUE, got '" + text + "'");
    return {text.substr(0, eq), std::stof(text.substr(eq + 1))};
}

struct audio_file {
    std::vector<float> samples;  // interleaved
    int channels = 0, rate = 0;
    long frames = 0;
};

audio_file read_file(const std::string& path) {
    SF_INFO info{};
    SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
    if (!f) throw std::runtime_error(path + ": " + sf_strerror(nullptr));
    audio_file a;
    a.channels = info.channels, a.rate = info.samplerate, a.frames = long(info.frames);
    a.samples.resize(std::size_t(a.frames) * std::size_t(a.channels));
    sf_readf_float(f, a.samples.data(), info.frames);
    sf_close(f);
    return a;
}

void write_file(const std::string& path, const audio_file& a) {
    SF_INFO info{};
    info.channels = a.channels, info.samplerate = a.rate, info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    if (!f) throw std::runtime_error(path + ": " + sf_strerror(nullptr));
    sf_writef_float(f, a.samples.data(), a.frames);
    sf_close(f);
}

int run(const std::string& uri, const std::string& in_path, const std::string& out_path, long block,
        const std::string& random_blocks, const std::vector<std::string>& sets, const std::vector<std::string>& ats,
        bool in_place) {
    plugin_ports p = load(uri);
    const audio_file in = read_file(in_path);
    std::map<std::string, std::size_t> control_index;
    std::vector<float> control(p.ports.size(), 0.0f);
    std::vector<std::size_t> audio_in, key_in, audio_out;
    for (std::size_t i = 0; i < p.ports.size(); ++i) {
        const port_info& q = p.ports[i];
        if (!q.audio) {
            control_index[q.symbol] = i;
            control[i] = std::isnan(q.fallback) ? 0.0f : q.fallback;
        } else if (!q.input) {
            audio_out.push_back(i);
        } else {
            (q.side_chain ? key_in : audio_in).push_back(i);
        }
    }
    // The file's channels: the main inputs, then (if it has them) the side-chain inputs.
    const bool keyed = std::size_t(in.channels) == audio_in.size() + key_in.size();
    if (!keyed && std::size_t(in.channels) != audio_in.size())
        throw std::runtime_error("the file has " + std::to_string(in.channels) + " channels; the plugin takes " +
                                 std::to_string(audio_in.size()) + " (+" + std::to_string(key_in.size()) + " side chain)");
    if (in_place && audio_in.size() != audio_out.size()) throw std::runtime_error("--in-place: inputs != outputs");
    auto index_of = [&](const std::string& symbol) {
        const auto it = control_index.find(symbol);
        if (it == control_index.end()) throw std::runtime_error("no control port '" + symbol + "'");
        return it->second;
    };
    for (const std::string& s : sets) {
        const auto [symbol, value] = parse_assignment(s);
        control[index_of(symbol)] = value;
    }
    std::vector<control_change> changes;
    for (const std::string& s : ats) {
        const auto colon = s.find(':');
        if (colon == std::string::npos) throw std::runtime_error("expected FRAME:SYMBOL=VALUE, got '" + s + "'");
        const auto [symbol, value] = parse_assignment(s.substr(colon + 1));
        index_of(symbol);
        changes.push_back({std::stol(s.substr(0, colon)), symbol, value});
    }
    std::sort(changes.begin(), changes.end(), [](const auto& a, const auto& b) { return a.frame < b.frame; });

    long max_block = block;
    std::mt19937 random;
    std::uniform_int_distribution<long> random_length;
    if (!random_blocks.empty()) {
        const auto colon = random_blocks.find(':');
        random.seed(unsigned(std::stoul(random_blocks.substr(0, colon))));
        max_block = std::stol(random_blocks.substr(colon + 1));
        random_length = std::uniform_int_distribution<long>(1, max_block);
    }
    if (max_block < 1) throw std::runtime_error("block sizes must be >= 1");

    const instance_ptr owned(lilv_plugin_instantiate(p.plugin, in.rate, nullptr), lilv_instance_free);
    LilvInstance* instance = owned.get();
    if (!instance) throw std::runtime_error("the plugin refused to instantiate at " + std::to_string(in.rate) + " Hz");
    std::vector<std::vector<float>> buffers(p.ports.size());
    for (std::size_t i = 0; i < p.ports.size(); ++i) {
        if (!p.ports[i].audio) {
            lilv_instance_connect_port(instance, uint32_t(i), &control[i]);
            continue;
        }
        const bool unconnected = p.ports[i].input && p.ports[i].side_chain && !keyed;
        buffers[i].assign(std::size_t(max_block), 0.0f);
        lilv_instance_connect_port(instance, uint32_t(i), unconnected ? nullptr : buffers[i].data());
    }
    if (in_place)
        for (std::size_t c = 0; c < audio_out.size(); ++c)
            lilv_instance_connect_port(instance, uint32_t(audio_out[c]), buffers[audio_in[c]].data());

    std::vector<std::size_t> file_channel_port = audio_in;  // file channel → port
    if (keyed) file_channel_port.insert(file_channel_port.end(), key_in.begin(), key_in.end());
    audio_file out;
    out.channels = int(audio_out.size()), out.rate = in.rate, out.frames = in.frames;
    out.samples.assign(std::size_t(out.frames) * audio_out.size(), 0.0f);

    lilv_instance_activate(instance);
    std::size_t next_change = 0;
    for (long t = 0; t < in.frames;) {
        while (next_change < changes.size() && changes[next_change].frame <= t) {
            control[index_of(changes[next_change].symbol)] = changes[next_change].value;
            ++next_change;
        }
        long n = random_blocks.empty() ? block : random_length(random);
        n = std::min(n, in.frames - t);
        if (next_change < changes.size()) n = std::min(n, changes[next_change].frame - t);
        for (std::size_t ch = 0; ch < file_channel_port.size(); ++ch)
            for (long k = 0; k < n; ++k)
                buffers[file_channel_port[ch]][std::size_t(k)] =
                    in.samples[std::size_t(t + k) * std::size_t(in.channels) + ch];
        const unsigned mode = floating_point_mode();
        lilv_instance_run(instance, uint32_t(n));
        if (floating_point_mode() != mode) throw std::runtime_error("run() left the floating-point mode changed");
        for (std::size_t c = 0; c < audio_out.size(); ++c) {
            const std::vector<float>& b = buffers[in_place ? audio_in[c] : audio_out[c]];
            for (long k = 0; k < n; ++k) out.samples[std::size_t(t + k) * audio_out.size() + c] = b[std::size_t(k)];
        }
        t += n;
    }
    lilv_instance_deactivate(instance);
    for (std::size_t i = 0; i < p.ports.size(); ++i)
        if (p.ports[i].latency) std::printf("latency %.0f\n", double(control[i]));
    write_file(out_path, out);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"A small LV2 host for the tests (lilv): control changes at exact frames, random block lengths."};
    app.require_subcommand(1);
    std::string uri, in_path, out_path, random_blocks;
    long block = 512;
    std::vector<std::string> sets, ats;
    bool in_place = false;
    CLI::App* ports = app.add_subcommand("ports", "The plugin's ports as JSON");
    ports->add_option("uri", uri, "Plugin URI")->required();
    CLI::App* run_command = app.add_subcommand("run", "Run the plugin on a file");
    run_command->add_option("uri", uri, "Plugin URI")->required();
    run_command->add_option("in", in_path, "Input file")->required();
    run_command->add_option("out", out_path, "Output file (float WAV)")->required();
    run_command->add_option("--block", block, "Block length (frames)");
    run_command->add_option("--random-blocks", random_blocks, "SEED:MAX: block lengths uniform in 1..MAX");
    run_command->add_option("--set", sets, "SYMBOL=VALUE: a control's value from the start");
    run_command->add_option("--at", ats, "FRAME:SYMBOL=VALUE: a control's value from that frame on");
    run_command->add_flag("--in-place", in_place, "Outputs share the inputs' buffers");
    CLI11_PARSE(app, argc, argv);
    try {
        if (*ports) {
            print_ports(load(uri));
            return 0;
        }
        return run(uri, in_path, out_path, block, random_blocks, sets, ats, in_place);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dd_lv2_host: %s\n", e.what());
        return 1;
    }
}
