// One connection of `criu restore --remote` on img-cache.sock: pull, read or finish.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>

#include "criu/endpoint_set.hpp"
#include "store/image_store.hpp"

namespace imgx::cached {

struct RemoteServeOptions {
    bool reads_on_socket = false;          // --remote-data=socket (G2/G1 builds)
    std::chrono::seconds wait_limit{600};  // --remote-wait: longest a read waits for its dump
    std::chrono::seconds serve_wait{300};  // --serve-wait: ... for its dump to begin; 0: no limit
};

boost::asio::awaitable<void> run_remote_serve(boost::asio::local::stream_protocol::socket socket,
                                              criu::Endpoint endpoint, store::ImageStore& store,
                                              RemoteServeOptions options);

}  // namespace imgx::cached
