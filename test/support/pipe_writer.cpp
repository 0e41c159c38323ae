// Threaded pipe writer.
#include "support/pipe_writer.hpp"

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
