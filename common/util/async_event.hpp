// A broadcast "something changed" signal for coroutines on one io_context.
//
// Waiters re-check their own condition after every wake-up, so notify() never
// needs to say what changed and spurious wake-ups are harmless.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace imgx {

class AsyncEvent {
  public:
    explicit AsyncEvent(const boost::asio::any_io_executor& ex)
        : timer_(ex, boost::asio::steady_timer::time_point::max()) {}

    // Suspends until the next notify().
    boost::asio::awaitable<void> wait() {
        boost::system::error_code ignored;  // cancel() is the wake-up, not an error
        co_await timer_.async_wait(
            boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    }

    // Wakes every current waiter.
    void notify() { timer_.cancel(); }

  private:
    boost::asio::steady_timer timer_;
};

}  // namespace imgx
