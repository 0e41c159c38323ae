// Rendering settings rows as --help text, a markdown table and scdoc man page entries.
#include "config/settings_text.hpp"

namespace imgx::config {

namespace {

constexpr std::size_t kHelpWidth = 100;
constexpr std::size_t kHelpColumn = 24;  // where a flag's help text starts
constexpr std::size_t kManWidth = 96;

std::string_view kind_name(ValueKind kind) {
    switch (kind) {
        case ValueKind::string:
            return "string";
        case ValueKind::integer:
            return "integer";
        case ValueKind::boolean:
            return "boolean";
        case ValueKind::integers:
            return "array of integers";
        case ValueKind::strings:
            return "array of strings";
        case ValueKind::tables:
            return "array of tables";
    }
    return "value";
}

std::string type_text(const SettingText& row) {
    std::string out(kind_name(row.kind));
    if (!row.detail.empty()) out += " " + row.detail;
    return out;
}

std::string without(std::string_view text, std::string_view drop) {
    std::string out;
    for (char c : text)
        if (drop.find(c) == std::string_view::npos) out += c;
    return out;
}

std::string default_markdown(const SettingText& row) {
    if (row.default_note.empty()) return row.default_text;
    return row.default_text + " (" + row.default_note + ")";
}

// " (default 16)" for a flag's shown value, " (required)" for a required key, "" otherwise
// (and for a switch: it is off unless given).
std::string help_default(const SettingText& row) {
    if (row.default_text == "required") return " (required)";
    if (row.flag_value.empty() || row.default_text.empty() || row.default_text.front() != '`')
        return "";
    const std::string value = without(row.default_text, "`\"");
    if (value.empty() || value == "[]") return "";
    return " (default " + value + (row.default_note.empty() ? "" : ": " + row.default_note) + ")";
}

std::string flag_entry(std::string_view flag, std::string_view value, std::string_view help) {
    std::string head = "  " + std::string(flag) + (value.empty() ? "" : " " + std::string(value));
    head += head.size() + 1 < kHelpColumn ? std::string(kHelpColumn - head.size(), ' ') : "  ";
    return wrap_words(help, kHelpWidth, head, std::string(kHelpColumn, ' '));
}

// `code` in markdown as *code* in scdoc, with scdoc's special characters escaped.
std::string scdoc_text(std::string_view markdown) {
    std::string out;
    bool code = false;
    for (char c : markdown) {
        if (c == '`') {
            out += '*';
            code = !code;
        } else if ((c == '*' && code) || c == '[') {
            out += '\\';
            out += c;
        } else {
            out += c;
        }
    }
    return out;
}

std::string man_value(const SettingText& row) {
    const std::string v = row.flag_value.empty() ? "VALUE" : row.flag_value;
    switch (row.kind) {
        case ValueKind::string:
            return "_\"" + v + "\"_";
        case ValueKind::integer:
            return "_N_";
        case ValueKind::boolean:
            return "_BOOL_";
        case ValueKind::integers:
            return "\\[_" + v + "_, ...]";
        case ValueKind::strings:
            return "\\[_\"" + v + "\"_, ...]";
        case ValueKind::tables:
            return "";
    }
    return "";
}

std::string man_entry(const SettingText& row, const std::string& default_part) {
    std::string out = row.kind == ValueKind::tables
                          ? "*\\[[" + row.key + "]]*\n"
                          : "*" + row.key + "* = " + man_value(row) + "\n";
    std::string type(kind_name(row.kind));
    type[0] = static_cast<char>(type[0] - 'a' + 'A');
    std::string doc = row.doc;
    if (!doc.empty() && doc[0] >= 'a' && doc[0] <= 'z')
        doc[0] = static_cast<char>(doc[0] - 'a' + 'A');
    std::string body = type + (row.detail.empty() ? "" : " " + row.detail) + ". " + doc + ".";
    if (!row.flag.empty()) {
        body += " Flag `" + row.flag + "`";
        if (!row.flag_value.empty()) body += " _" + row.flag_value + "_";
        body += row.repeatable ? " (repeatable, adds)." : ".";
    }
    if (!default_part.empty()) body += " Default: " + default_part + ".";
    body += row.reload == OnReload::restart ? " Needs a restart." : " Applies on reload.";
    return out + wrap_words(scdoc_text(body), kManWidth, "\t", "\t");
}

}  // namespace

std::string wrap_words(std::string_view text, std::size_t width, const std::string& first,
                       const std::string& rest) {
    std::string out = first;
    std::size_t line_start = 0;
    bool empty_line = true;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t space = text.find(' ', pos);
        const std::string_view word = text.substr(
            pos, space == std::string_view::npos ? std::string_view::npos : space - pos);
        pos = space == std::string_view::npos ? text.size() : space + 1;
        if (word.empty()) continue;
        const std::size_t used = out.size() - line_start;
        if (!empty_line && used + 1 + word.size() > width) {
            out += "\n";
            line_start = out.size();
            out += rest;
            empty_line = true;
        }
        if (!empty_line) out += ' ';
        out += word;
        empty_line = false;
    }
    return out + "\n";
}

