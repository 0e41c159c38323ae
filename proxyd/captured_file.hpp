// One image file read by the capture thread, on the event loop: checksum, link frames, outcome.
#pragma once

#include <xxhash.h>

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "capture_thread.hpp"
#include "link_client.hpp"
#include "util/async_event.hpp"

namespace imgx::proxyd {

// Sends FILE_BEGIN at once, each block as DATA in order (XXH3 updated on the way), then FILE_END
// with the size and XXH3 of the bytes CRIU wrote. Blocks of a settled snapshot are dropped.
class CapturedFile final : public CaptureSink {
  public:
    CapturedFile(const boost::asio::any_io_executor& ex, std::string name,
                 std::shared_ptr<OutgoingSnapshot> snapshot, LinkClient& link);
    CapturedFile(const CapturedFile&) = delete;
    CapturedFile& operator=(const CapturedFile&) = delete;
    ~CapturedFile() override;

    void on_data(PooledBuffer buffer, std::size_t size) override;
    void on_end(CaptureEnd end) override;

    // Waits for the end: the file's size, or nothing if it did not reach EOF (FILE_END not sent).
    boost::asio::awaitable<std::optional<std::uint64_t>> finished();

  private:
    std::string name_;
    std::shared_ptr<OutgoingSnapshot> snapshot_;
    LinkClient& link_;
    std::uint64_t tag_;
    XXH3_state_t* hash_;
    std::uint64_t total_ = 0;
    bool ended_ = false;
    std::optional<std::uint64_t> result_;
    AsyncEvent done_;
};

}  // namespace imgx::proxyd
