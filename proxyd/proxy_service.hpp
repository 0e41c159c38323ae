// img-proxyd as the daemon shell runs it: its objects, status, reload and drain.
#pragma once

#include <memory>

#include "link_client.hpp"
#include "proxy_options.hpp"
#include "service/daemon_shell.hpp"

namespace imgx::proxyd {

// The link's resume behaviour as the options set it (at start and on reload).
LinkResumeSettings link_resume_settings(const ProxyOptions& options);

// Builds img-proxyd's objects: the buffer pool, the link to img-cached, the snapshot registry,
// the --remote chains and the capture endpoints. In flight: dumps CRIU is still handing over or
// img-cached has not confirmed; after the grace period they are aborted on the link, so
// img-cached marks them failed.
std::unique_ptr<Daemon<ProxyOptions>> build_proxy_daemon(const boost::asio::any_io_executor& ex,
                                                         const ProxyOptions& options,
                                                         std::shared_ptr<link::LinkTls> tls);

}  // namespace imgx::proxyd
