// What a settings table drives: the known keys, the file reader, the flags, --print-config, reload.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/setting.hpp"
#include "config/settings_text.hpp"
#include "util/cli.hpp"

namespace imgx::config {

// Reads one file's document onto `out`: an unknown key fails first (with the nearest known
// one), then every row reads its key. Throws ConfigError naming the file, line and key.
template <typename O>
void read_settings(const SettingsTable<O>& table, const Section& document, O& out) {
    std::vector<std::string_view> keys;
    for (const auto& row : table)
        if (!row.key.empty()) keys.push_back(row.key);
    document.only_keys(keys);
    for (const auto& row : table)
        if (row.read) row.read(document, out);
}

// Registers every row's flag on `args`, setting `out`; the table must outlive `args`.
template <typename O>
void add_setting_flags(const SettingsTable<O>& table, ArgReader& args, O& out) {
    for (const auto& row : table) {
        if (row.flag.empty() || !row.set) continue;
        const Setting<O>* r = &row;
        if (row.flag_value.empty())
            args.toggle(row.flag, [r, &out] { r->set("", out); });
        else
            args.value(row.flag, [r, &out](std::string_view v) { r->set(v, out); });
    }
}

// The options as a configuration file that read_settings() reads back to the same options:
// `header`, then one `key = value` line per row in table order ([[tables]] as blocks).
template <typename O>
std::string format_settings(const SettingsTable<O>& table, const O& options, std::string header) {
    std::string out = std::move(header);
    for (const auto& row : table) {
        if (!row.value) continue;
        if (row.kind == ValueKind::tables)
            out += row.value(options);
        else
            out += row.key + " = " + row.value(options) + "\n";
    }
    return out;
}

// The rows as texts, with the defaults of `defaults` filled in where a row shows its value.
template <typename O>
std::vector<SettingText> setting_texts(const SettingsTable<O>& table, const O& defaults = O{}) {
    std::vector<SettingText> texts;
    for (const auto& row : table) {
        SettingText text = row;
        if (text.default_text.empty() && row.value && row.kind != ValueKind::tables)
            text.default_text = "`" + row.value(defaults) + "`";
        texts.push_back(std::move(text));
    }
    return texts;
}

// Restart rows whose value differs between `running` and `configured`.
template <typename O>
std::vector<ChangedSetting> restart_changes(const SettingsTable<O>& table, const O& running,
                                            const O& configured) {
    std::vector<ChangedSetting> out;
    for (const auto& row : table) {
        if (row.reload != OnReload::restart || !row.value) continue;
        std::string was = row.value(running), now = row.value(configured);
        if (was != now) out.push_back({row.key, std::move(was), std::move(now)});
    }
    return out;
}

// Copies the rows a reload applies from `next` into `running` (restart rows keep theirs).
template <typename O>
void copy_reloaded(const SettingsTable<O>& table, O& running, const O& next) {
    for (const auto& row : table)
        if (row.reload == OnReload::applies && row.copy) row.copy(running, next);
}

// "KEY = VALUE, ..." for the numbers a reload applied, the daemon's own first.
template <typename O>
std::string reloaded_numbers(const SettingsTable<O>& table, const O& next) {
    std::string out;
    for (bool shared : {false, true})
        for (const auto& row : table)
            if (row.kind == ValueKind::integer && row.reload == OnReload::applies &&
                row.shared == shared)
                out += (out.empty() ? "" : ", ") + row.key + " = " + row.value(next);
    return out;
}

}  // namespace imgx::config
