// The CRIU-like img-remote client: frames, fd passing and one connection per open.
#include "remote/remote_client.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "support/criu_client.hpp"

namespace imgtest::remote {

namespace {

constexpr std::size_t kLengthBytes = 4;
constexpr std::uint32_t kMaxReplyBody = 1 << 20;

// Protobuf wire types used by the four messages.
constexpr std::uint8_t kVarint = 0;
constexpr std::uint8_t kLengthDelimited = 2;

void put_varint(std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

void put_string_field(std::string& out, unsigned field, std::string_view value) {
    put_varint(out, (field << 3) | kLengthDelimited);
    put_varint(out, value.size());
    out.append(value);
}

void put_varint_field(std::string& out, unsigned field, std::uint64_t value) {
    put_varint(out, (field << 3) | kVarint);
    put_varint(out, value);
}

std::string framed(const std::string& body) {
    std::string out(kLengthBytes, '\0');
    const auto size = static_cast<std::uint32_t>(body.size());
    for (std::size_t i = 0; i < kLengthBytes; ++i)
        out[i] = static_cast<char>((size >> (8 * i)) & 0xff);
    return out + body;
}

bool get_varint(std::string_view& in, std::uint64_t& value) {
    value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (in.empty()) return false;
        const auto byte = static_cast<std::uint8_t>(in.front());
        in.remove_prefix(1);
        value |= std::uint64_t(byte & 0x7f) << shift;
        if (!(byte & 0x80)) return true;
    }
    return false;
}

// Finds field `wanted` in a body holding only varint and length-delimited fields.
struct Field {
    bool found = false;
    std::uint64_t number = 0;
    std::string text;
};
std::optional<Field> find_field(std::string_view body, unsigned wanted) {
    Field result;
    while (!body.empty()) {
        std::uint64_t key = 0;
        if (!get_varint(body, key)) return std::nullopt;
        const auto field = key >> 3;
        const auto type = key & 7;
        if (type == kVarint) {
            std::uint64_t v = 0;
            if (!get_varint(body, v)) return std::nullopt;
            if (field == wanted) result = {true, v, {}};
        } else if (type == kLengthDelimited) {
            std::uint64_t len = 0;
            if (!get_varint(body, len) || len > body.size()) return std::nullopt;
            if (field == wanted) result = {true, 0, std::string(body.substr(0, len))};
            body.remove_prefix(len);
        } else {
            return std::nullopt;
        }
    }
    return result;
}

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

std::uint32_t frame_length(const unsigned char* bytes) {
    return std::uint32_t(bytes[0]) | std::uint32_t(bytes[1]) << 8 | std::uint32_t(bytes[2]) << 16 |
           std::uint32_t(bytes[3]) << 24;
}

// One frame (length + body) or why not. `eof_at_start` is set when EOF came before any byte.
struct RawFrame {
    IoStatus status = IoStatus::ok;
    bool eof_at_start = false;
    std::string frame;
    std::string body;
};
RawFrame read_frame(int fd, Deadline deadline) {
    RawFrame out;
    unsigned char length[kLengthBytes];
    auto got = read_exact(fd, length, sizeof length, deadline);
    out.frame.assign(reinterpret_cast<char*>(length), got.transferred);
    if (got.status != IoStatus::ok) {
        out.status = got.status;
        out.eof_at_start = got.transferred == 0 && got.status != IoStatus::timeout;
        return out;
    }
    const auto size = frame_length(length);
    if (size > kMaxReplyBody) {
        out.status = IoStatus::error;
        return out;
    }
    out.body.resize(size);
    got = read_exact(fd, out.body.data(), size, deadline);
    out.body.resize(got.transferred);
    out.frame += out.body;
    out.status = got.status;
    return out;
}

struct Pipe {
    imgx::UniqueFd read_end;
    imgx::UniqueFd write_end;
};
Pipe make_pipe() {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) fail_errno("pipe");
    return {imgx::UniqueFd(ends[0]), imgx::UniqueFd(ends[1])};
}

}  // namespace

