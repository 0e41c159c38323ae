// Starting the daemon pair on loopback and talking to their control sockets.
#include "testbed.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "control/control_client.hpp"
#include "criu/stream_codec.hpp"

namespace imgx::bench {

namespace {

using namespace std::chrono_literals;
constexpr auto kStartupTimeout = 10s;
// img-cached faults its --prefault memory in before it listens: start-up may take that much
// longer (fresh pages are slow to fault in on some VMs, docs/performance.md).
constexpr unsigned kPrefaultMibPerSecond = 64;
constexpr auto kStartupPoll = 10ms;

// A loopback port nobody listens on right now (the kernel picks it; img-cached binds it soon
// after).
unsigned free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (fd >= 0) ::close(fd);
        throw std::runtime_error(std::string("cannot find a free loopback port: ") +
                                 std::strerror(errno));
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::string make_temp_root() {
    std::string pattern = "/tmp/img-bench.XXXXXX";
    if (!::mkdtemp(pattern.data()))
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    return pattern;
}

control::Response call(const std::string& control_path, const control::Request& request) {
    control::ControlClient client(control_path);
    return client.call(request);
}

}  // namespace

Testbed::Testbed(const DaemonPaths& paths, const std::vector<std::string>& snapshot_ids)
    : root_(make_temp_root()), ids_(snapshot_ids) {
    proxy_control_ = root_ + "/p.sock";
    cache_control_ = root_ + "/c.sock";
    const unsigned cache_port = free_loopback_port();
    const std::string address = "127.0.0.1:" + std::to_string(cache_port);
    std::string link_address = address;
    if (paths.shaping.active()) {
        shaper_ = std::make_unique<LaneShaper>(paths.shaping, cache_port);
        link_address = "127.0.0.1:" + std::to_string(shaper_->port());
    }
    // An empty configuration file: a configuration installed under /etc does not apply here.
    const std::string no_config = root_ + "/no-config.toml";
    std::ofstream(no_config).flush();
    std::vector<std::string> cache_args = {"--config",  no_config,      "--listen",    address,
                                           "--control", cache_control_, "--log-level", "warning"};
    std::vector<std::string> proxy_args = {
        "--config",     no_config,     "--cache", link_address,     "--control",
        proxy_control_, "--log-level", "warning", "--link-streams", std::to_string(paths.streams)};
    if (paths.tls_dir.empty()) {
        cache_args.push_back("--plain-tcp");
        proxy_args.push_back("--plain-tcp");
    } else {
        const std::string& d = paths.tls_dir;
        cache_args.insert(cache_args.end(),
                          {"--tls-ca", d + "/ca.pem", "--tls-cert", d + "/cache.pem", "--tls-key",
                           d + "/cache.key", "--tls-allow-client", "img-proxyd"});
        proxy_args.insert(proxy_args.end(), {"--tls-ca", d + "/ca.pem", "--tls-cert",
                                             d + "/proxy.pem", "--tls-key", d + "/proxy.key"});
    }
    if (paths.capture_buffer_mib)
        proxy_args.insert(proxy_args.end(),
                          {"--capture-buffer", std::to_string(*paths.capture_buffer_mib)});
    if (paths.cached_prefault_mib > 0)
        cache_args.insert(cache_args.end(),
                          {"--prefault", std::to_string(paths.cached_prefault_mib)});
    startup_timeout_ =
        kStartupTimeout + std::chrono::seconds(paths.cached_prefault_mib / kPrefaultMibPerSecond);
    for (const auto& id : ids_) {
        cache_args.insert(cache_args.end(), {"--serve", root_ + "/dst/" + id + "=" + id});
        proxy_args.insert(proxy_args.end(), {"--capture", root_ + "/src/" + id + "=" + id});
    }
    try {
        // The cache first, so that the proxy's first connection attempt finds it.
        cached_ = std::make_unique<DaemonProcess>("img-cached", paths.cached, cache_args);
        proxyd_ = std::make_unique<DaemonProcess>("img-proxyd", paths.proxyd, proxy_args);
        wait_ready();
    } catch (...) {
        kill();
        std::error_code ignored;
        std::filesystem::remove_all(root_, ignored);
        throw;
    }
}

Testbed::~Testbed() {
    if (proxyd_) proxyd_->stop();
    if (cached_) cached_->stop();
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
}

std::string Testbed::capture_socket(std::size_t i) const {
    return root_ + "/src/" + ids_.at(i) + "/" + std::string(criu::kStreamCaptureSocket);
}

std::string Testbed::serve_socket(std::size_t i) const {
    return root_ + "/dst/" + ids_.at(i) + "/" + std::string(criu::kStreamServeSocket);
}

void Testbed::wait_ready() const {
    std::vector<std::string> paths = {proxy_control_, cache_control_};
    for (std::size_t i = 0; i < ids_.size(); ++i) {
        paths.push_back(capture_socket(i));
        paths.push_back(serve_socket(i));
    }
    const auto deadline = std::chrono::steady_clock::now() + startup_timeout_;
    auto check_alive = [&] {
        for (DaemonProcess* d : {cached_.get(), proxyd_.get()})
            if (!d->running())
                throw std::runtime_error(d->name() + " " + d->describe_end() + " during start-up");
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("the daemons did not become ready within " +
                                     std::to_string(startup_timeout_.count()) + " s");
    };
    for (const auto& path : paths) {
        while (::access(path.c_str(), F_OK) != 0) {
            check_alive();
            std::this_thread::sleep_for(kStartupPoll);
        }
    }
    // The proxy connects to the cache on its own; a dump started before that would wait for it.
    control::Request status;
    status.set_status(true);
    for (;;) {
        try {
            if (call(proxy_control_, status).link().rfind("connected", 0) == 0) return;
        } catch (const std::exception& e) {
            // The socket file exists from bind() on, but connections are refused until listen():
            // on a loaded machine a start-up may be caught in between. Ask again until the
            // deadline, then say what the last answer was.
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error(std::string("img-proxyd's control socket: ") + e.what());
        }
        check_alive();
        std::this_thread::sleep_for(kStartupPoll);
    }
}

std::string Testbed::wait_acknowledged(const std::string& id) const {
    control::Request request;
    request.set_wait(id);
    const auto response = call(proxy_control_, request);
    if (response.ok()) return {};
    return response.error().empty()
               ? "img-proxyd reports the dump of '" + id + "' as not acknowledged"
               : response.error();
}

void Testbed::forget_on_proxy(const std::string& id) const {
    control::Request request;
    request.set_drop(id);
    call(proxy_control_, request);
}

void Testbed::kill() {
    if (proxyd_) proxyd_->kill();
    if (cached_) cached_->kill();
}

std::string Testbed::casualties() {
    std::string out;
    for (DaemonProcess* d : {cached_.get(), proxyd_.get()}) {
        if (!d || d->running()) continue;
        if (!out.empty()) out += "; ";
        out += d->name() + " " + d->describe_end();
    }
    return out;
}

}  // namespace imgx::bench
