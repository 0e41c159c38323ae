// One `criu dump --stream` connection on streamer-capture.sock, from first request to last pipe
// EOF.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "capture_thread.hpp"
#include "criu/endpoint_set.hpp"
#include "link_client.hpp"
#include "snapshot_registry.hpp"
#include "util/buffer_pool.hpp"

namespace imgx::proxyd {

struct CaptureContext {
    LinkClient& link;
    BufferPool& pool;
    SnapshotRegistry& registry;
    CaptureThread* capture = nullptr;  // the capture buffer; null: pipes drained on the loop
};

boost::asio::awaitable<void> run_stream_capture(boost::asio::local::stream_protocol::socket socket,
                                                criu::Endpoint endpoint, CaptureContext context);

}  // namespace imgx::proxyd
