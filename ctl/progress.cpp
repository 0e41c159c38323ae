// Progress lines of `img-ctl wait`.
#include "progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace imgx::ctl {

std::string human_bytes(double bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 4) {
        bytes /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{:.0f} B", bytes)
                     : fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

std::string human_duration(double seconds) {
    if (!(seconds >= 0)) seconds = 0;
    if (seconds < 10) return fmt::format("{:.1f} s", seconds);
    const auto whole = static_cast<std::uint64_t>(std::llround(seconds));
    if (whole < 60) return fmt::format("{} s", whole);
    if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
    return fmt::format("{}h{:02}m", whole / 3600, whole % 3600 / 60);
}

void ProgressMeter::add(const control::Response& response, double now) {
    daemon_ = response.daemon();
    final_ = response.final();
    ok_ = response.ok();
    error_ = response.error();
    if (response.snapshots_size() == 0) return;
    const bool was_known = have_snapshot_ && latest_.total_known();
    latest_ = response.snapshots(0);
    have_snapshot_ = true;
    // Once the total is known the ETA counts confirmed bytes, a different quantity: start over.
    if (latest_.total_known() != was_known) samples_.clear();
    samples_.push_back({now, done()});
    while (samples_.size() > 2 && now - samples_.front().at > kRateWindow) samples_.pop_front();
}

bool ProgressMeter::due(double now, bool terminal) const {
    if (last_drawn_ < 0) return true;
    return now - last_drawn_ >= (terminal ? kTerminalInterval : kPlainInterval);
}

std::uint64_t ProgressMeter::done() const {
    return latest_.total_known() ? latest_.bytes_acked() : latest_.bytes();
}

double ProgressMeter::rate() const {
    if (samples_.size() >= 2) {
        const Sample& first = samples_.front();
        const Sample& last = samples_.back();
        const double seconds = last.at - first.at;
        // img-cached confirms a file only at its end: a large file shows no progress for a while,
        // and the average then estimates better than zero.
        if (seconds > 0 && last.done > first.done)
            return static_cast<double>(last.done - first.done) / seconds;
    }
    return latest_.rate_bytes_per_second();
}

std::string ProgressMeter::line(bool terminal) const {
    if (!have_snapshot_) return daemon_ + ": waiting for the dump to begin";
    const auto& s = latest_;
    const double speed = rate();
    const std::string head = fmt::format("{}: '{}' {}", daemon_, s.snapshot_id(), s.state());
    if (!s.total_known()) {
        // The stream protocol announces no sizes: the total exists only once CRIU is done.
        return fmt::format("{}: {} files, {}, {}/s, ETA unknown (size known when the dump ends)",
                           head, s.files(), human_bytes(static_cast<double>(s.bytes())),
                           human_bytes(speed));
    }
    const double total = static_cast<double>(s.total_bytes());
    const double confirmed = static_cast<double>(s.bytes_acked());
    const double fraction = total > 0 ? std::clamp(confirmed / total, 0.0, 1.0) : 1.0;
    std::string eta = "ETA unknown";
    if (confirmed >= total)
        eta = "ETA 0.0 s";
    else if (speed > 0)
        eta = "ETA " + human_duration((total - confirmed) / speed);
    std::string text = fmt::format("{}: {} of {} confirmed ({:.0f}%), {} files, {}/s, {}", head,
                                   human_bytes(confirmed), human_bytes(total), fraction * 100,
                                   s.files(), human_bytes(speed), eta);
    if (!terminal) return text;
    constexpr int kWidth = 20;
    const int filled = static_cast<int>(fraction * kWidth);
    return fmt::format("[{}{}] {}", std::string(filled, '#'), std::string(kWidth - filled, '.'),
                       text);
}

std::string ProgressMeter::summary() const {
    if (!have_snapshot_) return daemon_ + ": " + (error_.empty() ? "no snapshot" : error_);
    const auto& s = latest_;
    const double seconds = s.duration_seconds();
    const double bytes = static_cast<double>(s.bytes());
    if (final_ && ok_) {
        const double speed = seconds > 0 ? bytes / seconds : 0;
        return fmt::format("{}: snapshot '{}' complete: {} files, {} in {} ({}/s)", daemon_,
                           s.snapshot_id(), s.files(), human_bytes(bytes), human_duration(seconds),
                           human_bytes(speed));
    }
    if (final_) {
        return fmt::format(
            "{}: snapshot '{}' failed after {}: {} files, {} moved, {} confirmed: {}", daemon_,
            s.snapshot_id(), human_duration(seconds), s.files(), human_bytes(bytes),
            human_bytes(static_cast<double>(s.bytes_acked())), error_.empty() ? s.error() : error_);
    }
    return line(false);
}

}  // namespace imgx::ctl
