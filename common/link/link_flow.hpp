// One side of a link session's frame flow, shared by both daemons: numbered frames held until
// acknowledged, ACKs and heartbeats, and the writer and ticker coroutines of a connection.
// The stream type is a template parameter, so the flow does not care what carries the bytes.
#pragma once

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "link.pb.h"
#include "link/link_codec.hpp"
#include "link/resume_window.hpp"
#include "util/async_event.hpp"

namespace imgx::link {

// How often a connection checks for a stall and for acknowledgements to send.
inline constexpr std::chrono::milliseconds kFlowTick{100};
// One gathered write moves at most this many frames, so acknowledgements go out between batches.
inline constexpr std::size_t kFramesPerWrite = 64;

// A connection ended because its peer stopped answering (LinkLiveness).
struct LinkStalled : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A frame that is one encoded message (header and body in one string).
inline void append_buffers(const std::string& frame, std::vector<boost::asio::const_buffer>& out) {
    out.emplace_back(frame.data(), frame.size());
}

// `Frame` needs a function `append_buffers(const Frame&, std::vector<const_buffer>&)` (found by
// argument-dependent lookup) that adds the bytes to write for it.
template <typename Frame>
class LinkFlow {
  public:
    explicit LinkFlow(const boost::asio::any_io_executor& ex) : wake_(ex) {}

    [[nodiscard]] SendWindow<Frame>& window() noexcept { return window_; }
    [[nodiscard]] const SendWindow<Frame>& window() const noexcept { return window_; }
    [[nodiscard]] ReceiveCounter& counter() noexcept { return counter_; }

    // Queues a numbered frame for the writer; returns its number.
    std::uint64_t send(Frame frame) {
        const std::uint64_t number = window_.push(std::move(frame));
        wake_.notify();
        return number;
    }

    // A numbered frame of `bytes` bytes (header included) arrived and was handled; `held`: it
    // is not acknowledged until release() (ReceiveCounter). Returns its number.
    std::uint64_t received(std::uint64_t bytes, bool held = false) {
        counter_.received(bytes);
        if (held) counter_.hold(counter_.through());
        if (counter_.ack_due()) wake_.notify();
        return counter_.through();
    }
    // A held frame may be acknowledged now.
    void release(std::uint64_t number) {
        counter_.release(number);
        if (counter_.ack_due()) wake_.notify();
    }

    // An ACK frame's body arrived; returns true if it acknowledged frames not acknowledged before
    // or reported more frames received (the peer may hold some back, docs/link-protocol.md
    // "Lanes"). Throws wire::ProtocolError for a bad body or number.
    bool acknowledged(const std::string& body) {
        Ack ack;
        wire::decode_body(body, ack, "ACK");
        const auto before = window_.acknowledged();
        window_.acknowledge(ack.received_through());
        const auto heard_before = peer_heard_;
        peer_heard_ = std::max(peer_heard_, std::min(ack.heard_through(), window_.queued()));
        return window_.acknowledged() != before || peer_heard_ != heard_before;
    }

    // The session ends: held frames are dropped and both numberings restart.
    void clear() {
        window_.clear();
        counter_.clear();
        ack_wanted_ = false;
        highest_written_ = 0;
        peer_heard_ = 0;
        wake_.notify();
    }

    // Wakes the writer (e.g. after the connection changed).
    void wake() { wake_.notify(); }

    // Writes ACKs and numbered frames in order until a write fails. `current()` says whether this
    // connection still owns the session (a newer one may take it over while a write is on its way);
    // `on_written(frame, resent)` sees every frame written, `resent` when an earlier connection
    // had written it already.
    template <typename Stream, typename Current, typename OnWritten>
    boost::asio::awaitable<void> write_loop(Stream& stream, LinkLiveness& liveness, Current current,
                                            OnWritten on_written) {
        std::vector<boost::asio::const_buffer> buffers;
        std::string ack_frame;
        for (;;) {
            while (current() && window_.unwritten() == 0 && !ack_wanted_ && !counter_.ack_due())
                co_await wake_.wait();
            if (!current()) throw LinkStalled("a newer connection took the session over");
            buffers.clear();
            const std::size_t count = std::min(window_.unwritten(), kFramesPerWrite);
            // Frames going out carry the acknowledgement along: a peer that learns from them that
            // its frames were handled (a FILE_ACK, a SNAPSHOT_RESULT) has already released them.
            if (ack_wanted_ || counter_.ack_due() || (count > 0 && counter_.ack_pending())) {
                Ack ack;
                ack.set_received_through(counter_.take_ack());
                ack.set_heard_through(counter_.through());
                ack_frame = encode_message(FrameType::ack, ack);
                buffers.emplace_back(boost::asio::buffer(ack_frame));
                ack_wanted_ = false;
            }
            for (std::size_t i = 0; i < count; ++i)
                append_buffers(window_.unwritten_at(i), buffers);
            // From here an ACK may cover these frames while they are being written (the peer reads
            // them as they come); the window keeps them until end_write().
            window_.begin_write(count);
            co_await boost::asio::async_write(stream, buffers, boost::asio::use_awaitable);
            if (!current()) throw LinkStalled("a newer connection took the session over");
            const std::uint64_t first = window_.written() + 1;
            for (std::size_t i = 0; i < count; ++i)
                on_written(window_.writing_at(i), first + i <= highest_written_);
            window_.end_write();
            highest_written_ = std::max(highest_written_, window_.written());
            liveness.sent(std::chrono::steady_clock::now());
        }
    }

    // Every tick: ends by throwing LinkStalled when the peer stopped answering; asks the writer for
    // an ACK when something arrived unacknowledged or nothing was sent for a while (heartbeat).
    template <typename Current>
    boost::asio::awaitable<void> tick_loop(LinkLiveness& liveness, Current current) {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
        for (;;) {
            timer.expires_after(kFlowTick);
            co_await timer.async_wait(boost::asio::use_awaitable);
            if (!current()) throw LinkStalled("a newer connection took the session over");
            const auto now = std::chrono::steady_clock::now();
            // Frames the peer has and holds back wait for another lane, not for this connection:
            // only frames it has not received count (a stalled lane must not stall the others).
            auto why = liveness.check(now, window_.unheard(peer_heard_));
            if (why) throw LinkStalled(*why);
            if (counter_.ack_pending() || liveness.heartbeat_due(now)) {
                ack_wanted_ = true;
                wake_.notify();
            }
        }
    }

  private:
    SendWindow<Frame> window_;
    ReceiveCounter counter_;
    AsyncEvent wake_;
    bool ack_wanted_ = false;
    std::uint64_t highest_written_ = 0;  // frames written on any connection (resends come below it)
    std::uint64_t peer_heard_ = 0;       // the peer's latest ACK.heard_through
};

}  // namespace imgx::link
