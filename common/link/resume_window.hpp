// Sequence numbers, cumulative acknowledgements and stall detection that let a link session
// outlive its TCP connection (docs/link-protocol.md, "Resume"). Pure: no sockets, no timers.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "wire/frame.hpp"

namespace imgx::link {

// A receiver acknowledges at least every this many frames or bytes, and otherwise when idle.
inline constexpr std::uint64_t kAckEveryFrames = 64;
inline constexpr std::uint64_t kAckEveryBytes = 1 << 20;

// The sending half of a session. Frames are numbered from 1 in the order queued (HELLO and ACK
// frames are not numbered). A frame stays held until the peer acknowledges it, so a new
// connection can write it again; a DATA frame holding a pool buffer thereby keeps that buffer,
// which bounds what the sender holds unacknowledged. One write at a time: begin_write() hands
// the next frames to it, end_write() records that it completed; the frames of a write in
// progress stay held even when an acknowledgement covers them (their bytes are still in use).
template <typename Frame>
class SendWindow {
  public:
    // Queues `frame`; returns its number.
    std::uint64_t push(Frame frame) {
        frames_.push_back(std::move(frame));
        return queued();
    }

    // Frames queued and not yet handed to a write on the current connection.
    [[nodiscard]] std::size_t unwritten() const noexcept {
        return static_cast<std::size_t>(queued() - written_ - writing_);
    }
    // The i-th frame not yet handed to a write (0: the next one).
    [[nodiscard]] Frame& unwritten_at(std::size_t i) {
        return frames_[index(written_ + writing_) + i];
    }

    // The next `count` unwritten frames go into one write.
    void begin_write(std::size_t count) {
        if (writing_ != 0 || count > unwritten())
            throw std::logic_error("SendWindow: overlapping or oversized write");
        writing_ = count;
    }
    // The i-th frame of the write in progress.
    [[nodiscard]] Frame& writing_at(std::size_t i) { return frames_[index(written_) + i]; }
    // The write in progress completed.
    void end_write() {
        written_ += writing_;
        writing_ = 0;
        release();
    }

    // The peer holds every frame through `through` (cumulative). Throws wire::ProtocolError if
    // `through` goes backwards or names a frame not yet handed to a write.
    void acknowledge(std::uint64_t through) {
        if (through < acked_)
            throw wire::ProtocolError("acknowledgement of frame " + std::to_string(through) +
                                      " goes back behind " + std::to_string(acked_));
        if (through > written_ + writing_)
            throw wire::ProtocolError("acknowledgement of frame " + std::to_string(through) +
                                      " of which only " + std::to_string(written_ + writing_) +
                                      " were sent");
        acked_ = through;
        release();
    }

    // A new connection of the same session (no write in progress any more): the peer holds
    // frames through `through`; every frame after it is written again, in order. Throws
    // wire::ProtocolError like acknowledge().
    void resume_from(std::uint64_t through) {
        acknowledge(through);
        written_ = acked_;
        writing_ = 0;
        release();
    }

    // The session ends: every held frame is dropped and numbering starts again at 1.
    void clear() {
        frames_.clear();
        base_ = acked_ = written_ = writing_ = 0;
    }

    [[nodiscard]] std::uint64_t queued() const noexcept { return base_ + frames_.size(); }
    [[nodiscard]] std::uint64_t written() const noexcept { return written_; }
    [[nodiscard]] std::uint64_t acknowledged() const noexcept { return acked_; }
    // Frames written (or being written) and not yet acknowledged.
    [[nodiscard]] bool outstanding() const noexcept { return written_ + writing_ > acked_; }
    // Frames written (or being written) that the peer has neither acknowledged nor reported
    // received (`heard`: ACK.heard_through): what a stall leaves on its way.
    [[nodiscard]] bool unheard(std::uint64_t heard) const noexcept {
        return written_ + writing_ > std::max(acked_, heard);
    }
    // Frames held (unacknowledged, or in the write in progress).
    [[nodiscard]] std::size_t held() const noexcept { return frames_.size(); }

  private:
    [[nodiscard]] std::size_t index(std::uint64_t number) const noexcept {
        return static_cast<std::size_t>(number - base_);
    }
    // Drops the acknowledged frames that no write uses.
    void release() {
        const std::uint64_t upto = std::min(acked_, written_);
        if (upto <= base_) return;
        frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(upto - base_));
        base_ = upto;
    }

    std::deque<Frame> frames_;  // numbers base_ + 1 .. queued()
    std::uint64_t base_ = 0;    // frames through this number are released
    std::uint64_t acked_ = 0;
    std::uint64_t written_ = 0;  // handed to writes that completed on the current connection
    std::uint64_t writing_ = 0;  // frames in the write in progress
};

