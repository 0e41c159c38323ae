// The TCP listener img-proxyd connects to; each connection becomes a link session.
#pragma once

#include "store/image_store.hpp"
#include "util/address.hpp"
#include "util/unique_fd.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace imgx::cached {

class LinkListener {
public:
    // Binds `address` (a numeric address or a name resolving to one). Throws std::runtime_error.
    LinkListener(const boost::asio::any_io_executor& ex, const HostPort& address, store::ImageStore& store);
    // Accepts on a TCP socket that is already listening (passed by the service manager).
    LinkListener(const boost::asio::any_io_executor& ex, UniqueFd listening, store::ImageStore& store);
    void close();
    // "ADDR:PORT" actually bound (the port is known even when 0 was asked for).
    [[nodiscard]] std::string bound() const;

private:
    void start();

    boost::asio::ip::tcp::acceptor acceptor_;
    store::ImageStore& store_;
};

}  // namespace imgx::cached
