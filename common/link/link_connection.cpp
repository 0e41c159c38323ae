// One link connection on either side: options, peer name, handshake limit, its loops and its end.
#include "link/link_connection.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "link.pb.h"
#include "link/link_tls.hpp"
#include "wire/frame.hpp"

namespace imgx::link {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

std::string host_name() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
}

void tune_socket(LinkStream& stream) {
    boost::system::error_code ignored;
    stream.tcp().set_option(tcp::no_delay(true), ignored);
    stream.tcp().set_option(asio::socket_base::keep_alive(true), ignored);
}

std::string peer_name(LinkStream& stream) {
    boost::system::error_code ec;
    auto remote = stream.tcp().remote_endpoint(ec);
    if (ec) return "unknown peer";
    return fmt::format("{}:{}", remote.address().to_string(), remote.port());
}

asio::awaitable<FrameHeader> read_header(LinkStream& stream) {
    HeaderBytes bytes;
    co_await asio::async_read(stream, asio::buffer(bytes), asio::use_awaitable);
    co_return decode_header(bytes);
}

asio::awaitable<std::string> read_body(LinkStream& stream, const FrameHeader& header) {
    std::string body(header.body_length, '\0');
    co_await asio::async_read(stream, asio::buffer(body), asio::use_awaitable);
    co_return body;
}

asio::awaitable<Hello> read_hello(LinkStream& stream, const char* missing) {
    std::array<char, 8> preamble;
    co_await asio::async_read(stream, asio::buffer(preamble), asio::use_awaitable);
    check_preamble(preamble);
    const auto header = co_await read_header(stream);
    if (header.type != FrameType::hello) throw wire::ProtocolError(missing);
    const auto body = co_await read_body(stream, header);
    Hello hello;
    wire::decode_body(body, hello, "HELLO");
    co_return hello;
}

HandshakeDeadline::HandshakeDeadline(LinkStream& stream, std::chrono::steady_clock::duration limit)
    : state_(std::make_shared<State>(State::running)), timer_(stream.get_executor(), limit) {
    timer_.async_wait([state = state_, &stream](boost::system::error_code ec) {
        // A handler already queued when done() ran sees the state, not only the error code.
        if (ec || *state != State::running) return;
        *state = State::expired;
        stream.close();
    });
}

void HandshakeDeadline::done() {
    if (*state_ == State::running) *state_ = State::done;
    timer_.cancel();
}

bool LinkEnd::protocol_failure() const {
    try {
        if (failure) std::rethrow_exception(failure);
    } catch (const wire::ProtocolError&) {
        return true;
    } catch (...) {
    }
    return false;
}

std::string LinkEnd::describe(std::string_view closed) const {
    try {
        if (failure) std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::eof) return std::string(closed);
        return explain_link_error(e.code());
    } catch (const std::exception& e) {
        return e.what();
    }
    return "connection closed";
}

namespace {

asio::awaitable<void> guarded(asio::awaitable<void> loop, std::exception_ptr& first) {
    try {
        co_await std::move(loop);
    } catch (...) {
        if (!first) first = std::current_exception();
        throw;
    }
}

}  // namespace

asio::awaitable<LinkEnd> run_connection(asio::awaitable<void> read_loop,
                                        asio::awaitable<void> write_loop,
                                        asio::awaitable<void> tick_loop) {
    LinkEnd end;
    try {
        co_await (guarded(std::move(read_loop), end.failure) &&
                  guarded(std::move(write_loop), end.failure) &&
                  guarded(std::move(tick_loop), end.failure));
    } catch (...) {
        if (!end.failure) end.failure = std::current_exception();
    }
    co_return end;
}

}  // namespace imgx::link
