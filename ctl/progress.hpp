// The live progress of `img-ctl wait`: rate, ETA and the lines drawn from the daemon's progress
// answers.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "control.pb.h"

namespace imgx::ctl {

// "512 B", "1.5 KiB", "3.2 GiB".
std::string human_bytes(double bytes);
// "0.4 s", "42 s", "3m05s", "2h07m".
std::string human_duration(double seconds);

// Turns the progress answers of one wait into lines. Pure: the caller gives the time of each
// answer (seconds on any steady clock), so the output depends on its inputs only.
class ProgressMeter {
  public:
    // On a terminal the line is redrawn at most this often; otherwise a plain line is printed
    // this often (and at the start and end).
    static constexpr double kTerminalInterval = 0.25;
    static constexpr double kPlainInterval = 5.0;
    // The rate is measured over the answers of this many seconds.
    static constexpr double kRateWindow = 3.0;

    // Takes one answer (final or not) received at `now`.
    void add(const control::Response& response, double now);
    // True when a line should be printed at `now`; record it with drawn().
    [[nodiscard]] bool due(double now, bool terminal) const;
    void drawn(double now) { last_drawn_ = now; }

    // The current line: with a bar for a terminal, or plain. "waiting" before the dump begins.
    [[nodiscard]] std::string line(bool terminal) const;
    // The last line of a wait: outcome, files, bytes, duration, rate (and the error of a failure).
    [[nodiscard]] std::string summary() const;

  private:
    struct Sample {
        double at;
        std::uint64_t
            done;  // the quantity the ETA counts: bytes, or bytes confirmed once the total is known
    };
    // Bytes per second over the recent samples, or the daemon's average when they show no progress.
    [[nodiscard]] double rate() const;
    [[nodiscard]] std::uint64_t done() const;

    std::string daemon_;
    control::SnapshotStatus latest_;
    bool have_snapshot_ = false;
    bool final_ = false;
    bool ok_ = false;
    std::string error_;
    std::deque<Sample> samples_;
    double last_drawn_ = -1;
};

}  // namespace imgx::ctl
