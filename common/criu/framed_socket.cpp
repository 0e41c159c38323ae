// Frame reads and writes on CRIU connections.
#include "criu/framed_socket.hpp"

#include <sys/socket.h>

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace imgx::criu {

namespace asio = boost::asio;

asio::awaitable<std::optional<std::string>> read_frame(asio::local::stream_protocol::socket& socket,
                                                       std::uint32_t max_body) {
    unsigned char length_bytes[wire::kLengthBytes];
    boost::system::error_code ec;
    std::size_t got = co_await asio::async_read(socket, asio::buffer(length_bytes),
                                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof && got == 0) co_return std::nullopt;
    if (ec == asio::error::eof)
        throw wire::ProtocolError("connection closed inside a frame length");
    if (ec) throw boost::system::system_error(ec, "reading a frame");
    const std::uint32_t length = wire::decode_length(length_bytes);
    wire::check_length(length, max_body);
    std::string body(length, '\0');
    co_await asio::async_read(socket, asio::buffer(body),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) throw wire::ProtocolError("connection closed inside a frame body");
    if (ec) throw boost::system::system_error(ec, "reading a frame");
    co_return body;
}

asio::awaitable<void> write_frame(asio::local::stream_protocol::socket& socket,
                                  const std::string& frame) {
    // Frames are a few bytes; a UNIX socket takes them in one send unless its buffer is full,
    // in which case we wait for room and send the rest (CRIU >= 3.16 loops; 3.15 is then racy
    // whatever a server does).
    co_await asio::async_write(socket, asio::buffer(frame), asio::use_awaitable);
}

}  // namespace imgx::criu
