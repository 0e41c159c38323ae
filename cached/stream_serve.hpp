// One `criu restore --stream` connection on streamer-serve.sock.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>

#include "criu/endpoint_set.hpp"
#include "store/image_store.hpp"

namespace imgx::cached {

boost::asio::awaitable<void> run_stream_serve(boost::asio::local::stream_protocol::socket socket,
                                              criu::Endpoint endpoint, store::ImageStore& store,
                                              std::chrono::seconds serve_wait);

}  // namespace imgx::cached
