// Runs store coroutines on an io_context in bounded steps, so a unit test can watch them wait.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>

namespace imgtest {

// The result of a coroutine started with start(); empty while it is still suspended.
template <class T>
using Outcome = std::shared_ptr<std::optional<T>>;

// Spawns `awaitable` on `io`; its result lands in the returned Outcome.
template <class T>
Outcome<T> start(boost::asio::io_context& io, boost::asio::awaitable<T> awaitable) {
    auto out = std::make_shared<std::optional<T>>();
    boost::asio::co_spawn(
        io,
        [out, aw = std::move(awaitable)]() mutable -> boost::asio::awaitable<void> {
            *out = co_await std::move(aw);
        },
        boost::asio::detached);
    return out;
}

// Lets the io_context process what is ready (bounded, never hangs).
inline void settle(boost::asio::io_context& io,
                   std::chrono::milliseconds budget = std::chrono::milliseconds(50)) {
    io.restart();
    io.run_for(budget);
}

}  // namespace imgtest
