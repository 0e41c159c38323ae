// Signals drive the daemon: SIGHUP reloads, the first SIGTERM/SIGINT drains, a second one stops at
// once.
#include "service/service_lifecycle.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>

#include "service/notify.hpp"

namespace imgx {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// How often the drain looks whether the transfers in flight have finished.
constexpr auto kDrainLook = 100ms;

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) out += (out.empty() ? "" : "; ") + line;
    return out;
}

}  // namespace

ServiceLifecycle::ServiceLifecycle(asio::io_context& io, std::string daemon, ServiceHooks hooks,
                                   std::chrono::seconds shutdown_grace)
    : io_(io),
      daemon_(std::move(daemon)),
      hooks_(std::move(hooks)),
      grace_(shutdown_grace),
      signals_(io, SIGINT, SIGTERM, SIGHUP),
      status_(io.get_executor(), hooks_.load),
      watchdog_(io.get_executor()) {}

int ServiceLifecycle::run(const std::string& ready_line) {
    wait_signal();
    spdlog::info("{}", ready_line);
    notify_ready();
    status_.start();
    if (auto interval = watchdog_.start())
        spdlog::debug("watchdog: WATCHDOG=1 every {} ms",
                      std::chrono::duration_cast<std::chrono::milliseconds>(*interval).count() / 2);
    io_.run();
    return exit_status_;
}

void ServiceLifecycle::wait_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        on_signal(signo);
        if (!io_.stopped()) wait_signal();
    });
}

void ServiceLifecycle::on_signal(int signo) {
    if (signo == SIGHUP) {
        if (draining_) {
            spdlog::info("SIGHUP while draining: ignored");
            return;
        }
        reload();
        return;
    }
    if (draining_) {
        spdlog::warn(
            "signal {} during the drain: stopping at once; transfers still in flight are cut off",
            signo);
        finish(1);
        return;
    }
    draining_ = true;
    asio::co_spawn(io_, drain(signo), asio::detached);
}

void ServiceLifecycle::reload() {
    spdlog::info("SIGHUP: reloading the configuration");
    notify_reloading();
    if (auto grace = hooks_.reload()) grace_ = *grace;
    notify_ready();
    status_.refresh();
}

asio::awaitable<void> ServiceLifecycle::drain(int signo) {
    hooks_.stop_accepting();
    notify_stopping();
    auto in_flight = hooks_.in_flight();
    if (in_flight.empty()) {
        spdlog::info("signal {}: stopping; nothing in flight", signo);
    } else {
        spdlog::info(
            "signal {}: draining: no new transfers; waiting up to {} s for {} in flight: {}", signo,
            grace_.count(), in_flight.size(), joined(in_flight));
    }
    status_.refresh("draining: ");
    const auto deadline = std::chrono::steady_clock::now() + grace_;
    asio::steady_timer timer(io_);
    while (!in_flight.empty() && std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(kDrainLook);
        co_await timer.async_wait(asio::use_awaitable);
        in_flight = hooks_.in_flight();
    }
    if (in_flight.empty()) {
        spdlog::info("drained: every transfer finished; exiting");
    } else {
        co_await hooks_.fail_in_flight();
        spdlog::warn(
            "drained: the {} s grace period is over; failed {} still in flight: {}; exiting",
            grace_.count(), in_flight.size(), joined(in_flight));
    }
    finish(0);
}

void ServiceLifecycle::finish(int status) {
    exit_status_ = status;
    status_.stop();
    watchdog_.stop();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    io_.stop();
}

}  // namespace imgx
