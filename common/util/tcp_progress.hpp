// What the kernel says about a connected TCP socket's sending side.
#pragma once

#include <cstdint>

namespace imgx {

struct TcpProgress {
    std::uint64_t acknowledged = 0;  // bytes the peer's kernel acknowledged on this connection
    std::uint64_t queued = 0;  // bytes in the send queue: not yet sent, or not yet acknowledged
};

// TCP_INFO's tcpi_bytes_acked and SIOCOUTQ of `fd`; zeros for what the kernel does not say.
// (Its own file: <linux/tcp.h>, which has the field, clashes with <netinet/tcp.h>.)
TcpProgress tcp_progress(int fd);

}  // namespace imgx
