// Plays CRIU's side of the stream protocol (`criu dump --stream`, `criu restore --stream`).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "snapshot_image.hpp"
#include "util/unique_fd.hpp"

namespace imgx::bench {

// How the dump puts page data into a pipe. CRIU vmsplices pages from the dumped task's memory;
// plain write() copies them into the pipe instead.
enum class PipeWriteMode { vmsplice, write };

struct PlayerOptions {
    // Pipes open at once (CRIU keeps pagemap and pages open together; more for small files).
    std::size_t open_files = 2;
    PipeWriteMode write_mode = PipeWriteMode::vmsplice;
    // A daemon that moves no byte for this long is declared stuck.
    std::chrono::milliseconds stall_timeout = std::chrono::seconds(60);
};

// Connects to a streamer-capture.sock or streamer-serve.sock as CRIU does, once, at start.
// Throws std::runtime_error naming the path.
UniqueFd connect_stream_socket(const std::string& path);

// Dumps every file of `image` in order: a request frame written with one write, the read end
// of a fresh pipe passed with SCM_RIGHTS, the bytes written into the write end, EOF by closing
// it. Closes the socket after the last request, as CRIU does at the end of a dump. Throws
// std::runtime_error naming the file if a daemon closes a pipe early or stops reading.
void play_dump(UniqueFd socket, const SnapshotImage& image, const PlayerOptions& options);

// Restores `image`: asks for names it never wrote (expects "no"), then for every file (expects
// "yes"), passes the write end of a fresh pipe and reads it to EOF into `into` at the file's
// offset in the image. Closes the socket at the end. Throws std::runtime_error if an answer is
// wrong or a file arrives shorter or longer than dumped (content is compared by the caller).
void play_restore(UniqueFd socket, const SnapshotImage& image, const Arena& into,
                  const PlayerOptions& options);

}  // namespace imgx::bench
