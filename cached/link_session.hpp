// One connection from an img-proxyd: receives snapshots into the store and acknowledges them.
#pragma once

#include "link/link_stream.hpp"
#include "store/image_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace imgx::cached {

// Runs until the proxy disconnects; the TLS handshake (if any) and HELLO must be done within
// a bounded time. Every snapshot this connection began and did not end
// fails then, so restores waiting on it stop instead of being told files are missing.
boost::asio::awaitable<void> run_link_session(link::LinkStream stream, store::ImageStore& store);

}  // namespace imgx::cached
