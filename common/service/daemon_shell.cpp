// The daemon shell's steps that do not depend on the daemon's options type.
#include "service/daemon_shell.hpp"

#include <csignal>

#include "service/fd_limit.hpp"
#include "service/local_access.hpp"
#include "util/log.hpp"

namespace imgx {

void start_process(const std::string& name, const DaemonSettings& settings) {
    setup_logging(name, settings.log_level);
    report_fd_limit(name.c_str(), raise_fd_limit(), kWantedFds);
    // CRIU closing its end of a pipe or socket early must not kill the daemon.
    std::signal(SIGPIPE, SIG_IGN);
}

bool start_tls(const DaemonSettings& settings, link::TlsRole role, const std::string& server_name,
               const std::string& peer, std::shared_ptr<link::LinkTls>& out) {
    try {
        out = link::start_link_tls(settings.tls, role, server_name, peer);
        return true;
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return false;
    }
}

DaemonShell::DaemonShell(const boost::asio::any_io_executor& ex, std::string name,
                         DaemonParts& parts)
    : ex_(ex), name_(std::move(name)), parts_(parts), static_endpoints_(parts.endpoints()) {}

int DaemonShell::open(const std::vector<std::string_view>& passed_names,
                      const DaemonSettings& settings,
                      const std::vector<EndpointSpec>& file_endpoints,
                      const std::vector<EndpointSpec>& flag_endpoints) {
    try {
        auto passed = PassedSockets::from_environment(name_, passed_names);
        parts_.open_listeners(passed);
        static_endpoints_.open_at_start(file_endpoints, flag_endpoints);
        auto handler = parts_.control_handler();
        if (auto fd = passed.take_unix_listener("control"))
            control_ =
                std::make_unique<control::ControlServer>(ex_, std::move(*fd), std::move(handler));
        else
            control_ =
                std::make_unique<control::ControlServer>(ex_, settings.control, std::move(handler));
        metrics_ = parts_.start_metrics();
        apply_access(settings);
        return 0;
    } catch (const UsageError& e) {
        spdlog::critical("{}", e.what());
        return kExitUsage;
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
}

ServiceHooks DaemonShell::hooks() {
    ServiceHooks hooks;
    hooks.load = [this] { return parts_.load(); };
    hooks.stop_accepting = [this] {
        parts_.endpoints().close_all();
        control_->close();
        parts_.stop_accepting();
    };
    hooks.in_flight = [this] { return parts_.in_flight(); };
    hooks.fail_in_flight = [this] { return parts_.fail_in_flight(); };
    return hooks;
}

bool DaemonShell::reload_tls(const link::TlsSettings& running, const link::TlsSettings& next,
                             link::TlsRole role, const std::string& server_name, bool& reloaded) {
    std::shared_ptr<link::LinkTls> tls;
    if (!link::reload_link_tls(running, next, role, server_name, tls)) return false;
    reloaded = tls != nullptr;
    if (tls) parts_.set_tls(std::move(tls));
    return true;
}

void DaemonShell::reload_shared(const DaemonSettings& running, const DaemonSettings& next,
                                const std::vector<EndpointSpec>& file_endpoints) {
    apply_log_level(running.log_level, next.log_level);
    static_endpoints_.reload(file_endpoints);
}

void DaemonShell::apply_access(const DaemonSettings& settings) {
    apply_local_access(parts_.endpoints(), *control_, settings.allow_uids, settings.allow_gids);
}

}  // namespace imgx
