// One link connection on either side: socket options, the peer's name, the handshake time limit,
// the read/write/liveness loops run together, and the one reason the connection ended.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "link.pb.h"
#include "link/link_codec.hpp"
#include "link/link_stream.hpp"

namespace imgx::link {

// The TLS handshake (if any) and the HELLO exchange must be done within this time.
inline constexpr std::chrono::seconds kHandshakeTimeout{10};

// This machine's name, as a HELLO carries it.
std::string host_name();

// TCP_NODELAY and keep-alive. Errors are ignored: a socket that broke meanwhile fails its first
// read.
void tune_socket(LinkStream& stream);

// "ADDR:PORT" of the other end, or "unknown peer".
std::string peer_name(LinkStream& stream);

// Reads one frame header (checked: decode_header), then its body of header.body_length bytes.
boost::asio::awaitable<FrameHeader> read_header(LinkStream& stream);
boost::asio::awaitable<std::string> read_body(LinkStream& stream, const FrameHeader& header);
// Reads the peer's preamble and a HELLO frame (wire::ProtocolError if it is anything else;
// `missing` names what was expected, for the message).
boost::asio::awaitable<Hello> read_hello(LinkStream& stream, const char* missing);

// Bounds a handshake: unless done() is called within the limit, the stream is closed, which ends
// the handshake with an error (a peer that connects and says nothing does not hold the connection).
// The stream must outlive the deadline; once it is destroyed the timer no longer touches it.
class HandshakeDeadline {
  public:
    explicit HandshakeDeadline(LinkStream& stream,
                               std::chrono::steady_clock::duration limit = kHandshakeTimeout);
    HandshakeDeadline(const HandshakeDeadline&) = delete;
    HandshakeDeadline& operator=(const HandshakeDeadline&) = delete;
    ~HandshakeDeadline() { done(); }

    // The handshake ended (either way): the stream is left alone from now on.
    void done();
    // The limit passed and the stream was closed.
    [[nodiscard]] bool expired() const noexcept { return *state_ == State::expired; }

  private:
    enum class State { running, done, expired };
    std::shared_ptr<State> state_;
    boost::asio::steady_timer timer_;
};

// How a connection's loops ended: the first failure among them (the others only saw their
// cancellation).
struct LinkEnd {
    std::exception_ptr failure;

    // The connection broke on a bad frame (wire::ProtocolError): resuming would repeat it.
    [[nodiscard]] bool protocol_failure() const;
    // The failure as text; `closed` is said for an end of stream from the peer.
    [[nodiscard]] std::string describe(std::string_view closed) const;
};

// Runs a connection's reading, writing and liveness loops together. Each ends only by failing;
// the first failure cancels the others (the peer closing the link is seen at once, idle or not).
boost::asio::awaitable<LinkEnd> run_connection(boost::asio::awaitable<void> read_loop,
                                               boost::asio::awaitable<void> write_loop,
                                               boost::asio::awaitable<void> tick_loop);

}  // namespace imgx::link
