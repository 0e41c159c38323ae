// One row of a daemon's settings table: a key, its flag, its texts and the code that reads it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config_file.hpp"
#include "config/setting_values.hpp"
#include "util/address.hpp"

namespace imgx::config {

// What a reload (SIGHUP) does with a changed value.
enum class OnReload { applies, restart };

// The TOML type of a key, for the documentation and the man page.
enum class ValueKind { string, integer, boolean, integers, strings, tables };

// What --help, docs/configuration.md and img-transfer.toml(5) say about a setting. Texts are
// markdown (`code`); the man page renders them in scdoc.
struct SettingText {
    std::string key;         // the TOML key; for `tables`, the name of [[key]]
    std::string flag;        // "--cache"; "" for a key without a flag
    std::string flag_value;  // what the flag takes in --help ("HOST:PORT"); "" for a switch
    ValueKind kind = ValueKind::string;
    std::string detail;  // after the kind: "`HOST:PORT`", "(path)"; a number's range by default
    std::string default_text;  // markdown; "" to show the value of the default options
    std::string default_note;  // after a shown default: "no limit" gives "`0` (no limit)"
    std::string help;          // --help: a short sentence without the default
    std::string doc;           // docs and man page: the whole meaning
    OnReload reload = OnReload::applies;
    bool repeatable = false;  // the flag adds to a list (the key replaces it)
    bool shared = false;      // a DaemonSettings key with the same text on both daemons
};

// A row with its code. `read` reads the key from one file, `set` the flag's value ("" for a
// switch), `value` writes the TOML value for --print-config (for `tables`, the whole [[key]]
// blocks), `copy` takes the value from other options (a reload applying it).
template <typename Options>
struct Setting : SettingText {
    std::function<void(const Section&, Options&)> read;
    std::function<void(std::string_view, Options&)> set;
    std::function<std::string(const Options&)> value;
    std::function<void(Options& to, const Options& from)> copy;
};

// A restart row whose value a reload found changed (values as --print-config writes them).
struct ChangedSetting {
    std::string key;
    std::string running;
    std::string configured;
};

template <typename Options>
using SettingsTable = std::vector<Setting<Options>>;

// A row on a field: `copy` assigns the field; read/set/value are given.
template <typename O, typename T>
Setting<O> field_setting(SettingText text, T O::*field,
                         std::function<void(const Section&, O&)> read,
                         std::function<void(std::string_view, O&)> set,
                         std::function<std::string(const O&)> value) {
    Setting<O> row{std::move(text)};
    row.read = std::move(read);
    row.set = std::move(set);
    row.value = std::move(value);
    row.copy = [field](O& to, const O& from) { to.*field = from.*field; };
    return row;
}

// `key = N` and `--flag N`, a number from `min` to `max` (the range is the detail).
template <typename O, typename T>
Setting<O> number_setting(SettingText text, T O::*field, unsigned min, unsigned max) {
    text.kind = ValueKind::integer;
    if (text.detail.empty()) text.detail = std::to_string(min) + "-" + std::to_string(max);
    const std::string key = text.key;
    return field_setting<O, T>(
        std::move(text), field,
        [key, field, min, max](const Section& s, O& o) {
            s.integer(key, min, max, [&](std::int64_t v) { o.*field = static_cast<T>(v); });
        },
        [field, min, max](std::string_view v, O& o) { o.*field = parse_number(v, min, max); },
        [field](const O& o) { return std::to_string(o.*field); });
}

// `key = "TEXT"` and `--flag TEXT`; `non_empty` names what an empty value is not ("path").
template <typename O>
Setting<O> text_setting(SettingText text, std::string O::*field, std::string non_empty = {}) {
    text.kind = ValueKind::string;
    const std::string key = text.key;
    auto check = [non_empty](std::string_view v) {
        if (!non_empty.empty() && v.empty()) throw std::invalid_argument("empty " + non_empty);
        return std::string(v);
    };
    return field_setting<O, std::string>(
        std::move(text), field,
        [key, field, check](const Section& s, O& o) {
            s.string(key, [&](std::string_view v) { o.*field = check(v); });
        },
        [field, check](std::string_view v, O& o) { o.*field = check(v); },
        [field](const O& o) { return quoted(o.*field); });
}

// `remote_data = "pipe"|"socket"` and `--remote-data MODE` on a bool field (true: socket); a
// restart setting. `doc` says what reads images that way on this daemon.
template <typename O>
Setting<O> remote_data_setting(bool O::*field, std::string help, std::string doc) {
    return field_setting<O, bool>(
        {.key = "remote_data",
         .flag = "--remote-data",
         .flag_value = "MODE",
         .help = std::move(help),
         .doc = std::move(doc),
         .reload = OnReload::restart},
        field,
        [field](const Section& s, O& o) {
            s.string("remote_data",
                     [&](std::string_view v) { o.*field = parse_remote_data_socket(v); });
        },
        [field](std::string_view v, O& o) { o.*field = parse_remote_data_socket(v); },
        [field](const O& o) { return quoted(remote_data_name(o.*field)); });
}

// A daemon's required address: `key = "HOST:PORT"` and `--flag HOST:PORT`; a restart setting.
template <typename O>
Setting<O> address_setting(SettingText text, HostPort O::*field, bool allow_port_zero) {
    text.detail = "`" + text.flag_value + "` or `[IPv6]:PORT`";
    text.default_text = "required";
    text.reload = OnReload::restart;
    const std::string key = text.key;
    auto parse = [allow_port_zero](std::string_view v) {
        return parse_host_port(v, allow_port_zero);
    };
    return field_setting<O, HostPort>(
        std::move(text), field,
        [key, field, parse](const Section& s, O& o) {
            s.string(key, [&](std::string_view v) { o.*field = parse(v); });
        },
        [field, parse](std::string_view v, O& o) { o.*field = parse(v); },
        [field](const O& o) { return quoted((o.*field).to_string()); });
}

// The rows of a part of the options (`project(options)` gives it) as rows of the whole.
template <typename Outer, typename Inner, typename Project>
Setting<Outer> lift(const Setting<Inner>& row, Project project) {
    Setting<Outer> out{static_cast<const SettingText&>(row)};
    if (row.read)
        out.read = [f = row.read, project](const Section& s, Outer& o) { f(s, project(o)); };
    if (row.set)
        out.set = [f = row.set, project](std::string_view v, Outer& o) { f(v, project(o)); };
    if (row.value) out.value = [f = row.value, project](const Outer& o) { return f(project(o)); };
    if (row.copy)
        out.copy = [f = row.copy, project](Outer& to, const Outer& from) {
            f(project(to), project(from));
        };
    return out;
}

template <typename Outer, typename Inner, typename Project>
void append_lifted(SettingsTable<Outer>& table, const SettingsTable<Inner>& rows, Project project) {
    for (const auto& row : rows) table.push_back(lift<Outer>(row, project));
}

// A projection to a base class or member, for lift(): `As<Base>{}`.
template <typename Base>
struct As {
    Base& operator()(Base& o) const { return o; }
    const Base& operator()(const Base& o) const { return o; }
};

}  // namespace imgx::config
