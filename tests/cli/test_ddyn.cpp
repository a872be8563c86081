// ddyn end to end: compressed files equal the library's process_audio on the same samples, files
// keep their channels, rate and length, and bad files and arguments give one error line and a
// non-zero exit. Every file is made here, in a fresh temporary directory per test.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "differential_dynamics/audio.hpp"
#include "differential_dynamics/metrics.hpp"
#include "differential_dynamics/probes.hpp"

namespace fs = std::filesystem;

namespace {

struct result {
    int status;
    std::string out, err;
};

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::size_t count_lines(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += c == '\n';
    return n + (!s.empty() && s.back() != '\n');
}

/// Planar audio: channels × frames.
struct audio {
    double rate = 44100;
    std::size_t channels = 0, frames = 0;
    std::vector<float> data;
    float* row(std::size_t c) { return data.data() + c * frames; }
    const float* row(std::size_t c) const { return data.data() + c * frames; }
};

class Ddyn : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() / ("ddyn_test_" + std::to_string(::getpid()) + "_" + info->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (!HasFailure()) fs::remove_all(dir_);
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    result run(const std::string& args) const {
        const std::string cmd = "cd '" + dir_.string() + "' && '" DDYN_PATH "' " + args + " >stdout.txt 2>stderr.txt";
        const int raw = std::system(cmd.c_str());
        return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(dir_ / "stdout.txt"), slurp(dir_ / "stderr.txt")};
    }
    /// Exactly one line on stderr, "ddyn: error: …", nothing on stdout, a non-zero exit.
    void expect_one_error_line(const std::string& args, const std::string& mentions = "") const {
        SCOPED_TRACE(args);
        const result r = run(args);
        EXPECT_NE(r.status, 0);
        EXPECT_EQ(count_lines(r.err), 1u) << r.err;
        EXPECT_EQ(r.err.rfind("ddyn: error: ", 0), 0u) << r.err;
        EXPECT_NE(r.err.find(mentions), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }

    void write(const std::string& name, const audio& a, int format = SF_FORMAT_WAV | SF_FORMAT_FLOAT) const {
        SF_INFO info{};
        info.samplerate = int(a.rate), info.channels = int(a.channels), info.format = format;
        SNDFILE* f = sf_open(path(name).c_str(), SFM_WRITE, &info);
        ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
        std::vector<float> interleaved(a.frames * a.channels);
        for (std::size_t t = 0; t < a.frames; ++t)
            for (std::size_t c = 0; c < a.channels; ++c) interleaved[t * a.channels + c] = a.row(c)[t];
        EXPECT_EQ(sf_writef_float(f, interleaved.data(), sf_count_t(a.frames)), sf_count_t(a.frames));
        sf_close(f);
    }
    audio read(const std::string& name) const {
        SF_INFO info{};
        SNDFILE* f = sf_open(path(name).c_str(), SFM_READ, &info);
        EXPECT_NE(f, nullptr) << name << ": " << sf_strerror(nullptr);
        audio a;
        if (!f) return a;
        a.rate = info.samplerate, a.channels = std::size_t(info.channels), a.frames = std::size_t(info.frames);
        std::vector<float> interleaved(a.frames * a.channels);
        EXPECT_EQ(sf_readf_float(f, interleaved.data(), info.frames), info.frames);
        sf_close(f);
        a.data.resize(interleaved.size());
        for (std::size_t t = 0; t < a.frames; ++t)
            for (std::size_t c = 0; c < a.channels; ++c) a.row(c)[t] = interleaved[t * a.channels + c];
        return a;
    }

    fs::path dir_;
};

/// Seeded program material: a probe mix of identification probes on sign noise, a seed per channel.
audio program(std::size_t channels, std::size_t frames, double rate, unsigned seed) {
    audio a;
    a.rate = rate, a.channels = channels, a.frames = frames;
    for (std::size_t c = 0; c < channels; ++c) {
        const auto mix = dd::probe_mix(seed + c, rate, frames, {{}, 0.2, 0.6, {-30.0}});
        const auto x = dd::render_probe_audio(mix.envelope, {}, seed + c, rate);
        a.data.insert(a.data.end(), x.begin(), x.end());
    }
    return a;
}

/// The library's result for ddyn's latency rule: the input followed by L zeros through
/// process_audio, the first L outputs dropped.
template <class Settings>
audio library_result(const audio& x, const Settings& s, audio* gain = nullptr, const audio* key = nullptr) {
    const std::size_t latency = dd::ms_to_samples(s.lookahead_ms, x.rate), n = x.frames + latency;
    std::vector<float> padded(x.channels * n, 0.0f), y(x.channels * n), g(x.channels * n), k;
    for (std::size_t c = 0; c < x.channels; ++c) std::copy(x.row(c), x.row(c) + x.frames, padded.begin() + std::ptrdiff_t(c * n));
    dd::signal_view<float> sidechain{};
    if (key) {
        k.assign(key->channels * n, 0.0f);
        for (std::size_t c = 0; c < key->channels; ++c)
            std::copy(key->row(c), key->row(c) + std::min(key->frames, x.frames), k.begin() + std::ptrdiff_t(c * n));
        sidechain = {k.data(), key->channels, n};
    }
    dd::process_audio<float>({padded.data(), x.channels, n}, s, x.rate, {y.data(), x.channels, n}, sidechain,
                             {g.data(), x.channels, n});
    audio out = x;
    for (std::size_t c = 0; c < x.channels; ++c) std::copy_n(y.begin() + std::ptrdiff_t(c * n + latency), x.frames, out.row(c));
    if (gain) {
        *gain = x;
        for (std::size_t c = 0; c < x.channels; ++c)
            for (std::size_t t = 0; t < x.frames; ++t)
                gain->row(c)[t] = float(20.0 * std::log10(std::max(double(g[c * n + latency + t]), 1e-7)));
    }
    return out;
}

void expect_same_samples(const audio& got, const audio& want) {
    ASSERT_EQ(got.channels, want.channels);
    ASSERT_EQ(got.frames, want.frames);
    EXPECT_EQ(got.rate, want.rate);
    std::size_t differ = 0, first = 0;
    for (std::size_t i = 0; i < got.data.size(); ++i)
        if (got.data[i] != want.data[i] && differ++ == 0) first = i;
    EXPECT_EQ(differ, 0u) << "first at " << first << ": " << got.data[first] << " vs " << want.data[first];
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Results equal the library's

TEST_F(Ddyn, ClassicalCompressorEqualsTheLibrary) {
    const audio x = program(2, 3 * 44100 + 17, 44100, 1);
    write("in.wav", x);
    const result r = run("compress in.wav out.wav --threshold -30dB --ratio 4:1 --attack 5ms --release 0.2s --knee 6 "
                         "--makeup 3dB --mix 80% --lookahead 2ms --gain-out gain.wav --block 1000");
    ASSERT_EQ(r.status, 0) << r.err;
    dd::compressor_audio_settings s;
    s.threshold_db = -30, s.ratio = 4, s.attack_ms = 5, s.release_ms = 200, s.knee_db = 6, s.makeup_db = 3, s.mix = 0.8;
    s.lookahead_ms = s.max_lookahead_ms = 2;
    audio gain;
    expect_same_samples(read("out.wav"), library_result(x, s, &gain));
    expect_same_samples(read("gain.wav"), gain);
}

TEST_F(Ddyn, LimiterAndSslEqualTheLibrary) {
    const audio x = program(2, 2 * 48000 + 5, 48000, 2);
    write("in.wav", x);
    ASSERT_EQ(run("compress in.wav lim.wav --model limiter --threshold -6 --attack 0.5ms --release 80ms --makeup auto").status, 0);
    dd::limiter_audio_settings l;
    l.threshold_db = -6, l.attack_ms = 0.5, l.release_ms = 80, l.auto_makeup = true;
    expect_same_samples(read("lim.wav"), library_result(x, l));

    ASSERT_EQ(run("compress in.wav ssl.wav --model ssl --threshold -25dB --ratio 10:1 --attack 3ms --release auto "
                  "--link mean --mix 0.5 --feedback 0.5").status, 0);
    dd::ssl_audio_settings ssl;
    ssl.threshold_db = -25, ssl.ratio = 10, ssl.attack_ms = 3, ssl.auto_release = true, ssl.link = dd::channel_link::mean;
    ssl.mix = 0.5, ssl.feedback = 0.5;
    expect_same_samples(read("ssl.wav"), library_result(x, ssl));

    ASSERT_EQ(run("compress in.wav ssl2.wav --model ssl --release 1.2s --precision single").status, 0);
    dd::ssl_audio_settings ssl2;
    ssl2.auto_release = false, ssl2.release_ms = 1200;
    expect_same_samples(read("ssl2.wav"), library_result(x, ssl2));
}

TEST_F(Ddyn, SideChainDrivesTheGain) {
    const audio x = program(2, 44100, 44100, 3), key = program(1, 30000, 44100, 9);  // the key ends early
    write("in.wav", x);
    write("key.wav", key);
    ASSERT_EQ(run("compress in.wav out.wav --sidechain key.wav -t -35 --detector peak").status, 0);
    dd::compressor_audio_settings s;
    s.threshold_db = -35, s.detector = dd::level_detector::peak;
    expect_same_samples(read("out.wav"), library_result(x, s, nullptr, &key));
}

TEST_F(Ddyn, ResultDoesNotDependOnTheBlockSize) {
    write("in.wav", program(2, 20000, 44100, 4));
    ASSERT_EQ(run("compress in.wav a.wav --lookahead 3ms --block 1").status, 0);
    ASSERT_EQ(run("compress in.wav b.wav --lookahead 3ms --block 4096").status, 0);
    expect_same_samples(read("a.wav"), read("b.wav"));
}

TEST_F(Ddyn, StereoKeepsChannelsRateAndLengthInEveryContainer) {
    const audio x = program(2, 48000 * 2 + 3, 48000, 5);
    write("in.wav", x, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    for (const char* out : {"o.wav", "o.flac", "o.aiff", "o.ogg"}) {
        SCOPED_TRACE(out);
        const result r = run(std::string("compress in.wav ") + out + " --lookahead 5ms -t -20");
        ASSERT_EQ(r.status, 0) << r.err;
        const audio y = read(out);
        EXPECT_EQ(y.channels, 2u);
        EXPECT_EQ(y.rate, 48000.0);
        EXPECT_EQ(y.frames, x.frames);
    }
    const audio three = program(3, 5000, 22050, 6);
    write("three.flac", three, SF_FORMAT_FLAC | SF_FORMAT_PCM_24);
    ASSERT_EQ(run("compress three.flac three_out.wav --link none").status, 0);
    const audio y = read("three_out.wav");
    EXPECT_EQ(y.channels, 3u);
    EXPECT_EQ(y.rate, 22050.0);
    EXPECT_EQ(y.frames, 5000u);
}

TEST_F(Ddyn, LinkedChannelsGetOneGain) {
    write("in.wav", program(2, 30000, 44100, 7));
    ASSERT_EQ(run("compress in.wav out.wav -t -30 --gain-out g.csv").status, 0);
    std::ifstream csv(path("g.csv"));
    std::string line;
    std::getline(csv, line);
    EXPECT_EQ(line, "time_s,gain_db_1,gain_db_2");
    std::size_t rows = 0, reduced = 0;
    while (std::getline(csv, line)) {
        double t, g1, g2;
        ASSERT_EQ(std::sscanf(line.c_str(), "%lf,%lf,%lf", &t, &g1, &g2), 3);
        EXPECT_EQ(g1, g2);
        reduced += g1 < -1.0;
        ++rows;
    }
    EXPECT_EQ(rows, 30000u);
    EXPECT_GT(reduced, 1000u);
    ASSERT_EQ(run("compress in.wav out2.wav -t -30 --link none --gain-out g2.csv").status, 0);
    EXPECT_NE(slurp(path("g2.csv")), slurp(path("g.csv")));  // unlinked: each channel its own gain
}

TEST_F(Ddyn, ClippingIsReportedNeverSilent) {
    write("in.wav", program(1, 20000, 44100, 8));
    const result pcm = run("compress in.wav out.wav --makeup 30dB --format pcm16");
    EXPECT_EQ(pcm.status, 0);
    EXPECT_NE(pcm.err.find("warning"), std::string::npos) << pcm.err;
    EXPECT_NE(pcm.err.find("clipped"), std::string::npos) << pcm.err;
    const result flt = run("compress in.wav out.wav --makeup 30dB --format float");
    EXPECT_EQ(flt.status, 0);
    EXPECT_NE(flt.err.find("kept"), std::string::npos) << flt.err;
    const result quiet = run("compress in.wav out.wav --format pcm16");
    EXPECT_TRUE(quiet.err.empty()) << quiet.err;
}

// ------------------------------------------------------------------------------------------------
// Errors: one line, non-zero exit, no output left behind

TEST_F(Ddyn, BadFilesGiveOneErrorLine) {
    write("good.wav", program(1, 4410, 44100, 10), SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    const std::string good = slurp(path("good.wav"));
    std::ofstream(path("empty.wav"));
    std::ofstream(path("text.wav")) << "this is not audio\n";
    std::ofstream(path("truncated.wav"), std::ios::binary) << good.substr(0, good.size() / 2);
    std::ofstream(path("header_only.wav"), std::ios::binary) << good.substr(0, 44);
    std::ofstream(path("broken_header.wav"), std::ios::binary) << good.substr(0, 30);
    std::string garbage = good.substr(0, 12);
    for (int i = 0; i < 2000; ++i) garbage += char(i * 7919 % 251);
    std::ofstream(path("garbage.wav"), std::ios::binary) << garbage;
    // A float WAV holding a NaN.
    audio nan_audio;
    nan_audio.channels = 1, nan_audio.frames = 3, nan_audio.data = {0.1f, NAN, 0.2f};
    write("nan.wav", nan_audio);
    fs::create_directory(path("folder.wav"));

    for (const char* bad : {"missing.wav", "empty.wav", "text.wav", "truncated.wav", "header_only.wav",
                            "broken_header.wav", "garbage.wav", "nan.wav", "folder.wav"}) {
        expect_one_error_line(std::string("compress ") + bad + " out.wav", bad);
        EXPECT_FALSE(fs::exists(path("out.wav"))) << bad;
        expect_one_error_line(std::string("analyze ") + bad, bad);
        expect_one_error_line(std::string("compress good.wav out.wav --sidechain ") + bad, bad);
        expect_one_error_line(std::string("analyze good.wav ") + bad, bad);
    }
    // A bad output location, and a side chain at another rate.
    expect_one_error_line("compress good.wav no/such/dir/out.wav", "OUT");
    audio other = program(1, 4410, 22050, 11);
    write("other_rate.wav", other);
    expect_one_error_line("compress good.wav out.wav --sidechain other_rate.wav", "--sidechain");
    expect_one_error_line("analyze good.wav other_rate.wav", "PROCESSED");
    expect_one_error_line("compress good.wav good.wav", "OUT");
    EXPECT_EQ(slurp(path("good.wav")), good);
}

TEST_F(Ddyn, BadArgumentsGiveOneErrorLine) {
    write("in.wav", program(2, 4410, 44100, 12));
    const std::pair<const char*, const char*> cases[] = {
        {"compress in.wav out.wav --ratio 0.5", "--ratio"},
        {"compress in.wav out.wav --ratio abc", "--ratio"},
        {"compress in.wav out.wav --threshold -18dBx", "--threshold"},
        {"compress in.wav out.wav --threshold nan", "--threshold"},
        {"compress in.wav out.wav --attack -3ms", "--attack"},
        {"compress in.wav out.wav --attack 0", "--attack"},
        {"compress in.wav out.wav --release 2parsecs", "--release"},
        {"compress in.wav out.wav --release auto", "--release"},
        {"compress in.wav out.wav --knee -1dB", "--knee"},
        {"compress in.wav out.wav --mix 150%", "--mix"},
        {"compress in.wav out.wav --makeup 500dB", "--makeup"},
        {"compress in.wav out.wav --lookahead -1ms", "--lookahead"},
        {"compress in.wav out.wav --model foo", "--model"},
        {"compress in.wav out.wav --model limiter --ratio 4", "--ratio"},
        {"compress in.wav out.wav --model limiter --threshold 3dB", "--threshold"},
        {"compress in.wav out.wav --model ssl --attack 100ms", "--attack"},
        {"compress in.wav out.wav --model ssl --release 5s", "--release"},
        {"compress in.wav out.wav --model ssl --feedback 2", "--feedback"},
        {"compress in.wav out.wav --sigmoid-k 4", "--sigmoid-k"},
        {"compress in.wav out.wav --format pcm99", "--format"},
        {"compress in.wav out.flac --format float", "--format"},
        {"compress in.wav out.mp9", "out.mp9"},
        {"compress in.wav out.wav --gain-out gain.flac", "--gain-out"},
        {"compress in.wav out.wav --block 0", "--block"},
        {"compress in.wav out.wav --no-such-option", "--no-such-option"},
        {"compress in.wav", "OUT"},
        {"compress", "IN"},
        {"frobnicate", "frobnicate"},
        {"", "a command is required"},
        {"probe nonsense out.wav", "nonsense"},
        {"probe tone out.wav --duration 0s", "--duration"},
        {"probe tone out.wav --duration 100000min", "--duration"},
        {"probe tone out.wav --rate -5", "--rate"},
        {"probe tone out.wav --threshold -90", "--threshold"},
        {"probe tone out.wav --carrier sine --carrier-frequency 30kHz", "--carrier-frequency"},
        {"probe tone", "OUT"},
        {"analyze in.wav --edge 5s", "--edge"},
        {"analyze in.wav --reference in.wav", "--reference"},
        {"analyze in.wav --detector-time -2ms", "--detector-time"},
    };
    for (const auto& [args, mentions] : cases) {
        expect_one_error_line(args, mentions);
        EXPECT_FALSE(fs::exists(path("out.wav"))) << args;
    }
}

TEST_F(Ddyn, HelpWorksForEveryCommand) {
    for (const char* args : {"--help", "compress --help", "probe --help", "analyze --help", "compress -h"}) {
        const result r = run(args);
        EXPECT_EQ(r.status, 0) << args;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << args;
        EXPECT_TRUE(r.err.empty()) << r.err;
    }
    EXPECT_NE(run("compress --help").out.find("--sidechain"), std::string::npos);
    EXPECT_NE(run("probe --help").out.find("--carrier"), std::string::npos);
    EXPECT_NE(run("analyze --help").out.find("--reference"), std::string::npos);
    const result version = run("--version");
    EXPECT_EQ(version.status, 0);
    EXPECT_EQ(version.out, std::string(dd::version) + "\n");
}

// ------------------------------------------------------------------------------------------------
// probe and analyze

TEST_F(Ddyn, ProbeWritesTheLibrarysSignals) {
    ASSERT_EQ(run("probe release_drops p.wav --seed 4 --rate 48kHz --duration 1.5s --channels 2 --carrier none "
                  "--threshold -30dB --format double").status, 0);
    const audio p = read("p.wav");
    ASSERT_EQ(p.channels, 2u);
    ASSERT_EQ(p.frames, 72000u);
    for (std::size_t c = 0; c < 2; ++c) {
        const auto want = dd::make_probe(dd::probe_kind::release_drops, 4 + c, 48000.0, 72000, {-30.0});
        for (std::size_t t = 0; t < p.frames; ++t) ASSERT_EQ(p.row(c)[t], float(want[t]));
    }
    ASSERT_EQ(run("probe mix m1.wav --seed 9 --duration 6s --segments seg.csv").status, 0);
    ASSERT_EQ(run("probe mix m2.wav --seed 9 --duration 6s").status, 0);
    ASSERT_EQ(run("probe mix m3.wav --seed 10 --duration 6s").status, 0);
    EXPECT_EQ(slurp(path("m1.wav")), slurp(path("m2.wav")));
    // Reproducible in any second: no PEAK chunk (libsndfile stamps it with the time of writing).
    EXPECT_EQ(slurp(path("m1.wav")).substr(0, 96).find("PEAK"), std::string::npos);
    EXPECT_NE(slurp(path("m1.wav")), slurp(path("m3.wav")));
    EXPECT_EQ(slurp(path("seg.csv")).rfind("kind,start,length,seed\n", 0), 0u);
    const result list = run("probe --list");
    EXPECT_EQ(list.status, 0);
    for (const auto& info : dd::probe_catalog()) EXPECT_NE(list.out.find(info.name), std::string::npos);
}

TEST_F(Ddyn, AnalyzeReportsTheLibrarysMetrics) {
    const audio x = program(2, 44100, 44100, 13);
    write("in.wav", x);
    ASSERT_EQ(run("compress in.wav out.wav -t -30 -r 8 --gain-out g.wav").status, 0);
    const result r = run("analyze in.wav out.wav --reference out.wav --gain g.wav -t -30 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto report = nlohmann::json::parse(r.out);
    ASSERT_EQ(report["channels"].size(), 2u);
    dd::compressor_audio_settings s;
    s.threshold_db = -30, s.ratio = 8;
    audio gain;
    const audio y = library_result(x, s, &gain);
    for (std::size_t c = 0; c < 2; ++c) {
        const auto& ch = report["channels"][c];
        std::vector<double> xd(x.row(c), x.row(c) + x.frames), yd(y.row(c), y.row(c) + y.frames),
            gd(gain.row(c), gain.row(c) + gain.frames);
        EXPECT_DOUBLE_EQ(ch["esr_processed_vs_in"].get<double>(), dd::esr(xd.data(), yd.data(), xd.size()));
        EXPECT_EQ(ch["esr_processed_vs_reference"].get<double>(), 0.0);
        EXPECT_EQ(ch["gain_rmse_db_vs_reference"].get<double>(), 0.0);
        EXPECT_DOUBLE_EQ(ch["gain"]["flip_rate_per_s"].get<double>(), dd::flip_rate(gd.data(), gd.size(), 44100.0));
        EXPECT_GT(ch["gain"]["average_gain_reduction_db"].get<double>(), 1.0);
        double peak = 0;
        for (double v : xd) peak = std::max(peak, std::fabs(v));
        EXPECT_DOUBLE_EQ(ch["peak_dbfs"].get<double>(), 20 * std::log10(peak));
        EXPECT_GT(ch["near_threshold_occupancy"].get<double>(), 0.0);
    }
    const result text = run("analyze in.wav out.wav");
    EXPECT_EQ(text.status, 0);
    EXPECT_NE(text.out.find("average gain reduction"), std::string::npos);
}
