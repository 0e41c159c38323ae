// Control socket server.
#include "control/control_server.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "criu/fd_passing.hpp"
#include "criu/framed_socket.hpp"
#include "criu/hangup.hpp"
#include "util/accept_loop.hpp"
#include "util/unix_listener.hpp"

namespace imgx::control {

namespace asio = boost::asio;

inline constexpr std::uint32_t kMaxRequestBytes = 64 * 1024;

asio::awaitable<void> Replier::send(const Response& response) {
    co_await criu::write_frame(socket_, wire::encode_frame(response));
}

asio::awaitable<void> Replier::wait_hangup() { return criu::wait_hangup(socket_); }

ControlServer::ControlServer(const asio::any_io_executor& ex, std::string path, Handler handler)
    : path_(std::move(path)),
      acceptor_(listen_unix(ex, path_, 0600)),
      handler_(std::move(handler)) {
    start();
}

ControlServer::ControlServer(const asio::any_io_executor& ex, UniqueFd listening, Handler handler)
    : path_(unix_socket_path(listening.get())),
      acceptor_(ex),
      handler_(std::move(handler)),
      owns_path_(false) {
    acceptor_.assign(asio::local::stream_protocol(), listening.release());
    start();
}

void ControlServer::start() {
    auto on_socket = [this](asio::local::stream_protocol::socket socket) {
        if (!access_.admit(socket.native_handle(), "the control socket " + path_))
            return;  // closes it
        asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
    };
    asio::co_spawn(acceptor_.get_executor(),
                   accept_loop(acceptor_, "the control socket " + path_, std::move(on_socket)),
                   asio::detached);
}

ControlServer::~ControlServer() { close(); }

void ControlServer::close() {
    if (!acceptor_.is_open()) return;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (owns_path_) ::unlink(path_.c_str());
}

asio::awaitable<void> ControlServer::serve(asio::local::stream_protocol::socket socket) {
    const std::string peer = criu::describe_peer(socket.native_handle());
    try {
        for (;;) {
            auto body = co_await criu::read_frame(socket, kMaxRequestBytes);
            if (!body) co_return;
            Request request;
            wire::decode_body(*body, request, "control request");
            Replier replier(socket);
            co_await handler_(request, replier);
        }
    } catch (const std::exception& e) {
        spdlog::warn("control connection from {} closed: {}", peer, e.what());
    }
}

}  // namespace imgx::control
