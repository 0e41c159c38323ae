// A client that behaves like `criu dump/pre-dump/restore --remote` (img-remote G1, G2, G3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/fd_io.hpp"
#include "util/unique_fd.hpp"

namespace imgtest::remote {

// The three img-remote generations (criu-protocols.md 3.1, 3.7).
enum class Generation {
    g1,  // 2017-2019: image bytes on the socket, control id "null", DUMP_FINISH/RESTORE_FINISH
    g2,  // 2019-2020: image bytes on the socket, control id "", finish = empty name and id
    g3,  // 2020: image bytes through pipes passed with SCM_RIGHTS
};
std::string_view to_string(Generation generation);

inline constexpr std::uint32_t kModeRead = 0;
inline constexpr std::uint32_t kModeWrite = 1;
inline constexpr std::uint32_t kModeAppend = 1024;

// Frames exactly as CRIU writes them: 4-byte little-endian length + proto2 body with every
// required field present. Written here by hand, independently of the daemons' codec in
// common/criu, so that a mistake there cannot be mirrored by the test.
std::string local_image_entry_frame(std::string_view name, std::string_view snapshot_id,
                                    std::uint32_t open_mode);
std::string snapshot_id_entry_frame(std::string_view snapshot_id);
std::string reply_frame(std::uint32_t error);

// Bodies (without the length) the daemons send; nullopt if malformed.
std::optional<std::uint32_t> parse_reply_body(std::string_view body);
std::optional<std::string> parse_snapshot_id_body(std::string_view body);

// The control frames of a generation (spec 2.3).
std::string control_id(Generation generation);
std::string push_header_frame(Generation generation);
std::string pull_frame(Generation generation);
std::string dump_finish_frame(Generation generation);
std::string restore_finish_frame(Generation generation);

// One reply frame read from a connection.
enum class ReplyStatus {
    reply,      // a well-formed local_image_reply_entry (see `error`)
    closed,     // EOF before any byte
    no_answer,  // nothing before the deadline
    malformed,  // a partial or undecodable frame
};
std::string_view to_string(ReplyStatus status);

struct Reply {
    ReplyStatus status = ReplyStatus::no_answer;
    std::uint32_t error = 0;
    std::string frame;  // the bytes as received
    // "error=0", "error=2", "connection closed", ...
    [[nodiscard]] std::string describe() const;
};
// Reads one framed reply: exactly 4 bytes, then exactly the length (as CRIU does).
Reply read_reply(int socket_fd, Deadline deadline);

// What a pull returned.
struct PullResult {
    Reply reply;
    std::vector<std::string> ids;
    std::vector<std::string> id_frames;  // each snapshot_id_entry frame as received
    bool ended_by_eof = false;           // the daemon closed after the list (as it must)
    std::string problem;                 // a malformed frame or a timeout, if any
};

// A read connection after its reply: where the image bytes come from.
struct ReadResult {
    Reply reply;
    imgx::UniqueFd data;  // G3: the pipe's read end; G2/G1: the socket. Valid only on error=0.
};

// Sends one 0x00 byte with SCM_RIGHTS carrying `fd`, in one sendmsg (spec 1.2).
void send_fd(int socket_fd, int fd);

// The CRIU side of one socket (img-proxy.sock or img-cache.sock), opening a new connection for
// every image and control message as CRIU does. Blocking calls, all bounded in time.
class RemoteClient {
  public:
    RemoteClient(std::string socket_path, Generation generation);

    [[nodiscard]] Generation generation() const { return generation_; }
    [[nodiscard]] const std::string& socket_path() const { return path_; }

    // A new connection (10 s send/receive timeouts, so nothing can hang).
    [[nodiscard]] imgx::UniqueFd connect() const;

    // Push: header `parent`/1024, then the framed snapshot_id_entry, then close.
    void push(std::string_view snapshot_id) const;
    // A push split in two (spec 3.5 hazard): returns the connection after its header.
    [[nodiscard]] imgx::UniqueFd push_header_only() const;
    static void push_finish(imgx::UniqueFd connection, std::string_view snapshot_id);

    // Pull: reply, then snapshot_id_entry frames until EOF.
    [[nodiscard]] PullResult pull(Deadline deadline) const;
    // The pull's header only; complete it with read_pull().
    [[nodiscard]] imgx::UniqueFd pull_request() const;
    static PullResult read_pull(int socket_fd, Deadline deadline);

    // Write: header with mode 1, then (G3) the read end of a new pipe and close; returns where
    // the image is to be written: the pipe's write end (G3) or the socket itself (G2/G1).
    // Closing the returned descriptor is CRIU's end of the image.
    [[nodiscard]] imgx::UniqueFd open_write(std::string_view name,
                                            std::string_view snapshot_id) const;

    // Read: header with mode 0, wait for the reply; on error=0 (G3) pass the write end of a new
    // pipe and close the socket. The returned `data` then yields the image until EOF.
    [[nodiscard]] ReadResult open_read(std::string_view name, std::string_view snapshot_id,
                                       Deadline deadline) const;
    // The read's header only; complete it with read_answer().
    [[nodiscard]] imgx::UniqueFd read_request(std::string_view name,
                                              std::string_view snapshot_id) const;
    [[nodiscard]] ReadResult read_answer(imgx::UniqueFd connection, Deadline deadline) const;

    // Reads a whole image: reply, then the data until EOF. `content` gets the bytes.
    Reply fetch(std::string_view name, std::string_view snapshot_id, std::string& content,
                Deadline deadline) const;

    // End of dump: the finish header (mode 1), then close.
    void finish_dump() const;
    // End of restore: the finish header (mode 0); true if the daemon then closed without
    // sending anything (what our daemons must do).
    [[nodiscard]] bool finish_restore(Deadline deadline) const;

  private:
    std::string path_;
    Generation generation_;
};

// Writes `bytes` with one send() (one frame = one write, as CRIU's writev); throws if short.
void send_once(int fd, std::string_view bytes);

}  // namespace imgtest::remote
