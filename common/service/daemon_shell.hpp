// The daemon shell: start-up, control socket, access, lifecycle, reload and teardown of either
// daemon.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/control_server.hpp"
#include "criu/endpoint_set.hpp"
#include "link/link_tls.hpp"
#include "metrics/metrics_server.hpp"
#include "service/daemon_command.hpp"
#include "service/daemon_io_context.hpp"
#include "service/passed_sockets.hpp"
#include "service/reload_notes.hpp"
#include "service/service_lifecycle.hpp"
#include "service/static_endpoints.hpp"

namespace imgx {

// What a daemon builds on the shell's executor (its own objects live in it); the shell drives it.
class DaemonParts {
  public:
    virtual ~DaemonParts() = default;
    // The CRIU endpoints; the shell opens the static ones and sets who may connect.
    virtual criu::EndpointSet& endpoints() = 0;
    // Takes the daemon's own sockets from `passed` or binds them (img-cached: the link).
    virtual void open_listeners(PassedSockets& passed) { (void)passed; }
    // The handler of img-ctl requests on the control socket.
    virtual control::Handler control_handler() = 0;
    // The metrics endpoint when configured; null when off.
    virtual std::unique_ptr<metrics::MetricsServer> start_metrics() = 0;
    // Once every listener is open.
    virtual void start() {}
    virtual std::string ready_line(const std::string& control_path) const = 0;
    // A reload read new certificates: connections made from now on use `tls`.
    virtual void set_tls(std::shared_ptr<link::LinkTls> tls) = 0;
    // ServiceHooks: the shell closes the endpoints and the control socket itself.
    virtual ServiceLoad load() const = 0;
    virtual void stop_accepting() {}
    virtual std::vector<std::string> in_flight() const = 0;
    virtual boost::asio::awaitable<void> fail_in_flight() = 0;
};

template <typename O>
class Daemon : public DaemonParts {
  public:
    // A reload's new options: applies the daemon's own settings that change at run time (the
    // shell applies DaemonSettings' and copies the applied values into the running options).
    virtual void reload(const O& next) = 0;
};

// A daemon as main() names it.
template <typename O>
struct DaemonSpec {
    const CommandSpec<O>* command = nullptr;  // name, settings table, checks
    std::string peer;                         // the daemon at the link's other end, for TLS logs
    std::vector<std::string_view> passed_sockets;  // LISTEN_FDNAMES the daemon takes
    // The name the peer's certificate must carry when tls_server_name is not set; may be empty.
    std::function<std::string(const O&)> tls_server_name;
    // Process set-up after logging, before anything is built; may be empty.
    std::function<void(const O&)> prepare;
    // Builds the daemon (`options` outlives it); throws to stop the start (exit 1).
    std::function<std::unique_ptr<Daemon<O>>(const boost::asio::any_io_executor&, const O& options,
                                             std::shared_ptr<link::LinkTls> tls)>
        build;
};

// The listeners the shell owns for a daemon, and the shared parts of start and reload.
class DaemonShell {
  public:
    DaemonShell(const boost::asio::any_io_executor& ex, std::string name, DaemonParts& parts);

    // Passed sockets, the daemon's listeners, the static endpoints, the control socket, metrics
    // and access rules, in that order. 0, or the exit status with the reason logged when one
    // fails: 2 for a configuration error (a passed socket not at the configured address), else 1.
    int open(const std::vector<std::string_view>& passed_names, const DaemonSettings& settings,
             const std::vector<EndpointSpec>& file_endpoints,
             const std::vector<EndpointSpec>& flag_endpoints);
    // The lifecycle's hooks but reload.
    ServiceHooks hooks();
    [[nodiscard]] std::string control_path() const { return control_->path(); }

    // A reload's shared steps: new certificates (false when they cannot be used: the reload is
    // refused), log level, the files' endpoints, access rules.
    bool reload_tls(const link::TlsSettings& running, const link::TlsSettings& next,
                    link::TlsRole role, const std::string& server_name, bool& reloaded);
    void reload_shared(const DaemonSettings& running, const DaemonSettings& next,
                       const std::vector<EndpointSpec>& file_endpoints);
    void apply_access(const DaemonSettings& settings);

