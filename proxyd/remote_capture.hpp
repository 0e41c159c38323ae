// One connection of `criu dump/pre-dump --remote` on img-proxy.sock: push, pull, write, parent read
// or finish.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>

#include "connection_order.hpp"
#include "criu/endpoint_set.hpp"
#include "link_client.hpp"
#include "remote_chains.hpp"
#include "util/buffer_pool.hpp"

namespace imgx::proxyd {

struct RemoteContext {
    LinkClient& link;
    BufferPool& pool;
    RemoteChains& chains;
    ConnectionOrder& order;
    bool reads_on_socket;  // --remote-data=socket: answer reads in G2 form
};

// `ticket` was taken at accept time, so pushes and pulls keep CRIU's order.
boost::asio::awaitable<void> run_remote_capture(boost::asio::local::stream_protocol::socket socket,
                                                criu::Endpoint endpoint,
                                                std::unique_ptr<OrderTicket> ticket,
                                                RemoteContext context);

}  // namespace imgx::proxyd
