// Writes one image into a dump pipe from its own thread, as a CRIU process writing an image.
#pragma once

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "support/fd_io.hpp"
#include "util/unique_fd.hpp"

namespace imgtest {

// Starts writing `content` into `write_end` at once; the pipe stays open after the content
// until finish() (so the daemon sees EOF exactly when the test decides). Bounded: the write
// gives up at `deadline` (a daemon that stops draining makes finish() report a timeout).
class PipeWriter {
  public:
    PipeWriter(imgx::UniqueFd write_end, std::string content, Deadline deadline);
    PipeWriter(const PipeWriter&) = delete;
    PipeWriter& operator=(const PipeWriter&) = delete;
    ~PipeWriter();

    // Waits until all content is written (or failed), closes the write end and returns the
    // outcome of the write.
    IoResult finish();

    [[nodiscard]] bool done() const { return finished_; }

  private:
    std::promise<void> release_;
    std::future<IoResult> outcome_;
    std::thread thread_;
    bool finished_ = false;
    IoResult result_;
};

// Writes a whole file into a new pipe end from the calling thread, then closes it.
IoResult write_and_close(imgx::UniqueFd write_end, std::string_view content, Deadline deadline);

}  // namespace imgtest

namespace imgtest {

// Writes several files into their pipes at once from the calling thread, a chunk at a time to
// whichever pipe has room (as CRIU alternates pagemap and pages), closing each at its end.
// Returns "" or a description of the first pipe that failed.
struct PendingWrite {
    std::string name;
    imgx::UniqueFd write_end;
    std::string_view content;
};
std::string write_interleaved(std::vector<PendingWrite> writes, Deadline deadline);

}  // namespace imgtest
