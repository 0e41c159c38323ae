// What the img-remote chain table asks of the link: announce a dump, end it, abort it. LinkClient
// is the real one; unit tests drive RemoteChains with a recording stand-in.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "outgoing_snapshot.hpp"

namespace imgx::proxyd {

class SnapshotLink {
  public:
    // See LinkClient::begin_snapshot: waits for the link, asks `wanted` when its turn has come,
    // and returns null (nothing sent) if it says no.
    virtual boost::asio::awaitable<std::shared_ptr<OutgoingSnapshot>> begin_snapshot(
        const std::string& id, const std::string& protocol, const std::string& chain = {},
        const std::vector<std::string>& chain_ids = {}, std::function<bool()> wanted = {}) = 0;
    virtual void end_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                              std::uint32_t files, std::uint64_t bytes) = 0;
    virtual void abort_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                                const std::string& reason) = 0;

  protected:
    ~SnapshotLink() = default;
};

}  // namespace imgx::proxyd
