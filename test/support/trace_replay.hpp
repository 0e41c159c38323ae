// Replays a recorded G4 dump against img-proxyd and a recorded restore against img-cached.
#pragma once

#include <functional>
#include <string>

#include "support/fd_io.hpp"
#include "support/trace_manifest.hpp"

namespace imgtest {

enum class DumpStyle {
    // Pipes written from threads as soon as passed, each closed at its file_content event:
    // CRIU's real overlap of up to five open pipes.
    threaded,
    // Single thread; each image written only at its file_content position. A daemon that does
    // not drain every pipe concurrently with the socket deadlocks this (bounded by the deadline).
    at_eof_single_threaded,
    // Like threaded, but the control socket closes right after the last pipe is passed, while
    // every pipe is still open; their EOFs come only after `after_socket_close` ran.
    socket_closes_first,
};

struct DumpReplayOptions {
    DumpStyle style = DumpStyle::threaded;
    Clock::duration timeout = seconds(60);
    std::function<void()> after_socket_close;  // socket_closes_first only
};

// Plays connection 0 of `trace` against DIR/streamer-capture.sock. Uses Catch2 assertions
// (main thread only).
void replay_dump(const Trace& trace, const std::string& capture_dir,
                 const DumpReplayOptions& options);

// Plays connection 1 against DIR/streamer-serve.sock: the recorded request bytes, the exact
// recorded reply bytes expected, content compared with the recorded blobs, and read ends held
// open as CRIU held them (open_pipes_before). Uses Catch2 assertions.
void replay_restore(const Trace& trace, const std::string& serve_dir,
                    Clock::duration timeout = seconds(60));

}  // namespace imgtest
