// TCP_INFO and SIOCOUTQ, read with the kernel's own headers only.
#include "util/tcp_progress.hpp"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstddef>

namespace imgx {

TcpProgress tcp_progress(int fd) {
    TcpProgress progress;
    tcp_info info{};
    socklen_t length = sizeof info;
    // An older kernel returns a shorter struct: the field then stays 0.
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) == 0 &&
        length >= offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
        progress.acknowledged = info.tcpi_bytes_acked;
    int queued = 0;
    if (::ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0)
        progress.queued = static_cast<std::uint64_t>(queued);
    return progress;
}

}  // namespace imgx
