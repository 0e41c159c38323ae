// Link listener.
#include "link_listener.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "link_session.hpp"
#include "util/accept_loop.hpp"

namespace imgx::cached {

namespace asio = boost::asio;
using asio::ip::tcp;

LinkListener::LinkListener(const asio::any_io_executor& ex, const HostPort& address,
                           LinkSessions& sessions, std::shared_ptr<link::LinkTls> tls)
    : acceptor_(ex), sessions_(sessions), tls_(std::move(tls)) {
    boost::system::error_code ec;
    tcp::resolver resolver(ex);
    auto results =
        resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive, ec);
    if (ec || results.empty())
        throw std::runtime_error("cannot resolve listen address " + address.to_string() + ": " +
                                 ec.message());
    const tcp::endpoint endpoint = *results.begin();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error("cannot listen on " + address.to_string() + ": " + ec.message());
    start();
}

LinkListener::LinkListener(const asio::any_io_executor& ex, UniqueFd listening,
                           LinkSessions& sessions, std::shared_ptr<link::LinkTls> tls)
    : acceptor_(ex), sessions_(sessions), tls_(std::move(tls)) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    ::getsockname(listening.get(), reinterpret_cast<sockaddr*>(&address), &length);
    acceptor_.assign(address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), listening.release());
    start();
}

void LinkListener::start() {
    auto on_socket = [this](tcp::socket socket) {
        if (tls_)
            asio::co_spawn(acceptor_.get_executor(),
                           run_link_session(link::LinkStream(std::move(socket), tls_), sessions_),
                           asio::detached);
        else
            asio::co_spawn(acceptor_.get_executor(),
                           run_link_session(link::LinkStream(std::move(socket)), sessions_),
                           asio::detached);
    };
    asio::co_spawn(acceptor_.get_executor(),
                   accept_loop(acceptor_, "the link listener", std::move(on_socket)),
                   asio::detached);
}

void LinkListener::close() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
}

std::string LinkListener::bound() const {
    boost::system::error_code ec;
    auto endpoint = acceptor_.local_endpoint(ec);
    if (ec) return "closed";
    if (endpoint.address().is_v6())
        return fmt::format("[{}]:{}", endpoint.address().to_string(), endpoint.port());
    return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

}  // namespace imgx::cached
