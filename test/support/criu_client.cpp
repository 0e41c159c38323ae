// CRIU-like stream protocol clients.
#include "support/criu_client.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "criu/fd_passing.hpp"
#include "criu/stream_codec.hpp"
#include "wire/frame.hpp"

namespace imgtest {

namespace {

constexpr auto kSocketTimeout = seconds(10);

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// CRIU writes frames with one writev(); one send() of the whole frame is the same on the wire.
void send_all_once(int fd, std::string_view bytes, const char* what) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) fail_errno(what);
    if (static_cast<std::size_t>(n) != bytes.size())
        throw std::runtime_error(std::string(what) + ": short write");
}

std::string socket_path(const std::string& dir, std::string_view name) {
    return (std::filesystem::path(dir) / name).string();
}

}  // namespace

imgx::UniqueFd connect_unix(const std::string& path) {
    imgx::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) fail_errno("socket");
    timeval tv{};
    tv.tv_sec = std::chrono::duration_cast<seconds>(kSocketTimeout).count();
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw std::runtime_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        fail_errno("connect " + path);
    return fd;
}

StreamDumpSession::StreamDumpSession(const std::string& images_dir)
    : socket_(connect_unix(socket_path(images_dir, imgx::criu::kStreamCaptureSocket))) {}

imgx::UniqueFd StreamDumpSession::announce(std::string_view name) {
    send_all_once(socket_.get(), imgx::criu::encode_stream_request(name), "write dump request");
    return pass_pipe();
}

imgx::UniqueFd StreamDumpSession::pass_pipe() {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) fail_errno("pipe");
    imgx::UniqueFd read_end(ends[0]);
    imgx::UniqueFd write_end(ends[1]);
    imgx::criu::send_fd_blocking(socket_.get(), read_end.get());
    return write_end;  // read_end closes here, as CRIU closes its copy
}

void StreamDumpSession::send_raw(std::string_view bytes) {
    send_all_once(socket_.get(), bytes, "write raw bytes to capture socket");
}

bool StreamDumpSession::closed_by_daemon(Deadline deadline) {
    return wait_peer_closed(socket_.get(), deadline);
}

void StreamDumpSession::close() { socket_.reset(); }

bool StreamDumpSession::finish(Deadline deadline) {
    auto pipe = announce(kFinishingImage);
    const bool written = write_all(pipe.get(), kFinishingContent, deadline).status == IoStatus::ok;
    pipe.reset();
    close();
    return written;
}

void StreamDumpSession::end_requests() { ::shutdown(socket_.get(), SHUT_WR); }

std::string_view to_string(Answer answer) {
    switch (answer) {
        case Answer::exists:
            return "exists=true";
        case Answer::missing:
            return "exists=false";
        case Answer::closed:
            return "connection closed";
        case Answer::no_answer:
            return "no answer (timeout)";
        case Answer::malformed:
            return "malformed reply";
    }
    return "?";
}

StreamRestoreSession::StreamRestoreSession(const std::string& images_dir)
    : socket_(connect_unix(socket_path(images_dir, imgx::criu::kStreamServeSocket))) {}

void StreamRestoreSession::send_request(std::string_view name) {
    send_all_once(socket_.get(), imgx::criu::encode_stream_request(name), "write restore request");
}

void StreamRestoreSession::send_raw(std::string_view bytes) {
    send_all_once(socket_.get(), bytes, "write raw bytes to serve socket");
}

RestoreReply StreamRestoreSession::read_reply(Deadline deadline) {
    RestoreReply reply;
    unsigned char length_bytes[imgx::wire::kLengthBytes];
    auto got = read_exact(socket_.get(), length_bytes, sizeof length_bytes, deadline);
    reply.frame.assign(reinterpret_cast<char*>(length_bytes), got.transferred);
    if (got.status == IoStatus::timeout) {
        reply.answer = got.transferred ? Answer::malformed : Answer::no_answer;
        return reply;
    }
    if (got.status != IoStatus::ok) {
        reply.answer = got.transferred ? Answer::malformed : Answer::closed;
        return reply;
    }
    const auto length = imgx::wire::decode_length(length_bytes);
    if (length > 64) {  // a reply body is 2 bytes; anything large is garbage
        reply.answer = Answer::malformed;
        return reply;
    }
    std::string body(length, '\0');
    got = read_exact(socket_.get(), body.data(), length, deadline);
    reply.frame += body.substr(0, got.transferred);
    if (got.status != IoStatus::ok) {
        reply.answer = Answer::malformed;
        return reply;
    }
    bool exists = false;
    try {
        exists = imgx::criu::decode_stream_reply(body);
    } catch (const std::exception&) {
        reply.answer = Answer::malformed;
        return reply;
    }
    if (!exists) {
        reply.answer = Answer::missing;
        return reply;
    }
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) fail_errno("pipe");
    imgx::UniqueFd read_end(ends[0]);
    imgx::UniqueFd write_end(ends[1]);
    imgx::criu::send_fd_blocking(socket_.get(), write_end.get());
    reply.answer = Answer::exists;
    reply.pipe = std::move(read_end);
    return reply;  // write_end closes here, as CRIU closes its copy
}

Answer StreamRestoreSession::fetch(std::string_view name, std::string& content, Deadline deadline) {
    content.clear();
    auto reply = request(name, deadline);
    if (reply.answer != Answer::exists) return reply.answer;
    auto all = read_to_eof(reply.pipe.get(), deadline);
    content = std::move(all.data);
    if (all.result.status != IoStatus::ok)
        throw std::runtime_error("reading " + std::string(name) +
                                 " from its pipe: " + std::string(to_string(all.result.status)) +
                                 " after " + std::to_string(content.size()) + " bytes");
    return Answer::exists;
}

void StreamRestoreSession::close() { socket_.reset(); }

}  // namespace imgtest
