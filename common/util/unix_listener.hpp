// Listening UNIX sockets bound to a path: CRIU's endpoints and the control socket.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <string>

namespace imgx {

// Creates `dir` and its parents if it is not a directory yet, the last one private (0700).
// Throws std::runtime_error.
void make_socket_dir(const std::string& dir);

// Creates `path`'s directory chain as needed and binds a listening socket there with `mode` from
// its creation on, replacing a stale socket file (never any other kind of file). Throws
// std::runtime_error.
boost::asio::local::stream_protocol::acceptor listen_unix(boost::asio::any_io_executor ex,
                                                          const std::string& path, int mode);

// The address a listening UNIX socket is bound to ("" if unnamed).
std::string unix_socket_path(int fd);

}  // namespace imgx
