// The metrics endpoint's sockets: accept, read one request head, answer, close.
#include "metrics/metrics_server.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>

#include "metrics/http_request.hpp"
#include "metrics/metrics_address.hpp"
#include "metrics/registry.hpp"
#include "util/accept_loop.hpp"

namespace imgx::metrics {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

// What the accept loop and the scrapes share with the server object.
struct ServerState {
    ServerState(const asio::any_io_executor& ex, std::function<std::string()> r)
        : acceptor(ex), render(std::move(r)) {}
    tcp::acceptor acceptor;
    std::function<std::string()> render;
    std::size_t scrapers = 0;  // connections being served
};

namespace {

// At most this much of a refused request is read (and dropped) before its connection closes.
constexpr std::size_t kMaxLingerBytes = 1 << 20;

// Reads one request head and writes the answer. Never throws: a client that goes away ends it.
asio::awaitable<void> answer(tcp::socket& socket, const std::function<std::string()>& render) {
    std::array<char, kMaxRequestBytes> buffer;
    std::size_t received = 0;
    RequestHead head;
    while (head.status == RequestStatus::incomplete) {
        boost::system::error_code ec;
        const std::size_t n = co_await socket.async_read_some(
            asio::buffer(buffer.data() + received, buffer.size() - received),
            asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        received += n;
        head = parse_request_head({buffer.data(), received}, buffer.size());
    }
    const std::string reply = respond(head, render);
    boost::system::error_code ec;
    co_await asio::async_write(socket, asio::buffer(reply),
                               asio::redirect_error(asio::use_awaitable, ec));
    socket.shutdown(tcp::socket::shutdown_send, ec);
    if (head.status == RequestStatus::complete || ec) co_return;
    // A refused request may have more bytes on their way. Closing with bytes unread would send
    // the client a reset, which can discard the answer before it reads it: read them first, until
    // the client closes (bounded by the scrape deadline and kMaxLingerBytes).
    std::size_t discarded = 0;
    while (!ec && discarded < kMaxLingerBytes) {
        discarded += co_await socket.async_read_some(asio::buffer(buffer),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<void> serve_scraper(tcp::socket socket, std::shared_ptr<ServerState> state) {
    struct Count {
        ServerState& s;
        explicit Count(ServerState& state) : s(state) { ++s.scrapers; }
        ~Count() { --s.scrapers; }
    } count(*state);
    asio::steady_timer deadline(socket.get_executor(), kScrapeTimeout);
    // `||` ends at the first to finish: the answer (which never fails) or the deadline, which
    // cancels a client too slow to send its request or to take the response.
    co_await (answer(socket, state->render) || deadline.async_wait(asio::use_awaitable));
    boost::system::error_code ignored;
    socket.close(ignored);
}

asio::awaitable<void> accept_scrapers(std::shared_ptr<ServerState> state) {
    auto on_socket = [state](tcp::socket socket) {
        if (state->scrapers >= kMaxScrapers) {
            spdlog::debug("metrics endpoint: {} connections open already; closing a new one",
                          kMaxScrapers);
            return;  // the socket closes as it goes out of scope
        }
        asio::co_spawn(state->acceptor.get_executor(), serve_scraper(std::move(socket), state),
                       asio::detached);
    };
    co_await accept_loop(state->acceptor, "the metrics endpoint", std::move(on_socket));
}

}  // namespace

MetricsServer::MetricsServer(const asio::any_io_executor& ex, const HostPort& address,
                             std::function<std::string()> render)
    : state_(std::make_shared<ServerState>(ex, std::move(render))) {
    const tcp::endpoint endpoint(metrics_ip(address), address.port);
    boost::system::error_code ec;
    tcp::acceptor& acceptor = state_->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error("cannot serve metrics on " + address.to_string() + ": " +
                                 ec.message());
    asio::co_spawn(ex, accept_scrapers(state_), asio::detached);
}

MetricsServer::~MetricsServer() { close(); }

void MetricsServer::close() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
}

std::string MetricsServer::bound() const {
    boost::system::error_code ec;
    const auto endpoint = state_->acceptor.local_endpoint(ec);
    if (ec) return "closed";
    return HostPort{endpoint.address().to_string(), endpoint.port()}.to_string();
}

std::unique_ptr<MetricsServer> serve_metrics(const asio::any_io_executor& ex,
                                             const HostPort& address, const Registry& registry) {
    auto server =
        std::make_unique<MetricsServer>(ex, address, [&registry] { return registry.expose(); });
    spdlog::info("metrics on {}", server->bound());
    return server;
}

}  // namespace imgx::metrics
