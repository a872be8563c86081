// The ddyn subcommands. Each add_* registers its options on `app` and a callback that runs the
// command after parsing; errors are thrown (usage_error, file_error, dd::argument_error) and
// printed by main on one line.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace ddyn {

void add_compress_command(CLI::App& app);
void add_probe_command(CLI::App& app);
void add_analyze_command(CLI::App& app);
/// dataset, fit, evaluate, study: listed here, run by the Python tool (recovery.cpp).
void add_recovery_commands(CLI::App& app);
bool is_recovery_command(const std::string& name);
/// Replaces the process with `python -m differential_dynamics.fit argv[1:]`; throws file_error if it cannot.
[[noreturn]] void run_recovery_command(int argc, char** argv);

}  // namespace ddyn
