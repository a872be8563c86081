// ddyn dataset | fit | evaluate | study: the parameter-recovery tool. It trains with torch, so these
// commands hand their arguments to `python -m differential_dynamics.fit` (docs/recovery.md); the
// interpreter is $DDYN_PYTHON, else the one chosen when ddyn was built (DD_DDYN_PYTHON).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "audio_file.hpp"
#include "commands.hpp"

#ifndef DD_DDYN_PYTHON
#define DD_DDYN_PYTHON "python3"
#endif

namespace ddyn {

namespace {
struct recovery_command {
    const char* name;
    const char* description;
};
constexpr recovery_command recovery_commands[] = {
    {"dataset", "Build a parameter-recovery dataset: random settings, clips, teacher outputs, splits (Python)"},
    {"fit", "Fit a model's setting to an input file and its processed target (Python)"},
    {"evaluate", "Fit and evaluate permutations of a dataset: reports and plots (Python)"},
    {"study", "Recovery study of many random settings, serial or on a Dask cluster (Python)"},
};
}  // namespace

void add_recovery_commands(CLI::App& app) {
    // Listed in `ddyn --help`; their arguments are parsed by the Python tool (run_recovery_command).
    for (const auto& c : recovery_commands) app.add_subcommand(c.name, c.description)->allow_extras();
}

bool is_recovery_command(const std::string& name) {
    for (const auto& c : recovery_commands)
        if (name == c.name) return true;
    return false;
}

void run_recovery_command(int argc, char** argv) {
    const char* env = std::getenv("DDYN_PYTHON");
    const std::string python = env && *env ? env : DD_DDYN_PYTHON;
    std::vector<char*> args;
    std::string module_flag = "-m", module = "differential_dynamics.fit";
    args.push_back(const_cast<char*>(python.c_str()));
    args.push_back(module_flag.data());
    args.push_back(module.data());
    for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    execvp(args[0], args.data());
    throw file_error("'" + std::string(argv[1]) + "' runs in Python (python -m differential_dynamics.fit), but '" +
                     python + "' cannot be started: " + std::strerror(errno) +
                     " (set DDYN_PYTHON to an interpreter that imports differential_dynamics)");
}

}  // namespace ddyn