std::string_view to_string(Generation generation) {
    switch (generation) {
        case Generation::g1:
            return "G1";
        case Generation::g2:
            return "G2";
        case Generation::g3:
            return "G3";
    }
    return "?";
}

std::string local_image_entry_frame(std::string_view name, std::string_view snapshot_id,
                                    std::uint32_t open_mode) {
    std::string body;
    put_string_field(body, 1, name);
    put_string_field(body, 2, snapshot_id);
    put_varint_field(body, 3, open_mode);
    return framed(body);
}

std::string snapshot_id_entry_frame(std::string_view snapshot_id) {
    std::string body;
    put_string_field(body, 1, snapshot_id);
    return framed(body);
}

std::string reply_frame(std::uint32_t error) {
    std::string body;
    put_varint_field(body, 1, error);
    return framed(body);
}

std::optional<std::uint32_t> parse_reply_body(std::string_view body) {
    auto field = find_field(body, 1);
    if (!field || !field->found || !field->text.empty() || field->number > UINT32_MAX)
        return std::nullopt;
    return static_cast<std::uint32_t>(field->number);
}

std::optional<std::string> parse_snapshot_id_body(std::string_view body) {
    auto field = find_field(body, 1);
    if (!field || !field->found) return std::nullopt;
    return field->text;
}

std::string control_id(Generation generation) { return generation == Generation::g1 ? "null" : ""; }

std::string push_header_frame(Generation generation) {
    return local_image_entry_frame("parent", control_id(generation), kModeAppend);
}

std::string pull_frame(Generation generation) {
    return local_image_entry_frame("parent", control_id(generation), kModeRead);
}

std::string dump_finish_frame(Generation generation) {
    return generation == Generation::g1 ? local_image_entry_frame("DUMP_FINISH", "null", kModeWrite)
                                        : local_image_entry_frame("", "", kModeWrite);
}

std::string restore_finish_frame(Generation generation) {
    return generation == Generation::g1
               ? local_image_entry_frame("RESTORE_FINISH", "null", kModeRead)
               : local_image_entry_frame("", "", kModeRead);
}

std::string_view to_string(ReplyStatus status) {
    switch (status) {
        case ReplyStatus::reply:
            return "reply";
        case ReplyStatus::closed:
            return "connection closed without a reply";
        case ReplyStatus::no_answer:
            return "no answer (timeout)";
        case ReplyStatus::malformed:
            return "malformed reply";
    }
    return "?";
}

std::string Reply::describe() const {
    if (status == ReplyStatus::reply) return "error=" + std::to_string(error);
    return std::string(to_string(status));
}

Reply read_reply(int socket_fd, Deadline deadline) {
    Reply reply;
    auto raw = read_frame(socket_fd, deadline);
    reply.frame = raw.frame;
    if (raw.status == IoStatus::timeout && raw.frame.empty()) {
        reply.status = ReplyStatus::no_answer;
    } else if (raw.eof_at_start) {
        reply.status = ReplyStatus::closed;
    } else if (raw.status != IoStatus::ok) {
        reply.status = ReplyStatus::malformed;
    } else if (auto error = parse_reply_body(raw.body)) {
        reply.status = ReplyStatus::reply;
        reply.error = *error;
    } else {
        reply.status = ReplyStatus::malformed;
    }
    return reply;
}

void send_once(int fd, std::string_view bytes) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) fail_errno("send frame");
    if (static_cast<std::size_t>(n) != bytes.size())
        throw std::runtime_error("send frame: short write");
}

void send_fd(int socket_fd, int fd) {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    if (::sendmsg(socket_fd, &msg, MSG_NOSIGNAL) != 1) fail_errno("sendmsg SCM_RIGHTS");
}

RemoteClient::RemoteClient(std::string socket_path, Generation generation)
    : path_(std::move(socket_path)), generation_(generation) {}

imgx::UniqueFd RemoteClient::connect() const { return connect_unix(path_); }

void RemoteClient::push(std::string_view snapshot_id) const {
    push_finish(push_header_only(), snapshot_id);
}

