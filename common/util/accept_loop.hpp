// Accepts connections until the listener closes, pausing after a failed accept: a daemon out of
// file descriptors (EMFILE, ENFILE) or kernel memory neither spins nor floods its log.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>

namespace imgx {

// How long a listener rests after a failed accept before it tries again.
inline constexpr std::chrono::milliseconds kAcceptRetryPause{100};

// Hands every accepted socket to `on_socket(socket)`; returns once `acceptor` is closed. The
// first failure of a run is logged as a warning naming `what` (e.g. "the control socket
// /run/img-cached/control.sock"), the end of the run with how many accepts failed.
template <class Acceptor, class OnSocket>
boost::asio::awaitable<void> accept_loop(Acceptor& acceptor, std::string what,
                                         OnSocket on_socket) {  // by value: a coroutine
    namespace asio = boost::asio;
    std::uint64_t failures = 0;  // consecutive failed accepts
    for (;;) {
        boost::system::error_code ec;
        auto socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            if (failures++ == 0)
                spdlog::warn("accepting a connection on {} failed: {}; retrying every {} ms", what,
                             ec.message(), kAcceptRetryPause.count());
            asio::steady_timer pause(acceptor.get_executor(), kAcceptRetryPause);
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        if (failures > 0)
            spdlog::info("accepting connections on {} works again after {} failed attempt(s)", what,
                         failures);
        failures = 0;
        on_socket(std::move(socket));
    }
}

}  // namespace imgx