  private:
    boost::asio::any_io_executor ex_;
    std::string name_;
    DaemonParts& parts_;
    StaticEndpoints static_endpoints_;
    std::unique_ptr<control::ControlServer> control_;
    std::unique_ptr<metrics::MetricsServer> metrics_;  // null unless --metrics
};

// Logging, the fd limit and SIGPIPE, for `name` with `settings`.
void start_process(const std::string& name, const DaemonSettings& settings);
// The link's TLS at start (null: plain TCP); false, logged, when it cannot be used.
bool start_tls(const DaemonSettings& settings, link::TlsRole role, const std::string& server_name,
               const std::string& peer, std::shared_ptr<link::LinkTls>& out);

template <typename O>
std::string server_name_of(const DaemonSpec<O>& spec, const O& options) {
    return spec.tls_server_name ? spec.tls_server_name(options) : std::string();
}

// SIGHUP: parses the command line and files again as at start (flags still win) and applies
// what can change at run time; the running options keep the restart settings.
template <typename O>
std::optional<std::chrono::seconds> reload_daemon(const DaemonSpec<O>& spec, Daemon<O>& daemon,
                                                  DaemonShell& shell, O& current, int argc,
                                                  char** argv) {
    const CommandSpec<O>& command = *spec.command;
    auto fresh = parse_for_reload(
        [&] { return parse_daemon_command(command, argc, argv, command.usage.default_config); });
    if (!fresh) return std::nullopt;
    const O& next = fresh->options;
    bool tls_reloaded = false;
    if (!shell.reload_tls(current.tls, next.tls, command.role, server_name_of(spec, next),
                          tls_reloaded))
        return std::nullopt;
    shell.reload_shared(current, next, fresh->file_endpoints);
    daemon.reload(next);
    shell.apply_access(next);
    note_restart_needed(config::restart_changes(*command.table, current, next));
    spdlog::info("reload: {}", config::reloaded_numbers(*command.table, next));
    const link::TlsSettings kept = current.tls;
    config::copy_reloaded(*command.table, current, next);
    if (!tls_reloaded) current.tls = kept;
    return std::chrono::seconds(next.shutdown_grace_seconds);
}

// The whole life of a daemon: parse (exit 2 on a usage or configuration error, unusable TLS
// files included; 0 after
// --help and the like), set up, build, open, run until drained, tear down.
template <typename O>
int run_daemon(const DaemonSpec<O>& spec, int argc, char** argv) {
    const std::string name = spec.command->usage.program;
    DaemonCommand<O> command;
    try {
        if (!parse_daemon_options(*spec.command, argc, argv, command)) return 0;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
        return kExitUsage;
    }
    O& options = command.options;
    start_process(name, options);
    if (spec.prepare) spec.prepare(options);
    std::shared_ptr<link::LinkTls> tls;  // null: plain TCP
    // An unusable TLS file is a configuration error: exit 2 (RestartPreventExitStatus=).
    if (!start_tls(options, spec.command->role, server_name_of(spec, options), spec.peer, tls))
        return kExitUsage;

    DaemonIoContext io(1);
    std::unique_ptr<Daemon<O>> daemon;
    try {
        daemon = spec.build(io.get_executor(), options, tls);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    DaemonShell shell(io.get_executor(), name, *daemon);
    if (const int failed = shell.open(spec.passed_sockets, options, command.file_endpoints,
                                      command.flag_endpoints))
        return failed;
    daemon->start();
    ServiceHooks hooks = shell.hooks();
    hooks.reload = [&] { return reload_daemon(spec, *daemon, shell, options, argc, argv); };
    ServiceLifecycle service(io, name, std::move(hooks),
                             std::chrono::seconds(options.shutdown_grace_seconds));
    const int status = service.run(daemon->ready_line(shell.control_path()));
    io.destroy_pending_work();
    return status;
}

}  // namespace imgx
