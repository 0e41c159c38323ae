// Noticing that the peer of a UNIX socket (CRIU, img-ctl) hung up while we hold its answer back.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

namespace imgx::criu {

// Completes once `socket` turns readable. While an answer is held back the peer sends nothing
// (it waits for the answer), so readability means it hung up. Never throws: an error counts as
// a hangup too.
boost::asio::awaitable<void> wait_hangup(boost::asio::local::stream_protocol::socket& socket);

}  // namespace imgx::criu
