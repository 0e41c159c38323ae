// Loads the recorded CRIU runs in shared/criu-traces (manifest.json + content blobs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace imgtest {

// One recorded event of a G4 connection, reduced to what a replay needs.
struct TraceEvent {
    int seq = 0;
    std::string type;   // connected, frame_received, frame_sent, fd_received, ...
    std::string frame;  // frame_received / frame_sent: the exact bytes
    std::string name;   // file the event is about (fd_received, file_content, ...)
    std::optional<std::string> decoded_name;  // frame_received: the decoded filename
    std::optional<bool> decoded_exists;       // frame_sent: the decoded reply
    std::string blob;  // file_content / file_served: blob path in the scenario
    std::uint64_t size = 0;
    std::vector<std::string> open_pipes_before;  // frame_received
};

struct Trace {
    std::string scenario;
    std::string protocol;  // "G4" or "G3"
    std::filesystem::path dir;
    std::string images_dir;                  // CRIU's -D
    std::vector<TraceEvent> dump_events;     // connection 0, in seq order
    std::vector<TraceEvent> restore_events;  // connection 1, in seq order

    // The content of a blob named in the manifest ("files/<sha256>.bin").
    std::string blob(const std::string& relative) const;
    // The snapshot id a daemon derives from the recorded -D ("job1").
    std::string snapshot_id() const;
};

// Throws std::runtime_error with the path if the manifest is unreadable or not G4.
Trace load_g4_trace(const std::filesystem::path& scenario_dir);

// The traces directory from env IMG_TRACES_DIR; skips the test (exit 77) if unset or missing.
std::filesystem::path traces_dir_or_skip();

// Scenario folders whose manifest says protocol G4, sorted. Skips if there are none.
std::vector<std::filesystem::path> g4_scenarios_or_skip();

std::string hex_decode(std::string_view hex);
std::string hex_encode(std::string_view bytes);

}  // namespace imgtest
