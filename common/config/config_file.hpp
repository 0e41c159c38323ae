// Configuration files: a main TOML file plus drop-ins, read with positions for one-line errors.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/cli.hpp"

namespace imgx::config {

// A problem in a configuration file. what() is one line: "FILE:LINE: key 'KEY': MESSAGE"
// (without the key part when the problem is not about one key, without LINE when the file
// itself is the problem). A UsageError, so the daemons report it like an argument error (exit 2).
class ConfigError : public UsageError {
  public:
    ConfigError(std::string file, unsigned line, std::string key, const std::string& message);

    [[nodiscard]] const std::string& file() const { return file_; }
    [[nodiscard]] unsigned line() const { return line_; }  // 0: the whole file
    [[nodiscard]] const std::string& key() const { return key_; }

  private:
    std::string file_;
    unsigned line_;
    std::string key_;
};

// Levenshtein distance (insertions, deletions, substitutions), for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate nearest to `word`, if it is near enough to be a likely typo.
std::optional<std::string> nearest_key(std::string_view word,
                                       const std::vector<std::string_view>& candidates);

// The files one configuration is made of, in the order they apply: `main` (if it exists), then
// `<main>.d/*.toml` in lexical order. A missing `main` is an error only when `required` (given
// with --config); the drop-ins of a missing default file still apply.
std::vector<std::string> config_files(const std::string& main, bool required);

// Parses one file; a syntax error becomes a ConfigError with the file and line.
toml::table parse_file(const std::string& path);

// One table of one file (the document or one [[array]] element), read key by key. Every
// getter throws ConfigError naming the file, line and key; a converter's std::invalid_argument
// (e.g. from parse_host_port) becomes one too.
class Section {
  public:
    Section(const toml::table& table, std::string file, std::string prefix = {});

    // Throws for the first key (in file order) not in `allowed`, with the nearest valid key.
    void only_keys(const std::vector<std::string_view>& allowed) const;
    [[nodiscard]] bool has(std::string_view key) const;

    void string(std::string_view key, const std::function<void(std::string_view)>& apply) const;
    void integer(std::string_view key, std::int64_t min, std::int64_t max,
                 const std::function<void(std::int64_t)>& apply) const;
    void boolean(std::string_view key, const std::function<void(bool)>& apply) const;
    // An array of integers (`key = [1, 2]`), each from `min` to `max`.
    void integers(std::string_view key, std::int64_t min, std::int64_t max,
                  const std::function<void(std::vector<std::int64_t>)>& apply) const;
    // An array of strings (`key = ["a", "b"]`).
    void strings(std::string_view key,
                 const std::function<void(std::vector<std::string>)>& apply) const;
    // An array of tables (`[[key]]`); `apply` gets each element in order.
    void tables(std::string_view key, const std::function<void(const Section&)>& apply) const;

    // Throws ConfigError at `key` (its line, or the section's when the key is absent).
    [[noreturn]] void fail(std::string_view key, const std::string& message) const;

    [[nodiscard]] const std::string& file() const { return file_; }

  private:
    [[nodiscard]] const toml::node* find(std::string_view key) const;
    [[nodiscard]] std::string key_name(std::string_view key) const;
    [[noreturn]] void fail_at(const toml::node& node, std::string_view key,
                              const std::string& message) const;

    const toml::table& table_;
    std::string file_;
    std::string prefix_;  // "capture." inside a [[capture]] element
};

// Parses every file of config_files(main, required) and calls `apply` with each one's document, in
// order, so later files override earlier ones. Returns the files read.
std::vector<std::string> apply_files(const std::string& main, bool required,
                                     const std::function<void(const Section&)>& apply);

// `text` as a TOML basic string, quotes included.
std::string quoted(std::string_view text);

}  // namespace imgx::config
