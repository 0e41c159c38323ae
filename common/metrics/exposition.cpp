// Escaping and number formatting of the Prometheus text format.
#include "metrics/exposition.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace imgx::metrics {

namespace {

bool name_char(char c, bool first, bool label) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    const bool colon = c == ':' && !label;
    return letter || colon || (digit && !first);
}

// Backslash and newline always; double quotes only inside label values.
std::string escape(std::string_view text, bool quotes) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '"' && quotes)
            out += "\\\"";
        else
            out += c;
    }
    return out;
}

}  // namespace

std::string escape_label_value(std::string_view value) { return escape(value, /*quotes=*/true); }

std::string escape_help(std::string_view text) { return escape(text, /*quotes=*/false); }

bool valid_name(std::string_view name, bool label) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, label)) return false;
    return true;
}

std::string format_labels(const Labels& labels) {
    std::string out;
    for (const auto& [name, value] : labels) {
        if (!valid_name(name, /*label=*/true) || name == "le")
            throw std::logic_error("invalid label name '" + name + "'");
        if (!out.empty()) out += ',';
        out += name;
        out += "=\"";
        out += escape_label_value(value);
        out += '"';
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    // Whole numbers below 2^53 print exactly as integers ("1", not "1.0" or "1e+00").
    if (std::trunc(value) == value && std::fabs(value) < 9007199254740992.0)
        return fmt::format("{}", static_cast<std::int64_t>(value));
    return fmt::format("{}", value);
}

std::string format_value(std::uint64_t value) { return fmt::format("{}", value); }

std::string format_value(std::int64_t value) { return fmt::format("{}", value); }

}  // namespace imgx::metrics
