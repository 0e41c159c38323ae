// Pieces of the Prometheus text exposition format 0.0.4: escaping and number formatting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "metrics/registry.hpp"

namespace imgx::metrics {

// The Content-Type of the text format.
inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// A label value between double quotes: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);
// HELP text: backslash and newline escaped.
std::string escape_help(std::string_view text);
// `a="x",b="y"` (no braces); names are the caller's constants and are checked, not escaped.
std::string format_labels(const Labels& labels);
// A sample value: integers as they are, others in the shortest form that reads back exactly,
// infinities as +Inf / -Inf, NaN as NaN.
std::string format_value(double value);
std::string format_value(std::uint64_t value);
std::string format_value(std::int64_t value);

// True for [a-zA-Z_:][a-zA-Z0-9_:]* (metric names) or, with `label`, [a-zA-Z_][a-zA-Z0-9_]*.
bool valid_name(std::string_view name, bool label = false);

}  // namespace imgx::metrics
