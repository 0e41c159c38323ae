// The link's byte stream: plain TCP, or TLS over TCP, with the operations the link code uses.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <string>
#include <variant>

#include "link/link_tls.hpp"
#include "util/tcp_progress.hpp"

namespace imgx::link {

// One link connection, owned by the session or client that uses it. An AsyncReadStream and
// AsyncWriteStream, so asio::async_read/async_write work on it; which transport it is stays
// inside. A TLS stream must complete handshake() before anything else is read or written.
class LinkStream {
  public:
    using executor_type = boost::asio::any_io_executor;
    using TcpSocket = boost::asio::ip::tcp::socket;
    using TlsStream = boost::asio::ssl::stream<TcpSocket>;

    // Plain TCP: the bytes go as they are.
    explicit LinkStream(TcpSocket socket);
    // TLS over `socket` with `tls` (kept alive as long as the stream).
    LinkStream(TcpSocket socket, std::shared_ptr<LinkTls> tls);
    LinkStream(const LinkStream&) = delete;
    LinkStream& operator=(const LinkStream&) = delete;
    LinkStream(LinkStream&&) = default;

    executor_type get_executor() { return tcp().get_executor(); }
    // The TCP socket underneath (connect, options, addresses).
    TcpSocket& tcp();
    [[nodiscard]] bool encrypted() const { return std::holds_alternative<TlsStream>(stream_); }

    // TLS: the handshake with the peer `peer` (for messages), checking its certificate as the
    // LinkTls says; throws LinkTlsError with the reason. Plain TCP: nothing to do.
    boost::asio::awaitable<void> handshake(std::string peer);

    template <typename MutableBuffers, typename Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& b) {
                std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, stream_);
            },
            token, buffers);
    }

    template <typename ConstBuffers, typename Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, stream_);
            },
            token, buffers);
    }

    // After a TLS handshake, the peer's identity as quoted names: on img-cached the entry of
    // tls_allowed_clients it matched, on img-proxyd the names of img-cached's certificate.
    [[nodiscard]] const std::string& identity() const { return identity_; }

    // The TCP connection's sending progress (zeros when the socket is closed).
    [[nodiscard]] TcpProgress tcp_progress();

    // Closes the TCP connection at once (no TLS close_notify: the link ends by its own frames).
    void close();

  private:
    std::shared_ptr<LinkTls> tls_;  // null for plain TCP
    std::variant<TcpSocket, TlsStream> stream_;
    std::string identity_;
    std::string rejection_;  // why this side's identity check refused the peer, if it did
};

}  // namespace imgx::link
