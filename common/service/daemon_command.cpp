// The flags every daemon has besides its settings, and what the non-running modes print.
#include "service/daemon_command.hpp"

#include <cstdio>

namespace imgx {

void add_action_flags(ArgReader& args, CommandActions& actions) {
    args.value("--config", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        actions.config = std::string(v);
        actions.config_given = true;
    });
    args.toggle("--check-config", [&] { actions.mode = DaemonMode::check_config; });
    args.toggle("--print-config", [&] { actions.mode = DaemonMode::print_config; });
    args.toggle("--help", [&] { actions.mode = DaemonMode::help; });
    args.toggle("--version", [&] { actions.mode = DaemonMode::version; });
}

bool print_for_mode(DaemonMode mode, const std::string& program,
                    const std::vector<std::string>& files, const std::string& usage,
                    const std::string& printed_config) {
    switch (mode) {
        case DaemonMode::help:
            std::fputs(usage.c_str(), stdout);
            return true;
        case DaemonMode::version:
            std::printf("%s %s\n", program.c_str(), IMGX_VERSION);
            return true;
        case DaemonMode::print_config:
            std::fputs(printed_config.c_str(), stdout);
            return true;
        case DaemonMode::check_config: {
            std::string list;
            for (const auto& file : files) list += (list.empty() ? "" : ", ") + file;
            std::printf("%s: configuration is valid (%s)\n", program.c_str(),
                        list.empty() ? "flags only, no configuration file" : list.c_str());
            return true;
        }
        case DaemonMode::run:
            break;
    }
    return false;
}

}  // namespace imgx
