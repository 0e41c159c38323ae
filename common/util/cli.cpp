// Command-line walking for the daemons and img-ctl.
#include "util/cli.hpp"

#include "util/names.hpp"

namespace imgx {

void ArgReader::value(std::string flag, ValueHandler handler) {
    entries_.push_back({std::move(flag), std::move(handler), {}});
}

void ArgReader::toggle(std::string flag, SwitchHandler handler) {
    entries_.push_back({std::move(flag), {}, std::move(handler)});
}

void ArgReader::positional(std::function<void(std::string_view)> handler) {
    on_positional_ = std::move(handler);
}

void ArgReader::parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.size() < 2 || arg.substr(0, 2) != "--") {
            if (!on_positional_) throw UsageError("unexpected argument '" + printable(arg) + "'");
            on_positional_(arg);
            continue;
        }
        auto eq = arg.find('=');
        std::string_view name = arg.substr(0, eq);
        const Entry* entry = nullptr;
        for (const auto& e : entries_)
            if (e.flag == name) entry = &e;
        if (!entry) throw UsageError("unknown option '" + printable(name) + "' (see --help)");
        if (entry->on_switch) {
            if (eq != std::string_view::npos)
                throw UsageError("option '" + std::string(name) + "' takes no value");
            entry->on_switch();
            continue;
        }
        std::string_view value;
        if (eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
        } else {
            if (i + 1 >= argc) throw UsageError("option '" + std::string(name) + "' needs a value");
            value = argv[++i];
        }
        try {
            entry->on_value(value);
        } catch (const std::invalid_argument& e) {
            throw UsageError(std::string(name) + ": " + e.what());
        }
    }
}

}  // namespace imgx
