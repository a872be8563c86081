// The ddyn subcommands. Each add_* registers its options on `app` and a callback that runs the
// command after parsing; errors are thrown (usage_error, file_error, dd::argument_error) and
// printed by main on one line.
#pragma once
#include <CLI/CLI.hpp>

namespace ddyn {

void add_compress_command(CLI::App& app);
void add_probe_command(CLI::App& app);
void add_analyze_command(CLI::App& app);

}  // namespace ddyn
