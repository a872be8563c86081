// ddyn: the command line of differential_dynamics. Every failure is one line on stderr,
// "ddyn: error: …", and a non-zero exit: 2 for a bad command line or setting, 1 for a file that
// cannot be read or written. Reference: docs/reference/ddyn.md.
#include <CLI/CLI.hpp>

#include <iostream>
#include <new>
#include <string>

#include "audio_file.hpp"
#include "commands.hpp"
#include "differential_dynamics/core.hpp"
#include "units.hpp"

namespace {

int fail(const std::string& message, int status) {
    std::string line = message;
    for (auto& ch : line)
        if (ch == '\n' || ch == '\r') ch = ' ';
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cerr << "ddyn: error: " << line << '\n';
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{std::string("ddyn ") + dd::version + ": compress audio files, write probe signals, analyse levels "
                 "(differential_dynamics)", "ddyn"};
    app.set_version_flag("--version", dd::version);
    app.require_subcommand(1);
    ddyn::add_compress_command(app);
    ddyn::add_probe_command(app);
    ddyn::add_analyze_command(app);
    ddyn::add_recovery_commands(app);
    // CLI11 would call an unknown command an unexpected argument; say which commands there are.
    const char* commands = "compress, probe, analyze, dataset, fit, evaluate and study";
    if (argc < 2) return fail(std::string("a command is required: ") + commands + " (ddyn --help)", 2);
    const std::string first = argv[1];
    if (first.empty() || first[0] != '-') {
        try {
            app.get_subcommand(first);
        } catch (const CLI::OptionNotFound&) {
            return fail("no command '" + first + "' (the commands are " + commands + "; ddyn --help)", 2);
        }
    }
    if (ddyn::is_recovery_command(first)) {
        try {
            ddyn::run_recovery_command(argc, argv);
        } catch (const ddyn::file_error& e) {
            return fail(e.what(), 1);
        }
    }
    try {
        app.parse(argc, argv);
        return 0;
    } catch (const CLI::Success& e) {  // --help, --version
        return app.exit(e);
    } catch (const CLI::Error& e) {
        return fail(e.what(), 2);
    } catch (const ddyn::usage_error& e) {
        return fail(e.what(), 2);
    } catch (const dd::argument_error& e) {
        return fail(e.what(), 2);
    } catch (const ddyn::file_error& e) {
        return fail(e.what(), 1);
    } catch (const std::bad_alloc&) {
        return fail("out of memory", 1);
    } catch (const std::exception& e) {
        return fail(e.what(), 1);
    }
}
