// How long a restore waits for a dump of its snapshot id to begin (serve_wait_seconds).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "store/image_store.hpp"

namespace imgx::cached {

// The current snapshot of `id` once a dump of it has begun; null if none began within `limit`
// (zero: no limit).
inline boost::asio::awaitable<std::shared_ptr<store::Snapshot>> wait_for_dump(
    store::ImageStore& store, std::string id, std::chrono::seconds limit) {  // by value: coroutine
    using namespace boost::asio::experimental::awaitable_operators;
    if (limit.count() == 0) co_return co_await store.wait_for(id);
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, limit);
    auto r = co_await (store.wait_for(id) || timer.async_wait(boost::asio::use_awaitable));
    if (r.index() == 0) co_return std::get<0>(r);
    co_return nullptr;
}

}  // namespace imgx::cached
