// The reference path: the same bytes through one pipe and one loopback TCP connection, no daemons.
#pragma once

#include <vector>

#include "criu_stream_player.hpp"
#include "snapshot_image.hpp"

namespace imgx::bench {

// A writer thread puts every source arena, in order, into a pipe (as the dump would); a relay
// thread reads the pipe and sends it over TCP in 1 MiB writes; the calling thread receives into
// the sink arenas (same sizes, pre-faulted). Returns the seconds from the first byte written to
// the last byte received. Throws std::runtime_error if the stream breaks or comes out short.
double run_baseline(const std::vector<const Arena*>& sources,
                    const std::vector<const Arena*>& sinks, PipeWriteMode mode);

}  // namespace imgx::bench
