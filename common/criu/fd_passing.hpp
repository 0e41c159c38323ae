// Receiving the pipe ends CRIU passes with SCM_RIGHTS, and preparing them for the event loop.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "util/unique_fd.hpp"
#include "wire/frame.hpp"

namespace imgx::criu {

// Waits for CRIU's fd message (one 0x00 byte + SCM_RIGHTS with one descriptor) and returns the
// descriptor. Reads exactly one byte so nothing that follows is swallowed. Throws
// wire::ProtocolError on EOF, a missing or truncated descriptor, or a wrong data byte.
boost::asio::awaitable<UniqueFd> receive_fd(boost::asio::local::stream_protocol::socket& socket);

// The same, giving up with wire::ProtocolError after `limit`: used after an img-remote "error 0"
// reply, where a 2017-2019 CRIU (image data on the socket) would send nothing and wait forever.
boost::asio::awaitable<UniqueFd> receive_fd(boost::asio::local::stream_protocol::socket& socket,
                                            std::chrono::steady_clock::duration limit);

// A `--stream` dump's request frame and, if it came along, the pipe CRIU passes right after it.
struct RequestWithPipe {
    std::string body;  // the frame's body (img_streamer_request_entry)
    UniqueFd pipe;     // empty if the pipe was not sent yet: receive_fd() reads it
};
// Reads a request frame, and its pipe too when CRIU already sent it (a dump sends them back to
// back): one recvmsg for both. Returns as soon as the frame is complete, so a bad request is
// refused before its pipe; nothing after the pipe is read. Returns nothing when CRIU closed the
// connection between requests. Throws wire::ProtocolError for a length above `max_body`, EOF
// inside the frame, data where the pipe belongs, or a descriptor that is not a pipe.
boost::asio::awaitable<std::optional<RequestWithPipe>> receive_request_and_pipe(
    boost::asio::local::stream_protocol::socket& socket,
    std::uint32_t max_body = wire::kMaxFrameBody);

// What follows an img-remote write header: G3 passes a pipe; G2 and G1 send the image bytes on
// the socket itself, so the first byte is data (or EOF for an empty image).
struct WriteSource {
    UniqueFd pipe;            // G3
    std::string first_bytes;  // G2/G1: data already read from the socket
    bool socket_eof = false;  // G2/G1: empty image
};
// Reads one message with room for one descriptor and tells the cases apart (spec 3.14).
// Throws wire::ProtocolError for a descriptor that is not a pipe or a truncated control message.
boost::asio::awaitable<WriteSource> receive_write_source(
    boost::asio::local::stream_protocol::socket& socket);

// Sends `fd` the way CRIU does (tests and tools that play CRIU). Blocking.
void send_fd_blocking(int socket_fd, int fd);
// Receives one pipe as receive_fd() does, blocking at most `limit` (tools that play a daemon).
UniqueFd receive_fd_blocking(int socket_fd, std::chrono::milliseconds limit);

// True if `fd` refers to a pipe (FIFO).
bool is_pipe(int fd);

// Makes `fd` non-blocking (it is our only reference to the open file description).
void set_nonblocking(int fd);

// Tries to give a pipe `wanted` bytes of capacity, then 1 MiB, silently keeping the current
// capacity when the kernel refuses (pipe-max-size, missing CAP_SYS_RESOURCE). Returns the size.
std::size_t enlarge_pipe(int fd, std::size_t wanted);

// "pid 123 uid 0" for a connected UNIX socket, for log lines.
std::string describe_peer(int socket_fd);

}  // namespace imgx::criu
