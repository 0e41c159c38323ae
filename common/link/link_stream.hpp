// The link's byte stream: plain TCP, or TLS over TCP, with the operations the link code uses.
#pragma once

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <string>
#include <variant>

#include "link/link_tls.hpp"
#include "link/read_buffer.hpp"
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

    // Plain TCP reads go through a small buffer (ReadBuffer); TLS buffers its records itself.
    template <typename MutableBuffers, typename Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        if (auto* tls = std::get_if<TlsStream>(&stream_))
            return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
                [tls](auto handler, const MutableBuffers& b) {
                    tls->async_read_some(b, std::move(handler));
                },
                token, buffers);
        auto& tcp = std::get<TcpSocket>(stream_);
        return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
            BufferedRead<MutableBuffers>{*in_, tcp, buffers}, token, tcp);
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
    // One read of plain TCP: from what an earlier read kept, straight from the socket for a
    // large read, or through the buffer (completions always come through the executor).
    template <typename MutableBuffers>
    struct BufferedRead {
        ReadBuffer& in;
        TcpSocket& tcp;
        MutableBuffers buffers;

        template <typename Self>
        void operator()(Self& self) {
            if (in.size() > 0) {
                const std::size_t n = in.take(buffers);
                boost::asio::post(
                    tcp.get_executor(),
                    boost::asio::append(std::move(self), boost::system::error_code{}, n, false));
            } else if (in.bypass(buffers)) {
                tcp.async_read_some(buffers, boost::asio::append(std::move(self), false));
            } else {
                tcp.async_read_some(in.space(), boost::asio::append(std::move(self), true));
            }
        }
        template <typename Self>
        void operator()(Self& self, boost::system::error_code ec, std::size_t n, bool buffered) {
            if (buffered) {
                in.filled(n);
                n = in.take(buffers);
            }
            self.complete(ec, n);
        }
    };

    std::shared_ptr<LinkTls> tls_;  // null for plain TCP
    std::variant<TcpSocket, TlsStream> stream_;
    std::unique_ptr<ReadBuffer> in_ = std::make_unique<ReadBuffer>();  // stays put when moved
    std::string identity_;
    std::string rejection_;  // why this side's identity check refused the peer, if it did
};

}  // namespace imgx::link
