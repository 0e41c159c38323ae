// img-cached as the daemon shell runs it: its objects, status, reload and drain.
#pragma once

#include <memory>

#include "cache_options.hpp"
#include "service/daemon_shell.hpp"

namespace imgx::cached {

// Before anything is built: keep freed image memory for the next snapshot instead of returning
// it to the kernel (faulting in fresh pages costs more here than receiving the data).
void tune_memory(const CacheOptions& options);

// Builds img-cached's objects: the image store (verifying and loading the state directory, then
// prefaulting memory), the serve endpoints, the link sessions and, once open_listeners runs,
// the link listener. In flight: snapshots still being received, and snapshots restores are
// reading; after the grace period the snapshots still receiving are marked failed, so their
// restores fail loudly. Throws std::runtime_error when the store cannot be used.
std::unique_ptr<Daemon<CacheOptions>> build_cache_daemon(const boost::asio::any_io_executor& ex,
                                                         const CacheOptions& options,
                                                         std::shared_ptr<link::LinkTls> tls);

}  // namespace imgx::cached
