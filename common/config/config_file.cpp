// Reading configuration files and drop-ins into toml tables, with file:line:key errors.
#include "config/config_file.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "util/names.hpp"

namespace imgx::config {

namespace {

std::string error_text(const std::string& file, unsigned line, const std::string& key,
                       const std::string& message) {
    std::string out = file;
    if (line) out += ":" + std::to_string(line);
    out += ": ";
    if (!key.empty()) out += "key '" + key + "': ";
    // One line, whatever the message (toml++'s descriptions may span lines).
    std::string body = message;
    std::replace(body.begin(), body.end(), '\n', ' ');
    return out + body;
}

std::string_view type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time:
            return "a date or time";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::table:
            return "a table";
        default:
            return "nothing";
    }
}

}  // namespace

ConfigError::ConfigError(std::string file, unsigned line, std::string key,
                         const std::string& message)
    : UsageError(error_text(file, line, key, message)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::optional<std::string> nearest_key(std::string_view word,
                                       const std::vector<std::string_view>& candidates) {
    std::optional<std::string> best;
    std::size_t best_distance = 0;
    for (auto candidate : candidates) {
        const std::size_t d = edit_distance(word, candidate);
        if (!best || d < best_distance) {
            best = std::string(candidate);
            best_distance = d;
        }
    }
    // A typo changes a few characters; beyond that the hint would only confuse.
    const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
    if (best && best_distance <= limit) return best;
    return std::nullopt;
}

std::vector<std::string> config_files(const std::string& main, bool required) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    std::error_code ec;
    const auto main_status = fs::status(main, ec);
    if (fs::exists(main_status)) {
        if (fs::is_directory(main_status))
            throw ConfigError(main, 0, {}, "is a directory, not a TOML file");
        files.push_back(main);
    } else if (required) {
        throw ConfigError(main, 0, {}, "no such file");
    }
    const fs::path dropin_dir = main + ".d";
    if (!fs::is_directory(dropin_dir, ec)) return files;
    std::vector<std::string> dropins;
    for (const auto& entry : fs::directory_iterator(dropin_dir, ec)) {
        const auto& path = entry.path();
        if (path.extension() == ".toml" && !entry.is_directory()) dropins.push_back(path.string());
    }
    if (ec) throw ConfigError(dropin_dir.string(), 0, {}, "cannot be read: " + ec.message());
    std::sort(dropins.begin(), dropins.end());
    files.insert(files.end(), dropins.begin(), dropins.end());
    return files;
}

toml::table parse_file(const std::string& path) {
    if (std::FILE* f = std::fopen(path.c_str(), "r")) {
        std::fclose(f);
    } else {
        throw ConfigError(path, 0, {}, "cannot be read: " + std::generic_category().message(errno));
    }
    try {
        return toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        throw ConfigError(path, e.source().begin.line, {}, std::string(e.description()));
    }
}

Section::Section(const toml::table& table, std::string file, std::string prefix)
    : table_(table), file_(std::move(file)), prefix_(std::move(prefix)) {}

void Section::only_keys(const std::vector<std::string_view>& allowed) const {
    // Report the first unknown key as it appears in the file, not in the table's sorted order.
    const toml::key* first = nullptr;
    for (auto&& [key, value] : table_) {
        if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
        if (!first || key.source().begin.line < first->source().begin.line) first = &key;
    }
    if (!first) return;
    std::string message = "unknown key '" + printable(key_name(first->str())) + "'";
    if (auto hint = nearest_key(first->str(), allowed))
        message += " (did you mean '" + key_name(*hint) + "'?)";
    throw ConfigError(file_, first->source().begin.line, {}, message);
}

bool Section::has(std::string_view key) const { return find(key) != nullptr; }

const toml::node* Section::find(std::string_view key) const { return table_.get(key); }

std::string Section::key_name(std::string_view key) const { return prefix_ + std::string(key); }

void Section::fail_at(const toml::node& node, std::string_view key,
                      const std::string& message) const {
    throw ConfigError(file_, node.source().begin.line, key_name(key), message);
}

