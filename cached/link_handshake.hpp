// The handshake of a connection from img-proxyd: its HELLO, the session it opens, resumes or
// joins as a lane, and img-cached's HELLO answer.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "link/link_stream.hpp"
#include "link_sessions.hpp"

namespace imgx::cached {

// What a connection joined: lane `lane` of `session`, owned while the lane's connection number
// is still `connection`.
struct AttachedLane {
    std::shared_ptr<CacheSession> session;  // null until the HELLO opened one
    std::uint32_t lane = 0;
    std::uint64_t connection = 0;
    std::chrono::milliseconds idle{};  // no frame from the proxy this long: the connection stalled
};

// Reads the proxy's HELLO from `peer`, opens its session in `sessions` and answers it. `attached`
// is filled as soon as the session is open (so a failure to answer still ends the connection
// in the session). Throws LaneRefused, wire::ProtocolError or boost::system::system_error.
boost::asio::awaitable<void> exchange_hello(link::LinkStream& stream, LinkSessions& sessions,
                                            const std::string& peer, AttachedLane& attached);

}  // namespace imgx::cached
