// The reading half of one connection of a link session: frames of one lane dispatched to the
// session's receiver (SessionReceiver) and its flow (ACKs).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "link/link_stream.hpp"
#include "link_sessions.hpp"

namespace imgx::cached {

class LaneReader {
  public:
    // Reads lane `lane` of `session` for the connection numbered `connection`.
    LaneReader(link::LinkStream& stream, std::shared_ptr<CacheSession> session, std::uint32_t lane,
               std::uint64_t connection, link::LinkLiveness& liveness)
        : stream_(stream),
          session_(std::move(session)),
          lane_(lane),
          connection_(connection),
          liveness_(liveness) {}

    // Whether this connection still owns its lane (a newer one may take it over).
    [[nodiscard]] bool current() const { return session_->lane(lane_).connection == connection_; }

    // Reads and dispatches frames; ends only by throwing: the connection failed, a frame was bad
    // (wire::ProtocolError), or a newer connection took the lane over (link::LinkStalled).
    boost::asio::awaitable<void> run();

  private:
    void check_current() const;
    // The frame kinds: a DATA_AT chunk, a DATA chunk read straight into its file, the rest.
    boost::asio::awaitable<void> read_data_at(const link::FrameHeader& header);
    boost::asio::awaitable<void> read_data(const link::FrameHeader& header);
    // A DATA_ZSTD chunk: decompressed, then placed like DATA (one lane) or DATA_AT (several).
    boost::asio::awaitable<void> read_data_zstd(const link::FrameHeader& header);
    boost::asio::awaitable<void> read_message(const link::FrameHeader& header);

    link::LinkStream& stream_;
    std::shared_ptr<CacheSession> session_;
    std::uint32_t lane_;
    std::uint64_t connection_;
    link::LinkLiveness& liveness_;
    std::vector<char> chunk_;       // the DATA_AT chunk being read
    std::vector<char> compressed_;  // the DATA_ZSTD payload being read
};

}  // namespace imgx::cached
