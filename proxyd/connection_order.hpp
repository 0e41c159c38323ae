// Makes a snapshot-id push visible to every img-remote connection accepted after it (spec 3.5):
// a request waits until every earlier connection has said what it is and recorded any push.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <set>

#include "util/async_event.hpp"

namespace imgx::proxyd {

class ConnectionOrder {
  public:
    explicit ConnectionOrder(const boost::asio::any_io_executor& ex) : changed_(ex) {}

    // Called at accept: the connection's place in line.
    std::uint64_t admit() {
        unsettled_.insert(next_);
        return next_++;
    }
    // The connection is classified, and a push it carried is recorded.
    void settle(std::uint64_t place) {
        if (unsettled_.erase(place)) changed_.notify();
    }
    // Waits until every connection admitted before `place` settled, at most `limit`. On timeout
    // the connections still silent are settled for good, so a silent client delays one request
    // once rather than every later one; returns false then.
    boost::asio::awaitable<bool> wait_for_earlier(std::uint64_t place,
                                                  std::chrono::steady_clock::duration limit) {
        using namespace boost::asio::experimental::awaitable_operators;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!unsettled_.empty() && *unsettled_.begin() < place) {
            if (std::chrono::steady_clock::now() >= deadline) {
                unsettled_.erase(unsettled_.begin(), unsettled_.lower_bound(place));
                changed_.notify();
                co_return false;
            }
            boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
            co_await (changed_.wait() || timer.async_wait(boost::asio::use_awaitable));
        }
        co_return true;
    }

  private:
    std::uint64_t next_ = 0;
    std::set<std::uint64_t> unsettled_;
    AsyncEvent changed_;
};

// Settles a place however the connection's handling ends.
class OrderTicket {
  public:
    OrderTicket(ConnectionOrder& order) : order_(order), place_(order.admit()) {}
    ~OrderTicket() { order_.settle(place_); }
    OrderTicket(const OrderTicket&) = delete;
    OrderTicket& operator=(const OrderTicket&) = delete;
    void settle() { order_.settle(place_); }
    [[nodiscard]] std::uint64_t place() const noexcept { return place_; }

  private:
    ConnectionOrder& order_;
    std::uint64_t place_;
};

}  // namespace imgx::proxyd
