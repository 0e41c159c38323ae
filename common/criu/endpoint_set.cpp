// Listening sockets for CRIU, per images directory.
#include "criu/endpoint_set.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "util/accept_loop.hpp"
#include "util/unix_listener.hpp"

namespace imgx::criu {

namespace asio = boost::asio;
using asio::local::stream_protocol;

struct EndpointSet::Listener {
    stream_protocol::acceptor acceptor;
    std::string path;
    SocketKind kind;
    Endpoint endpoint;
};

EndpointSet::EndpointSet(asio::any_io_executor ex, std::vector<SocketKind> kinds,
                         OnAccept on_accept)
    : ex_(std::move(ex)), kinds_(std::move(kinds)), on_accept_(std::move(on_accept)) {}

EndpointSet::~EndpointSet() { close_all(); }

void EndpointSet::open(const EndpointSpec& spec) {
    std::string dir = spec.dir;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    make_socket_dir(dir);
    close(dir);
    std::vector<std::shared_ptr<Listener>> listeners;
    for (const auto& kind : kinds_) {
        std::string path = dir + "/" + kind.file_name;
        // Only root (CRIU) may connect: 0600 on the socket, then the peer's credentials.
        listeners.push_back(std::make_shared<Listener>(
            Listener{listen_unix(ex_, path, 0600), path, kind, Endpoint{dir, spec.snapshot_id}}));
    }
    for (auto& l : listeners) {
        // `l` is captured: the listener lives as long as its loop, also after close().
        auto on_socket = [this, l](asio::local::stream_protocol::socket socket) {
            if (!access_.admit(socket.native_handle(), l->path)) return;  // closes it
            on_accept_(std::move(socket), l->endpoint, l->kind);
        };
        asio::co_spawn(ex_, accept_loop(l->acceptor, l->path, std::move(on_socket)),
                       asio::detached);
        spdlog::info("listening on {} (snapshot '{}', {} protocol)", l->path,
                     l->endpoint.snapshot_id, l->kind.protocol);
    }
    by_dir_[dir] = std::move(listeners);
}

bool EndpointSet::has(const std::string& dir_in) const {
    std::string dir = dir_in;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return by_dir_.contains(dir);
}

bool EndpointSet::close(const std::string& dir_in) {
    std::string dir = dir_in;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    auto it = by_dir_.find(dir);
    if (it == by_dir_.end()) return false;
    for (auto& l : it->second) {
        boost::system::error_code ignored;
        l->acceptor.close(ignored);
        ::unlink(l->path.c_str());
    }
    by_dir_.erase(it);
    return true;
}

void EndpointSet::close_all() {
    while (!by_dir_.empty()) close(by_dir_.begin()->first);
}

std::vector<EndpointSet::Info> EndpointSet::list() const {
    std::vector<Info> out;
    for (const auto& [dir, listeners] : by_dir_) {
        Info info;
        info.endpoint = listeners.front()->endpoint;
        for (const auto& l : listeners) info.socket_paths.push_back(l->path);
        out.push_back(std::move(info));
    }
    return out;
}

}  // namespace imgx::criu
