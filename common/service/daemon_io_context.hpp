// A daemon's io_context that can destroy its pending work before the objects that work refers to.
#pragma once

#include <boost/asio/io_context.hpp>

namespace imgx {

// Coroutines still suspended when the event loop stops hold buffers, sockets and references
// into the daemon's objects. ~io_context destroys them, but it runs after every object declared
// later in main() is gone (a use after free that AddressSanitizer reports). main() calls
// destroy_pending_work() right after run() instead, while those objects still exist.
class DaemonIoContext : public boost::asio::io_context {
  public:
    using boost::asio::io_context::io_context;
    void destroy_pending_work() { shutdown(); }  // idempotent; ~io_context calls it again
};

}  // namespace imgx