std::string usage_text(const UsageText& usage, const std::vector<SettingText>& rows) {
    const std::string& p = usage.program;
    std::string out =
        "usage: " + p + " [--config FILE] [--check-config | --print-config] [OPTION]...\n";
    out += "       " + p + " --help | --version\n\n";
    out += wrap_words(usage.description, kHelpWidth, "", "") + "\n";
    out +=
        flag_entry("--config", "FILE",
                   "configuration file (default " + usage.default_config +
                       ", if it exists), then FILE.d/*.toml in lexical order; flags override it");
    out += flag_entry("--check-config", "",
                      "validate the configuration files and flags, then exit (0 or 2)");
    out += flag_entry("--print-config", "", "print the effective configuration as TOML, then exit");
    out += flag_entry("--help", "", "print this text, then exit");
    out += flag_entry("--version", "", "print the version, then exit");
    for (const auto& row : rows) {
        if (row.flag.empty()) continue;
        std::string help = row.help + help_default(row);
        if (row.repeatable) help += "; repeatable";
        out += flag_entry(row.flag, row.flag_value, help);
    }
    if (!usage.notes.empty()) out += "\n" + wrap_words(usage.notes, kHelpWidth, "", "");
    return out;
}

std::string markdown_key_table(const std::vector<SettingText>& rows) {
    std::string out =
        "| key | type | default | flag | on reload | meaning |\n|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
        const std::string key = row.kind == ValueKind::tables ? "[[" + row.key + "]]" : row.key;
        std::string flag;
        if (!row.flag.empty()) {
            flag = "`" + row.flag + (row.flag_value.empty() ? "" : " " + row.flag_value) + "`";
            if (row.repeatable) flag += " (repeatable, adds)";
        }
        const std::string reload = row.reload == OnReload::restart ? "restart" : "applies";
        out += "| `" + key + "` | " + type_text(row) + " | " + default_markdown(row) + " | " +
               flag + " | " + reload + " | " + row.doc + " |\n";
    }
    return out;
}

std::string man_key_entries(const std::vector<SettingText>& rows) {
    std::string out;
    for (const auto& row : rows)
        if (!row.shared) out += (out.empty() ? "" : "\n") + man_entry(row, default_markdown(row));
    return out;
}

std::string man_shared_entries(const std::vector<SettingText>& a, std::string_view a_name,
                               const std::vector<SettingText>& b, std::string_view b_name) {
    std::string out;
    for (const auto& row : a) {
        if (!row.shared) continue;
        std::string default_part = default_markdown(row);
        for (const auto& other : b)
            if (other.key == row.key && default_markdown(other) != default_part)
                default_part += " (" + std::string(a_name) + ") or " + default_markdown(other) +
                                " (" + std::string(b_name) + ")";
        out += (out.empty() ? "" : "\n") + man_entry(row, default_part);
    }
    return out;
}

}  // namespace imgx::config
