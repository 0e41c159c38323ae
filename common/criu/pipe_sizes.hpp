// The pipes CRIU hands over: how large the capture side makes them, how long it may take to pass
// one.
#pragma once

#include <chrono>
#include <cstddef>

namespace imgx::criu {

// CRIU passes its pipe right after our "error 0"; silence means a G2 build (data on the socket).
inline constexpr auto kPipeAfterReplyLimit = std::chrono::seconds(10);

// CRIU's pipes start at 64 KiB; larger ones mean fewer wake-ups (the kernel may cap at 1 MiB).
// img-proxyd asks this capacity for a pipe CRIU writes an image into (enlarge_pipe).
inline constexpr std::size_t kCapturePipeBytes = 4 << 20;

// img-cached asks this capacity for a pipe CRIU restores an image from: CRIU may keep a pagemap
// pipe unread while it asks for the pages file; a larger pipe lets us finish small files at once.
inline constexpr std::size_t kServePipeBytes = 1 << 20;

}  // namespace imgx::criu
