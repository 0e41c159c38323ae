// A small command-line reader: flags with values, repeated flags, one-line usage errors.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace imgx {

// Thrown for any problem with the arguments; main prints "PROGRAM: message" and exits 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr int kExitUsage = 2;

// Walks argv; for each "--flag VALUE" or "--flag=VALUE" calls the handler registered for it.
class ArgReader {
  public:
    using ValueHandler = std::function<void(std::string_view value)>;
    using SwitchHandler = std::function<void()>;

    void value(std::string flag, ValueHandler handler);
    void toggle(std::string flag, SwitchHandler handler);
    // Called for arguments that are not flags (img-ctl's verb and operands).
    void positional(std::function<void(std::string_view)> handler);

    // Throws UsageError for unknown flags or missing values.
    void parse(int argc, char** argv) const;

  private:
    struct Entry {
        std::string flag;
        ValueHandler on_value;
        SwitchHandler on_switch;
    };
    std::vector<Entry> entries_;
    std::function<void(std::string_view)> on_positional_;
};

}  // namespace imgx
