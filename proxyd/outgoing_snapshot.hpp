// One dump on its way from CRIU to the cache: progress, acknowledgements and outcome.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "util/async_event.hpp"

namespace imgx::proxyd {

enum class OutgoingState {
    capturing,     // CRIU is still handing over files
    sending,       // every file was read; waiting for the cache to confirm the snapshot
    acknowledged,  // the cache verified and stored every file
    failed,
};

std::string_view state_name(OutgoingState state);

class OutgoingSnapshot {
  public:
    OutgoingSnapshot(const boost::asio::any_io_executor& ex, std::string id, std::string protocol,
                     std::uint64_t tag, std::uint64_t link_generation);

    [[nodiscard]] const std::string& id() const noexcept { return id_; }
    [[nodiscard]] const std::string& protocol() const noexcept { return protocol_; }
    [[nodiscard]] std::uint64_t tag() const noexcept { return tag_; }
    [[nodiscard]] std::uint64_t link_generation() const noexcept { return link_generation_; }
    // Which dump of its id this is (SnapshotRegistry::track numbers them); 0 until tracked.
    [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
    void set_generation(std::uint64_t generation) noexcept { generation_ = generation; }
    [[nodiscard]] OutgoingState state() const noexcept { return state_; }
    [[nodiscard]] const std::string& error() const noexcept { return error_; }
    [[nodiscard]] bool settled() const noexcept {
        return state_ == OutgoingState::acknowledged || state_ == OutgoingState::failed;
    }

    void mark_sending();
    void mark_acknowledged();
    // Any state but acknowledged -> failed; the first reason is kept.
    void mark_failed(std::string reason);

    void add_read(std::uint64_t bytes) noexcept { bytes_read_ += bytes; }
    void add_acked(std::uint64_t bytes) {
        bytes_acked_ += bytes;
        ++files_acked_;
        changed_.notify();
    }
    void add_file() noexcept { ++files_; }
    // A chunk of `original` bytes of file went to the link as `sent` bytes (compressed or not).
    void add_link_bytes(std::uint64_t original, std::uint64_t sent) noexcept {
        chunk_bytes_ += original;
        link_bytes_ += sent;
    }
    [[nodiscard]] std::uint64_t chunk_bytes() const noexcept { return chunk_bytes_; }
    [[nodiscard]] std::uint64_t link_bytes() const noexcept { return link_bytes_; }

    [[nodiscard]] std::uint64_t bytes_read() const noexcept { return bytes_read_; }
    [[nodiscard]] std::uint64_t bytes_acked() const noexcept { return bytes_acked_; }
    [[nodiscard]] std::uint64_t files() const noexcept { return files_; }
    [[nodiscard]] std::uint64_t files_acked() const noexcept { return files_acked_; }
    [[nodiscard]] std::chrono::steady_clock::time_point started() const noexcept {
        return started_;
    }
    [[nodiscard]] std::chrono::steady_clock::time_point finished() const noexcept {
        return finished_;
    }

    // Wakes on every state change and acknowledgement.
    boost::asio::awaitable<void> wait_change() { co_await changed_.wait(); }
    boost::asio::awaitable<void> wait_settled() {
        while (!settled()) co_await changed_.wait();
    }

  private:
    std::string id_;
    std::string protocol_;
    std::uint64_t tag_;
    std::uint64_t link_generation_;
    std::uint64_t generation_ = 0;
    OutgoingState state_ = OutgoingState::capturing;
    std::string error_;
    std::uint64_t bytes_read_ = 0, bytes_acked_ = 0, files_ = 0, files_acked_ = 0;
    std::uint64_t chunk_bytes_ = 0, link_bytes_ = 0;  // file bytes queued, and as sent
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point finished_;
    AsyncEvent changed_;
};

}  // namespace imgx::proxyd
