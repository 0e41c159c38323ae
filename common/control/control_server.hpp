// The daemon side of the control socket: framed control.Request in, control.Response frames out.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <string>

#include "control.pb.h"
#include "util/peer_access.hpp"
#include "util/unique_fd.hpp"

namespace imgx::control {

// Where a handler writes its answers; the last one must have final = true.
class Replier {
  public:
    explicit Replier(boost::asio::local::stream_protocol::socket& socket) : socket_(socket) {}
    boost::asio::awaitable<void> send(const Response& response);
    // True once the client hung up (a waiting img-ctl was interrupted).
    boost::asio::awaitable<void> wait_hangup();

  private:
    boost::asio::local::stream_protocol::socket& socket_;
};

using Handler = std::function<boost::asio::awaitable<void>(const Request&, Replier&)>;

class ControlServer {
  public:
    // Binds `path` (mode 0600, parent directories created) and serves requests with `handler`.
    // Throws std::runtime_error if the socket cannot be created.
    ControlServer(const boost::asio::any_io_executor& ex, std::string path, Handler handler);
    // Serves on a socket that is already listening (passed by the service manager, which owns
    // its file: close() leaves that in place).
    ControlServer(const boost::asio::any_io_executor& ex, UniqueFd listening, Handler handler);
    ~ControlServer();

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    // Who may connect from now on (others are closed at once, with a log line).
    void set_peer_access(PeerAccess access) { access_ = std::move(access); }
    void close();

  private:
    void start();
    boost::asio::awaitable<void> serve(boost::asio::local::stream_protocol::socket socket);

    std::string path_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    Handler handler_;
    PeerAccess access_;
    bool owns_path_ = true;
};

}  // namespace imgx::control