imgx::UniqueFd RemoteClient::push_header_only() const {
    auto fd = connect();
    send_once(fd.get(), push_header_frame(generation_));
    return fd;
}

void RemoteClient::push_finish(imgx::UniqueFd connection, std::string_view snapshot_id) {
    send_once(connection.get(), snapshot_id_entry_frame(snapshot_id));
}

imgx::UniqueFd RemoteClient::pull_request() const {
    auto fd = connect();
    send_once(fd.get(), pull_frame(generation_));
    return fd;
}

PullResult RemoteClient::pull(Deadline deadline) const {
    auto fd = pull_request();
    return read_pull(fd.get(), deadline);
}

PullResult RemoteClient::read_pull(int socket_fd, Deadline deadline) {
    PullResult result;
    result.reply = read_reply(socket_fd, deadline);
    if (result.reply.status != ReplyStatus::reply) return result;
    for (;;) {
        auto raw = read_frame(socket_fd, deadline);
        if (raw.eof_at_start) {
            result.ended_by_eof = true;
            return result;
        }
        if (raw.status != IoStatus::ok) {
            result.problem = "snapshot id frame: " + std::string(imgtest::to_string(raw.status)) +
                             " after " + std::to_string(raw.frame.size()) + " bytes";
            return result;
        }
        auto id = parse_snapshot_id_body(raw.body);
        if (!id) {
            result.problem = "undecodable snapshot_id_entry";
            return result;
        }
        result.ids.push_back(*id);
        result.id_frames.push_back(raw.frame);
    }
}

imgx::UniqueFd RemoteClient::open_write(std::string_view name, std::string_view snapshot_id) const {
    auto fd = connect();
    send_once(fd.get(), local_image_entry_frame(name, snapshot_id, kModeWrite));
    if (generation_ != Generation::g3) return fd;  // the image follows on the socket
    auto pipe = make_pipe();
    send_fd(fd.get(), pipe.read_end.get());
    return std::move(pipe.write_end);  // our read end and the socket close here, as CRIU's do
}

imgx::UniqueFd RemoteClient::read_request(std::string_view name,
                                          std::string_view snapshot_id) const {
    auto fd = connect();
    send_once(fd.get(), local_image_entry_frame(name, snapshot_id, kModeRead));
    return fd;
}

ReadResult RemoteClient::read_answer(imgx::UniqueFd connection, Deadline deadline) const {
    ReadResult result;
    result.reply = read_reply(connection.get(), deadline);
    if (result.reply.status != ReplyStatus::reply || result.reply.error != 0) return result;
    if (generation_ != Generation::g3) {
        result.data = std::move(connection);
        return result;
    }
    auto pipe = make_pipe();
    send_fd(connection.get(), pipe.write_end.get());
    result.data = std::move(pipe.read_end);
    return result;
}

ReadResult RemoteClient::open_read(std::string_view name, std::string_view snapshot_id,
                                   Deadline deadline) const {
    return read_answer(read_request(name, snapshot_id), deadline);
}

Reply RemoteClient::fetch(std::string_view name, std::string_view snapshot_id, std::string& content,
                          Deadline deadline) const {
    auto read = open_read(name, snapshot_id, deadline);
    content.clear();
    if (!read.data) return read.reply;
    auto all = read_to_eof(read.data.get(), deadline);
    content = std::move(all.data);
    if (all.result.status != IoStatus::ok && all.result.status != IoStatus::eof) {
        Reply cut = read.reply;
        cut.status = ReplyStatus::malformed;  // the data did not end: report, do not hang
        return cut;
    }
    return read.reply;
}

void RemoteClient::finish_dump() const {
    auto fd = connect();
    send_once(fd.get(), dump_finish_frame(generation_));
}

bool RemoteClient::finish_restore(Deadline deadline) const {
    auto fd = connect();
    send_once(fd.get(), restore_finish_frame(generation_));
    return wait_peer_closed(fd.get(), deadline);
}

}  // namespace imgtest::remote
