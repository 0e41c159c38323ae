// Bounded waits on what a daemon writes to its log file, and the ports a test holds or reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <regex>
#include <string>

#include "support/fd_io.hpp"

namespace imgtest {

// Polls `until` every few milliseconds; true once it returns true, false at the deadline.
bool poll_until(const std::function<bool()>& until, Deadline deadline);

// The size of a log file now: a mark to look only at lines written after it (0 if absent).
std::size_t log_size(const std::string& path);

// Waits until `nth` whole lines of `path` after byte `from` match `pattern` (std::regex_search);
// the last of them, or nullopt at the deadline.
std::optional<std::string> wait_for_log_line(const std::string& path, const std::regex& pattern,
                                             Deadline deadline, std::size_t from = 0,
                                             std::size_t nth = 1);

// img-cached's ready line ("... ready: link on ADDR:PORT, ...") after byte `from` of its log:
// the port its link listener really bound (it may have been given port 0); 0 at the deadline.
std::uint16_t wait_for_link_port(const std::string& path, Deadline deadline, std::size_t from = 0);

// A loopback TCP port bound (not listening) by the test for as long as the object lives: a
// connection to it is refused, and no other test or daemon can take it meanwhile.
class ReservedPort {
  public:
    ReservedPort();
    ReservedPort(const ReservedPort&) = delete;
    ReservedPort& operator=(const ReservedPort&) = delete;
    ~ReservedPort();

    [[nodiscard]] std::uint16_t port() const { return port_; }
    // "127.0.0.1:PORT"
    [[nodiscard]] std::string address() const;

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace imgtest
