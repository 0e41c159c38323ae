// CRIU's img-remote protocol (--remote, generations G1-G3): what a connection's first frame asks
// for, and the frames we answer with. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imgx::criu {

// Socket file names CRIU connects to (dump side, restore side).
inline constexpr std::string_view kRemoteProxySocket = "img-proxy.sock";
inline constexpr std::string_view kRemoteCacheSocket = "img-cache.sock";

// open_mode values CRIU sends (Linux O_RDONLY, O_WRONLY, O_APPEND on x86/ARM/PowerPC/s390/RISC-V).
inline constexpr std::uint32_t kOpenRead = 0;
inline constexpr std::uint32_t kOpenWrite = 1;
inline constexpr std::uint32_t kOpenAppend = 1024;

// Error values in local_image_reply_entry.
inline constexpr std::uint32_t kReplyOk = 0;
inline constexpr std::uint32_t kReplyNoImage = 2;  // ENOENT: does not exist and never will
inline constexpr std::uint32_t kReplyFailed = 5;   // EIO: makes CRIU abort the open

struct RemoteRequest {
    enum class Kind {
        write,           // image bytes follow (pipe in G3, socket in G2/G1)
        read,            // answer, then image bytes
        push_id,         // a framed snapshot_id_entry follows on the socket
        pull_ids,        // answer 0, every id in push order, close
        finish_dump,     // no data; close
        finish_restore,  // close without a reply
    };
    Kind kind;
    std::string name;
    std::string snapshot_id;
    bool g1_control = false;  // control id was "null" (2017-2019 builds)
};

std::string_view kind_name(RemoteRequest::Kind kind);

// Classifies the first frame of a connection (spec: empty or "null" snapshot id = control).
// Throws wire::ProtocolError for malformed frames, bad names or ids, and unknown control names.
RemoteRequest decode_remote_request(std::string_view body);

// The body of the snapshot_id_entry that follows a push.
std::string decode_snapshot_id_entry(std::string_view body);

// Full frames (length + body), ready for one write each.
const std::string& remote_reply_frame(std::uint32_t error);
std::string snapshot_id_frame(const std::string& id);

// Frames as CRIU writes them (tests and tools that play CRIU).
std::string encode_remote_request(std::string_view name, std::string_view snapshot_id,
                                  std::uint32_t open_mode);
std::uint32_t decode_remote_reply(std::string_view body);

}  // namespace imgx::criu
