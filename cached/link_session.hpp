// One connection from an img-proxyd: the handshake, then frames into its link session and
// acknowledgements back, until the connection ends (the session may outlive it: link_sessions.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "link/link_stream.hpp"
#include "link_sessions.hpp"

namespace imgx::cached {

// Runs until the connection ends; the TLS handshake (if any) and HELLO must be done within a
// bounded time. The session then waits for the proxy to resume it, or fails every snapshot it
// began and did not end, so restores waiting on it stop instead of being told files are missing.
boost::asio::awaitable<void> run_link_session(link::LinkStream stream, LinkSessions& sessions);

}  // namespace imgx::cached
