// Listening UNIX sockets bound to a path: directories, stale sockets, the mode from creation on.
#include "util/unix_listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace imgx {

using boost::asio::local::stream_protocol;

namespace {

constexpr int kBacklog = 128;  // restores fork many processes; CRIU's own daemons used 50

void remove_stale_socket(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return;
    if (!S_ISSOCK(st.st_mode))
        throw std::runtime_error(path + " exists and is not a socket; refusing to replace it");
    if (::unlink(path.c_str()) != 0)
        throw std::runtime_error("cannot remove stale socket " + path + ": " +
                                 std::strerror(errno));
}

}  // namespace

void make_socket_dir(const std::string& dir) {
    std::error_code ec;
    std::filesystem::path p(dir);
    if (std::filesystem::is_directory(p, ec)) return;
    std::filesystem::create_directories(p, ec);
    if (ec) throw std::runtime_error("cannot create directory " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
}

stream_protocol::acceptor listen_unix(boost::asio::any_io_executor ex, const std::string& path,
                                      int mode) {
    if (path.size() >= sizeof(sockaddr_un{}.sun_path))
        throw std::runtime_error("socket path " + path + " is longer than " +
                                 std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) make_socket_dir(parent.string());
    remove_stale_socket(path);
    stream_protocol::acceptor acceptor(ex);
    boost::system::error_code ec;
    acceptor.open(stream_protocol(), ec);
    if (!ec) {
        // The socket file gets `mode` as it is created: no moment with the default umask's mode.
        const mode_t old_mask = ::umask(static_cast<mode_t>(~mode & 0777));
        acceptor.bind(stream_protocol::endpoint(path), ec);
        ::umask(old_mask);
    }
    if (ec) throw std::runtime_error("cannot bind " + path + ": " + ec.message());
    acceptor.listen(kBacklog, ec);
    if (ec) throw std::runtime_error("cannot listen on " + path + ": " + ec.message());
    return acceptor;
}

std::string unix_socket_path(int fd) {
    sockaddr_un address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        length <= offsetof(sockaddr_un, sun_path) || address.sun_path[0] == '\0')
        return {};
    return std::string(address.sun_path,
                       ::strnlen(address.sun_path, length - offsetof(sockaddr_un, sun_path)));
}

}  // namespace imgx
