// The texts a settings table generates: --help, the key tables of the docs and of the man page.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/setting.hpp"

namespace imgx::config {

// The parts of a daemon's --help that are not settings.
struct UsageText {
    std::string program;         // "img-proxyd"
    std::string default_config;  // "/etc/img-proxyd/img-proxyd.toml"
    std::string description;     // what the daemon does, one paragraph
    std::string notes;           // after the options; "" for none
};

// The whole --help text: usage lines, description, the action flags, one entry per setting flag
// (with its default), then the notes.
std::string usage_text(const UsageText& usage, const std::vector<SettingText>& rows);

// docs/configuration.md: a markdown table of every key.
std::string markdown_key_table(const std::vector<SettingText>& rows);

// img-transfer.toml(5): one scdoc entry per key of `rows` (shared rows left out).
std::string man_key_entries(const std::vector<SettingText>& rows);

// img-transfer.toml(5): the shared rows once, with each daemon's default where they differ.
std::string man_shared_entries(const std::vector<SettingText>& a, std::string_view a_name,
                               const std::vector<SettingText>& b, std::string_view b_name);

// Words of `text` in lines of at most `width` columns; the first line starts with `first`, the
// others with `rest`.
std::string wrap_words(std::string_view text, std::size_t width, const std::string& first,
                       const std::string& rest);

}  // namespace imgx::config
