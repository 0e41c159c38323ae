// The capture thread: one poll() loop over CRIU's pipes that only copies into the capture buffer.
#include "capture_thread.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <utility>

namespace imgx::proxyd {

namespace asio = boost::asio;

struct CaptureThread::Pipe {
    std::uint64_t id = 0;
    UniqueFd fd;
    std::shared_ptr<CaptureSink> sink;  // only copied and moved here; used on the event loop
    PooledBuffer block;
    std::size_t fill = 0;
    std::chrono::steady_clock::time_point since;  // when the block's first byte came
};

namespace {

// A block that stopped filling goes to the link after this long: CRIU paused (or writes another
// file), and its bytes should not wait for the rest. Filling 1 MiB at memory speed takes less.
constexpr auto kPartialBlockWait = std::chrono::milliseconds(2);

// A block on its way to the event loop; the pool outlives it (members go in reverse order).
struct Handoff {
    std::shared_ptr<BufferPool> pool;
    PooledBuffer block;
};

}  // namespace

CaptureThread::CaptureThread(const asio::any_io_executor& loop, std::size_t buffer_bytes,
                             std::size_t blocks)
    : loop_(loop), wake_fd_(std::make_shared<UniqueFd>(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))) {
    if (!*wake_fd_) throw std::system_error(errno, std::generic_category(), "eventfd");
    pool_ = std::make_shared<BufferPool>(buffer_bytes, blocks, [fd = wake_fd_] { wake_up(*fd); });
    thread_ = std::thread([this] { run(); });
}

CaptureThread::~CaptureThread() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake();
    thread_.join();
}

std::uint64_t CaptureThread::add(UniqueFd pipe, std::shared_ptr<CaptureSink> sink) {
    std::uint64_t id = 0;
    {
        const std::lock_guard lock(mutex_);
        id = ++next_id_;
        incoming_.push_back(Pipe{id, std::move(pipe), std::move(sink), {}, 0});
    }
    wake();
    return id;
}

void CaptureThread::close(std::uint64_t id) {
    {
        const std::lock_guard lock(mutex_);
        closing_.push_back(id);
    }
    wake();
}

void CaptureThread::wake_up(const UniqueFd& fd) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd.get(), &one, sizeof one);  // full: already woken
}

bool CaptureThread::take_commands(std::vector<Pipe>& pipes) {
    std::vector<std::uint64_t> closing;
    bool stop = false;
    {
        const std::lock_guard lock(mutex_);
        for (auto& p : incoming_) pipes.push_back(std::move(p));
        incoming_.clear();
        closing.swap(closing_);
        stop = stopping_;
    }
    const CaptureEnd closed = CaptureEnd::closed;
    std::erase_if(pipes, [&](Pipe& p) {
        if (!stop && std::find(closing.begin(), closing.end(), p.id) == closing.end()) return false;
        p.fd.reset();  // CRIU's next write fails at once
        p.block = {};  // its unsent bytes are freed now
        p.fill = 0;
        // Stopping: the event loop has stopped and its pending work is gone, so nothing is posted
        // to it any more; the sink goes here, while the loop's thread waits in the destructor.
        if (stop)
            p.sink.reset();
        else
            deliver(p, &closed);
        return true;
    });
    return !stop;
}

void CaptureThread::deliver(Pipe& pipe, const CaptureEnd* end) {
    if (pipe.fill > 0) {
        pool_->set_filled(pipe.block, pipe.fill);
        asio::post(loop_,
                   [h = Handoff{pool_, std::move(pipe.block)}, sink = pipe.sink,
                    size = pipe.fill]() mutable { sink->on_data(std::move(h.block), size); });
        pipe.fill = 0;
    }
    if (end)  // the last reference to the sink leaves this thread with it
        asio::post(loop_, [sink = std::move(pipe.sink), e = *end] { sink->on_end(e); });
}

bool CaptureThread::read_pipe(Pipe& pipe) {
    for (;;) {
        if (!pipe.block) {
            pipe.block = pool_->try_acquire();
            if (!pipe.block) return true;  // the buffer is full: CRIU waits until a block returns
        }
        const std::size_t room = pipe.block.capacity() - pipe.fill;
        const ssize_t n = ::read(pipe.fd.get(), pipe.block.data() + pipe.fill, room);
        if (n > 0) {
            if (pipe.fill == 0) pipe.since = std::chrono::steady_clock::now();
            pipe.fill += static_cast<std::size_t>(n);
            if (pipe.fill == pipe.block.capacity()) deliver(pipe, nullptr);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return true;
        const CaptureEnd end = n == 0 ? CaptureEnd::eof : CaptureEnd::failed;
        pipe.fd.reset();
        deliver(pipe, &end);
        return false;
    }
}

// The loop: wait for readable pipes (only those it has room for) or a wake-up, then read.
void CaptureThread::run() {
    // Fresh pages cost more than the copy into them (docs/performance.md, "Drain first"): fault
    // the whole buffer in now, off the event loop; a dump that starts meanwhile waits for it.
    pool_->prefault();
    std::vector<Pipe> pipes;
    std::vector<pollfd> fds;
    while (take_commands(pipes)) {
        // Without a free block, partial blocks go out now: their bytes are what frees blocks.
        const bool starved = pool_->free_count() == 0;
        const auto now = std::chrono::steady_clock::now();
        auto wait = std::chrono::steady_clock::duration::max();
        fds.assign(1, pollfd{wake_fd_->get(), POLLIN, 0});
        for (auto& p : pipes) {
            if (p.fill > 0 && (starved || now - p.since >= kPartialBlockWait)) deliver(p, nullptr);
            if (p.fill > 0) wait = std::min(wait, p.since + kPartialBlockWait - now);
            if (starved && p.block && p.fill == 0) p.block = {};
            const bool room = p.block || !starved;
            fds.push_back(pollfd{room ? p.fd.get() : -1, POLLIN, 0});
        }
        const int timeout_ms =
            wait == std::chrono::steady_clock::duration::max()
                ? -1
                : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
        if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll on CRIU's pipes");
        if (fds[0].revents) {
            std::uint64_t count = 0;
            [[maybe_unused]] auto n = ::read(wake_fd_->get(), &count, sizeof count);
        }
        std::size_t i = 1;
        std::erase_if(pipes, [&](Pipe& p) { return fds[i++].revents != 0 && !read_pipe(p); });
    }
}

}  // namespace imgx::proxyd
