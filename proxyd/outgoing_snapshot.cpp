// Outgoing snapshot state.
#include "outgoing_snapshot.hpp"

namespace imgx::proxyd {

std::string_view state_name(OutgoingState state) {
    switch (state) {
        case OutgoingState::capturing:
            return "capturing";
        case OutgoingState::sending:
            return "sending";
        case OutgoingState::acknowledged:
            return "complete";
        case OutgoingState::failed:
            return "failed";
    }
    return "unknown";
}

OutgoingSnapshot::OutgoingSnapshot(const boost::asio::any_io_executor& ex, std::string id,
                                   std::string protocol, std::uint64_t tag,
                                   std::uint64_t link_generation)
    : id_(std::move(id)),
      protocol_(std::move(protocol)),
      tag_(tag),
      link_generation_(link_generation),
      started_(std::chrono::steady_clock::now()),
      changed_(ex) {}

void OutgoingSnapshot::mark_sending() {
    if (state_ != OutgoingState::capturing) return;
    state_ = OutgoingState::sending;
    changed_.notify();
}

void OutgoingSnapshot::mark_acknowledged() {
    if (state_ != OutgoingState::sending) return;
    state_ = OutgoingState::acknowledged;
    finished_ = std::chrono::steady_clock::now();
    changed_.notify();
}

void OutgoingSnapshot::mark_failed(std::string reason) {
    if (settled()) return;
    state_ = OutgoingState::failed;
    error_ = std::move(reason);
    finished_ = std::chrono::steady_clock::now();
    changed_.notify();
}

}  // namespace imgx::proxyd
