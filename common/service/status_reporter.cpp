// STATUS= lines: a timer samples the daemon, sends on change or every few seconds.
#include "service/status_reporter.hpp"

#include <fmt/format.h>

#include "service/notify.hpp"

namespace imgx {

namespace {

using namespace std::chrono_literals;

constexpr auto kRefresh = 5s;  // the longest a line goes without an update
constexpr auto kLook = 1s;     // how often a change of the active count is looked for
constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

std::string format_status(const ServiceLoad& load, double bytes_per_second) {
    std::string line = fmt::format("{} active snapshot{}, {:.1f} MiB, {:.1f} MiB/s", load.active,
                                   load.active == 1 ? "" : "s",
                                   static_cast<double>(load.bytes) / kMiB, bytes_per_second / kMiB);
    if (!load.note.empty()) line += "; " + load.note;
    return line;
}

StatusReporter::StatusReporter(const boost::asio::any_io_executor& ex,
                               std::function<ServiceLoad()> sample)
    : timer_(ex), sample_(std::move(sample)) {}

void StatusReporter::start() {
    refresh();
    schedule();
}

void StatusReporter::stop() { timer_.cancel(); }

void StatusReporter::refresh(const std::string& prefix) {
    if (!prefix.empty()) prefix_ = prefix;
    const auto now = std::chrono::steady_clock::now();
    ServiceLoad load = sample_();
    double rate = 0;
    const double seconds = std::chrono::duration<double>(now - last_sent_).count();
    // Bytes shrink when a snapshot is dropped: no negative rate.
    if (last_sent_ != std::chrono::steady_clock::time_point{} && seconds > 0 &&
        load.bytes > last_.bytes)
        rate = static_cast<double>(load.bytes - last_.bytes) / seconds;
    notify_status(prefix_ + format_status(load, rate));
    last_ = std::move(load);
    last_sent_ = now;
}

void StatusReporter::schedule() {
    timer_.expires_after(kLook);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;  // stopped
        const bool due = std::chrono::steady_clock::now() - last_sent_ >= kRefresh;
        if (due || sample_().active != last_.active) refresh();
        schedule();
    });
}

}  // namespace imgx