void Section::fail(std::string_view key, const std::string& message) const {
    if (const auto* node = find(key)) fail_at(*node, key, message);
    throw ConfigError(file_, table_.source().begin.line, key_name(key), message);
}

void Section::string(std::string_view key,
                     const std::function<void(std::string_view)>& apply) const {
    const auto* node = find(key);
    if (!node) return;
    const auto* value = node->as_string();
    if (!value)
        fail_at(*node, key, "expected a string, got " + std::string(type_name(node->type())));
    try {
        apply(value->get());
    } catch (const std::invalid_argument& e) {
        fail_at(*node, key, e.what());
    }
}

void Section::integer(std::string_view key, std::int64_t min, std::int64_t max,
                      const std::function<void(std::int64_t)>& apply) const {
    const auto* node = find(key);
    if (!node) return;
    const auto* value = node->as_integer();
    if (!value)
        fail_at(*node, key, "expected an integer, got " + std::string(type_name(node->type())));
    const std::int64_t v = value->get();
    if (v < min || v > max)
        fail_at(*node, key,
                std::to_string(v) + " is not a number from " + std::to_string(min) + " to " +
                    std::to_string(max));
    try {
        apply(v);
    } catch (const std::invalid_argument& e) {
        fail_at(*node, key, e.what());
    }
}

void Section::boolean(std::string_view key, const std::function<void(bool)>& apply) const {
    const auto* node = find(key);
    if (!node) return;
    const auto* value = node->as_boolean();
    if (!value)
        fail_at(*node, key, "expected true or false, got " + std::string(type_name(node->type())));
    apply(value->get());
}

void Section::integers(std::string_view key, std::int64_t min, std::int64_t max,
                       const std::function<void(std::vector<std::int64_t>)>& apply) const {
    const auto* node = find(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array)
        fail_at(*node, key,
                "expected an array of integers, got " + std::string(type_name(node->type())));
    std::vector<std::int64_t> values;
    for (const auto& element : *array) {
        const auto* value = element.as_integer();
        if (!value)
            fail_at(
                element, key,
                "expected an array of integers, found " + std::string(type_name(element.type())));
        if (value->get() < min || value->get() > max)
            fail_at(element, key,
                    std::to_string(value->get()) + " is not a number from " + std::to_string(min) +
                        " to " + std::to_string(max));
        values.push_back(value->get());
    }
    apply(std::move(values));
}

void Section::strings(std::string_view key,
                      const std::function<void(std::vector<std::string>)>& apply) const {
    const auto* node = find(key);
    if (!node) return;
    const auto* array = node->as_array();
    if (!array)
        fail_at(*node, key,
                "expected an array of strings, got " + std::string(type_name(node->type())));
    std::vector<std::string> values;
    for (const auto& element : *array) {
        const auto* value = element.as_string();
        if (!value)
            fail_at(
                element, key,
                "expected an array of strings, found " + std::string(type_name(element.type())));
        values.push_back(value->get());
    }
    try {
        apply(std::move(values));
    } catch (const std::invalid_argument& e) {
        fail_at(*node, key, e.what());
    }
}

void Section::tables(std::string_view key, const std::function<void(const Section&)>& apply) const {
    const auto* node = find(key);
    if (!node) return;
    const auto* array = node->as_array();
    const std::string hint = "expected an array of tables ([[" + key_name(key) + "]]), got ";
    if (!array) fail_at(*node, key, hint + std::string(type_name(node->type())));
    for (const auto& element : *array) {
        const auto* table = element.as_table();
        if (!table)
            fail_at(element, key,
                    hint + "an array holding " + std::string(type_name(element.type())));
        apply(Section(*table, file_, key_name(key) + "."));
    }
}

std::vector<std::string> apply_files(const std::string& main, bool required,
                                     const std::function<void(const Section&)>& apply) {
    auto files = config_files(main, required);
    for (const auto& file : files) {
        const toml::table document = parse_file(file);
        apply(Section(document, file));
    }
    return files;
}

std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\"";
}

}  // namespace imgx::config
