// Loads the img-remote recording (g3-counter) and plays it, as CRIU did, against the daemons in
// any of the three generations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "remote/remote_client.hpp"

namespace imgtest::remote {

struct G3Event {
    int seq = 0;
    std::string type;   // connected, frame_received, frame_sent, fd_received, file_content,
                        // file_served, eof, ...
    std::string frame;  // frame_received / frame_sent: exact bytes
    std::string blob;   // file_content / file_served
    std::uint64_t size = 0;
};

struct G3Connection {
    int index = 0;
    std::string phase;  // dump or restore
    std::string
        kind;  // push_snapshot_id, pull_snapshot_ids, write, read, finish_dump, finish_restore
    std::string name;
    std::string snapshot_id;
    std::uint32_t open_mode = 0;
    std::vector<std::string> open_pipes_before;
    std::vector<G3Event> events;
};

struct G3Trace {
    std::filesystem::path dir;
    std::string images_dir;  // CRIU's -D, also the snapshot id in every image frame
    std::vector<G3Connection> connections;
    std::string blob(const std::string& relative) const;
};

// Loads IMG_TRACES_DIR/<scenario>; skips the test (exit 77) if the recordings are absent.
G3Trace load_g3_trace_or_skip(const std::string& scenario);

// Plays the dump connections against DIR/img-proxy.sock in recorded event order: every
// connection in index order, pipes (G3) or data sockets (G2/G1) kept open per the recorded
// `file_content` positions, pull answers compared with the recording. Returns "" or the first
// difference.
std::string replay_dump(const G3Trace& trace, const std::string& proxy_socket,
                        Generation generation, Deadline deadline);

// Plays the restore connections against DIR/img-cache.sock: pull answer, every reply
// (error=0/2) and served content byte for byte, read ends kept per `open_pipes_before`, and
// the restore finish answered by EOF without a reply. Returns "" or the first difference.
std::string replay_restore(const G3Trace& trace, const std::string& cache_socket,
                           Generation generation, Deadline deadline);

}  // namespace imgtest::remote
