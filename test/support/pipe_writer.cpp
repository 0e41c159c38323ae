// Threaded pipe writer.
#include "support/pipe_writer.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace imgtest {

PipeWriter::PipeWriter(imgx::UniqueFd write_end, std::string content, Deadline deadline) {
    std::promise<IoResult> outcome;
    outcome_ = outcome.get_future();
    auto release = release_.get_future();
    thread_ = std::thread([fd = std::move(write_end), content = std::move(content), deadline,
                           outcome = std::move(outcome), release = std::move(release)]() mutable {
        make_nonblocking(fd.get());  // our own end: the daemon's read end is unaffected
        IoResult result = write_all(fd.get(), content, deadline);
        outcome.set_value(result);
        release.wait();  // keep the pipe open, as CRIU does until it finished the image
        fd.reset();
    });
}

PipeWriter::~PipeWriter() {
    if (!finished_) finish();
}

IoResult PipeWriter::finish() {
    if (finished_) return result_;
    result_ = outcome_.get();
    release_.set_value();
    thread_.join();
    finished_ = true;
    return result_;
}

IoResult write_and_close(imgx::UniqueFd write_end, std::string_view content, Deadline deadline) {
    make_nonblocking(write_end.get());
    IoResult result = write_all(write_end.get(), content, deadline);
    write_end.reset();
    return result;
}

}  // namespace imgtest

namespace imgtest {

std::string write_interleaved(std::vector<PendingWrite> writes, Deadline deadline) {
    constexpr std::size_t kChunk = 16 * 1024;
    std::vector<std::size_t> written(writes.size(), 0);
    std::size_t open_count = 0;
    for (auto& w : writes) {
        make_nonblocking(w.write_end.get());
        if (w.content.empty())
            w.write_end.reset();
        else
            ++open_count;
    }
    while (open_count > 0) {
        if (Clock::now() >= deadline) {
            std::string stuck;
            for (std::size_t i = 0; i < writes.size(); ++i)
                if (writes[i].write_end)
                    stuck += " " + writes[i].name + "(" + std::to_string(written[i]) + "/" +
                             std::to_string(writes[i].content.size()) + ")";
            return "timed out writing dump pipes; unfinished:" + stuck;
        }
        std::vector<pollfd> fds;
        std::vector<std::size_t> index;
        for (std::size_t i = 0; i < writes.size(); ++i)
            if (writes[i].write_end) {
                fds.push_back({writes[i].write_end.get(), POLLOUT, 0});
                index.push_back(i);
            }
        if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (!fds[k].revents) continue;
            auto i = index[k];
            auto& w = writes[i];
            auto chunk = std::min(kChunk, w.content.size() - written[i]);
            ssize_t n = ::write(w.write_end.get(), w.content.data() + written[i], chunk);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                return "writing " + w.name + " failed after " + std::to_string(written[i]) +
                       " bytes: " + std::strerror(errno);
            }
            written[i] += static_cast<std::size_t>(n);
            if (written[i] == w.content.size()) {
                w.write_end.reset();  // EOF: the image is complete
                --open_count;
            }
        }
    }
    return "";
}

}  // namespace imgtest
