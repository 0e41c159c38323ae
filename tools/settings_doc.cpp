// settings-doc: regenerates the key tables of docs/configuration.md and img-transfer.toml(5).
//
// settings-doc md|man INPUT OUTPUT copies INPUT to OUTPUT with every region between
// "BEGIN GENERATED NAME" and "END GENERATED NAME" marker lines replaced by the text the two
// daemons' settings tables give for NAME. scripts/checks/generated-docs compares the result with
// the committed files.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cached/cache_config.hpp"
#include "config/settings_table.hpp"
#include "config/settings_text.hpp"
#include "proxyd/proxy_config.hpp"

using namespace imgx;

namespace {

constexpr std::string_view kBegin = "BEGIN GENERATED ";
constexpr std::string_view kEnd = "END GENERATED ";

// Keys of both daemons whose reload behaviour is `reload`, each once, as `code` in `style`.
std::string reload_list(const std::vector<config::SettingText>& a,
                        const std::vector<config::SettingText>& b, config::OnReload reload,
                        bool man) {
    std::vector<std::string> keys;
    for (const auto* rows : {&a, &b})
        for (const auto& row : *rows) {
            const std::string key =
                row.kind == config::ValueKind::tables ? "[[" + row.key + "]]" : row.key;
            if (row.reload != reload) continue;
            bool known = false;
            for (const auto& k : keys) known = known || k == key;
            if (!known) keys.push_back(key);
        }
    std::string out;
    for (const auto& key : keys)
        out += (out.empty() ? "" : ", ") +
               (man ? "*" + (key[0] == '[' ? "\\" + key : key) + "*" : "`" + key + "`");
    return out;
}

std::map<std::string, std::string> sections(bool man) {
    const auto proxy = config::setting_texts(*proxyd::proxy_command_spec().table);
    const auto cache = config::setting_texts(*cached::cache_command_spec().table);
    std::map<std::string, std::string> out;
    const std::string applies = reload_list(proxy, cache, config::OnReload::applies, man);
    const std::string restart = reload_list(proxy, cache, config::OnReload::restart, man);
    if (man) {
        out["shared-keys"] = config::man_shared_entries(proxy, "img-proxyd", cache, "img-cached");
        out["img-proxyd-keys"] = config::man_key_entries(proxy);
        out["img-cached-keys"] = config::man_key_entries(cache);
        out["reload-lists"] =
            config::wrap_words("Applied at once: " + applies + ".", 96, "", "") + "\n" +
            config::wrap_words("Kept until the next restart (a warning says so): " + restart + ".",
                               96, "", "");
    } else {
        out["img-proxyd-keys"] = config::markdown_key_table(proxy);
        out["img-cached-keys"] = config::markdown_key_table(cache);
        out["reload-lists"] = "- applied at once: " + applies +
                              ";\n- kept until the next restart (a warning says so): " + restart +
                              ".\n";
    }
    return out;
}

// The NAME of a marker line ("<!-- BEGIN GENERATED img-proxyd-keys: ... -->"), or "".
std::string marker_name(const std::string& line, std::string_view marker) {
    const auto at = line.find(marker);
    if (at == std::string::npos) return {};
    const auto start = at + marker.size();
    const auto end = line.find_first_of(": ", start);
    return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 || (std::string(argv[1]) != "md" && std::string(argv[1]) != "man")) {
        std::fprintf(stderr, "usage: settings-doc md|man INPUT OUTPUT\n");
        return 2;
    }
    const auto generated = sections(std::string(argv[1]) == "man");
    std::ifstream in(argv[2]);
    if (!in) {
        std::fprintf(stderr, "settings-doc: cannot read %s\n", argv[2]);
        return 1;
    }
    std::ostringstream out;
    std::string line, open;
    while (std::getline(in, line)) {
        if (open.empty()) {
            out << line << "\n";
            open = marker_name(line, kBegin);
            if (open.empty()) continue;
            if (!generated.count(open)) {
                std::fprintf(stderr, "settings-doc: %s: no generated text named '%s'\n", argv[2],
                             open.c_str());
                return 1;
            }
            out << generated.at(open);
        } else if (marker_name(line, kEnd) == open) {
            out << line << "\n";
            open.clear();
        }
    }
    if (!open.empty()) {
        std::fprintf(stderr, "settings-doc: %s: '%s' has no END GENERATED line\n", argv[2],
                     open.c_str());
        return 1;
    }
    std::ofstream(argv[3]) << out.str();
    return 0;
}
