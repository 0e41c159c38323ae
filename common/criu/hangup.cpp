// Noticing that the peer of a UNIX socket hung up while we hold its answer back.
#include "criu/hangup.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace imgx::criu {

namespace asio = boost::asio;

asio::awaitable<void> wait_hangup(asio::local::stream_protocol::socket& socket) {
    boost::system::error_code ec;
    co_await socket.async_wait(asio::socket_base::wait_read,
                               asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace imgx::criu
