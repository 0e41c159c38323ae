// Reads CRIU's pipes on a thread of its own, at memory speed, into the capture buffer; hands each
// filled block to the event loop, which checksums and sends it (docs/performance.md, "Drain
// first").
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/buffer_pool.hpp"
#include "util/unique_fd.hpp"

namespace imgx::proxyd {

// How a pipe's capture ended.
enum class CaptureEnd {
    eof,     // CRIU closed its end: every byte was delivered
    failed,  // read() failed
    closed,  // close() was asked (the snapshot failed): unsent bytes were dropped
};

// One pipe's receiver. Runs on the event loop only: its data in order, then one end.
class CaptureSink {
  public:
    virtual ~CaptureSink() = default;
    virtual void on_data(PooledBuffer buffer, std::size_t size) = 0;
    virtual void on_end(CaptureEnd end) = 0;
};

class CaptureThread {
  public:
    // `buffer_bytes` x `blocks`: the capture buffer (a shared BufferPool, faulted in by the
    // thread as it starts, and kept). `loop`: where the sinks run.
    CaptureThread(const boost::asio::any_io_executor& loop, std::size_t buffer_bytes,
                  std::size_t blocks);
    CaptureThread(const CaptureThread&) = delete;
    CaptureThread& operator=(const CaptureThread&) = delete;
    // Stops the thread; pipes still open are closed and their sinks released without a call
    // (destroy it after the event loop stopped).
    ~CaptureThread();

    // From now on the thread reads `pipe` to EOF for `sink`. Returns the pipe's id for close().
    std::uint64_t add(UniqueFd pipe, std::shared_ptr<CaptureSink> sink);
    // Closes the pipe (CRIU's next write gets EPIPE) and frees the bytes it holds. No-op once its
    // end was delivered.
    void close(std::uint64_t id);

    [[nodiscard]] const BufferPool& buffer() const noexcept { return *pool_; }

  private:
    struct Pipe;
    void run();
    // Takes the commands queued by add() and close(); false when the thread must stop.
    bool take_commands(std::vector<Pipe>& pipes);
    // Reads `pipe` until it would block, is full with no block left, or ends; false if it ended.
    bool read_pipe(Pipe& pipe);
    // Delivers `pipe`'s block (if it holds data), then its end when `end` is given.
    void deliver(Pipe& pipe, const CaptureEnd* end);
    void wake() const { wake_up(*wake_fd_); }
    static void wake_up(const UniqueFd& fd);

    boost::asio::any_io_executor loop_;
    // eventfd: commands queued, or a block returned (shared with the pool, whose blocks may
    // come back after this object is gone)
    std::shared_ptr<UniqueFd> wake_fd_;
    std::shared_ptr<BufferPool> pool_;

    std::mutex mutex_;  // guards the commands below
    std::vector<Pipe> incoming_;
    std::vector<std::uint64_t> closing_;
    std::uint64_t next_id_ = 0;
    bool stopping_ = false;

    std::thread thread_;  // last: starts once everything above exists
};

}  // namespace imgx::proxyd
