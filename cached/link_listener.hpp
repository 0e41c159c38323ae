// The TCP listener img-proxyd connects to; each connection becomes a link session.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "link/link_tls.hpp"
#include "link_sessions.hpp"
#include "util/address.hpp"
#include "util/unique_fd.hpp"

namespace imgx::cached {

class LinkListener {
  public:
    // Binds `address` (a numeric address or a name resolving to one). Throws std::runtime_error.
    // `tls` null: plain TCP (plain_tcp); otherwise every connection is TLS with it.
    LinkListener(const boost::asio::any_io_executor& ex, const HostPort& address,
                 LinkSessions& sessions, std::shared_ptr<link::LinkTls> tls = {});
    // Accepts on a TCP socket that is already listening (passed by the service manager).
    LinkListener(const boost::asio::any_io_executor& ex, UniqueFd listening, LinkSessions& sessions,
                 std::shared_ptr<link::LinkTls> tls = {});
    void close();
    // The TLS context of connections accepted from now on (a reload with new certificates);
    // connections already open keep theirs.
    void set_tls(std::shared_ptr<link::LinkTls> tls) { tls_ = std::move(tls); }
    // The link sessions of accepted connections (their resume budget changes on reload).
    [[nodiscard]] LinkSessions& sessions() noexcept { return sessions_; }
    // "ADDR:PORT" actually bound (the port is known even when 0 was asked for).
    [[nodiscard]] std::string bound() const;

  private:
    void start();

    boost::asio::ip::tcp::acceptor acceptor_;
    LinkSessions& sessions_;
    std::shared_ptr<link::LinkTls> tls_;
};

}  // namespace imgx::cached