// The receiving half of a session: counts whole frames handled and decides when to acknowledge.
// A frame may be handled but held back from acknowledgement (a DATA_AT chunk waiting for the
// bytes before it, docs/link-protocol.md "Lanes"): ACKs then stop just before the oldest held
// frame, so the sender keeps its buffer. A resuming HELLO still reports every handled frame.
class ReceiveCounter {
  public:
    // A numbered frame of `bytes` bytes (header included) arrived and was handled.
    void received(std::uint64_t bytes) noexcept {
        ++through_;
        bytes_since_ack_ += bytes;
    }
    // Frame `number` (handled) is not to be acknowledged until release(number).
    void hold(std::uint64_t number) { held_.insert(number); }
    void release(std::uint64_t number) { held_.erase(number); }
    // Frames handled so far: what a resuming HELLO reports.
    [[nodiscard]] std::uint64_t through() const noexcept { return through_; }
    // What an ACK may report now: every frame before the oldest held one.
    [[nodiscard]] std::uint64_t ackable() const noexcept {
        if (held_.empty()) return through_;
        return std::max(acked_, *held_.begin() - 1);
    }
    // Enough arrived since the last acknowledgement that one goes out now.
    [[nodiscard]] bool ack_due() const noexcept {
        const std::uint64_t can = ackable();
        return can > acked_ &&
               (can - acked_ >= kAckEveryFrames || bytes_since_ack_ >= kAckEveryBytes);
    }
    // Something arrived that no acknowledgement reported yet (an idle link sends it).
    [[nodiscard]] bool ack_pending() const noexcept { return ackable() > acked_; }
    // An ACK of ackable() goes out; returns it.
    std::uint64_t take_ack() noexcept {
        acked_ = ackable();
        bytes_since_ack_ = 0;
        return acked_;
    }
    // A HELLO answer reports every handled frame, held ones included (the peer must not send
    // them again); later ACKs never go back behind it.
    std::uint64_t take_all() noexcept {
        acked_ = through_;
        bytes_since_ack_ = 0;
        return through_;
    }
    void clear() noexcept {
        through_ = acked_ = bytes_since_ack_ = 0;
        held_.clear();
    }

  private:
    std::uint64_t through_ = 0;
    std::uint64_t acked_ = 0;
    std::uint64_t bytes_since_ack_ = 0;
    std::set<std::uint64_t> held_;
};

// Decides when one connection of a session counts as stalled: nothing heard from the peer for
// the idle timeout, or frames outstanding while the peer's acknowledgement did not move for the
// idle timeout. Each side sends a heartbeat (an ACK) when it wrote nothing for a third of it, so
// a healthy idle link is never taken for a stalled one.
class LinkLiveness {
  public:
    using Clock = std::chrono::steady_clock;

    LinkLiveness(Clock::duration idle_timeout, Clock::time_point now)
        : idle_timeout_(idle_timeout), heard_(now), sent_(now) {}

    void heard(Clock::time_point now) noexcept { heard_ = now; }
    void sent(Clock::time_point now) noexcept { sent_ = now; }
    void acknowledged(Clock::time_point now) noexcept {
        if (waiting_since_) waiting_since_ = now;
    }

    [[nodiscard]] bool heartbeat_due(Clock::time_point now) const noexcept {
        return now - sent_ >= idle_timeout_ / 3;
    }

    // Called on every tick with whether frames are outstanding; empty while the link is healthy,
    // otherwise why it counts as stalled.
    std::optional<std::string> check(Clock::time_point now, bool outstanding) {
        if (!outstanding) waiting_since_.reset();
        if (outstanding && !waiting_since_) waiting_since_ = now;
        const auto seconds =
            std::chrono::duration_cast<std::chrono::seconds>(idle_timeout_).count();
        if (now - heard_ >= idle_timeout_)
            return "nothing heard from the peer for " + std::to_string(seconds) + " s";
        if (waiting_since_ && now - *waiting_since_ >= idle_timeout_)
            return "no acknowledgement for " + std::to_string(seconds) +
                   " s while frames are outstanding";
        return std::nullopt;
    }

  private:
    Clock::duration idle_timeout_;
    Clock::time_point heard_;
    Clock::time_point sent_;
    std::optional<Clock::time_point>
        waiting_since_;  // start of the wait for acknowledgement progress
};

// Capped exponential backoff between reconnection attempts.
class Backoff {
  public:
    using Duration = std::chrono::steady_clock::duration;
    Backoff(Duration first, Duration cap) : first_(first), cap_(cap), next_(first) {}
    // The wait before the next attempt; each call doubles the following one, up to the cap.
    Duration next() noexcept {
        const Duration now = next_;
        next_ = std::min(next_ * 2, cap_);
        return now;
    }
    void reset() noexcept { next_ = first_; }

  private:
    Duration first_, cap_, next_;
};

}  // namespace imgx::link
