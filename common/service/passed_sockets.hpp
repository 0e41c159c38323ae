// Listening sockets handed over by the service manager (socket activation, FileDescriptorName=).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/address.hpp"
#include "util/unique_fd.hpp"

namespace imgx {

// True when the service manager passes (or passed, at start) a socket named `name` to this
// process: a daemon may then leave the address setting of that socket out.
bool socket_passed(std::string_view name);

// The address a socket is bound to: "1.2.3.4:7411", "[::]:7411" or a UNIX path.
std::string bound_address(int fd);

class PassedSockets {
  public:
    // Takes the descriptors of LISTEN_FDS/LISTEN_FDNAMES (when LISTEN_PID is this process) and
    // clears those variables. Throws std::runtime_error for a name not in `known` or a name
    // given twice, naming the descriptor and the names the daemon understands.
    static PassedSockets from_environment(std::string_view daemon,
                                          const std::vector<std::string_view>& known);

    // The descriptor named `name`, checked to be a listening TCP socket (IPv4 or IPv6), or
    // nothing when none was passed; logs that it came from systemd, with its address. Throws
    // std::runtime_error when it is something else, and UsageError when `configured` (the
    // daemon's setting `key`, from a file or a flag) has a host and the socket is bound
    // to another address (port 0 matches any port).
    std::optional<UniqueFd> take_tcp_listener(std::string_view name, const HostPort& configured,
                                              std::string_view key);
    // The same for a listening UNIX stream socket (its path is not compared).
    std::optional<UniqueFd> take_unix_listener(std::string_view name);

    [[nodiscard]] bool empty() const { return fds_.empty(); }

  private:
    std::optional<std::pair<int, UniqueFd>> take(std::string_view name);

    std::string daemon_;
    std::map<std::string, std::pair<int, UniqueFd>, std::less<>> fds_;  // name -> (number, fd)
};

}  // namespace imgx
