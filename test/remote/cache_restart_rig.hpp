// img-proxyd plus an img-cached that a test stops and starts again on the same port.
#pragma once

#include <catch2/catch.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "remote/remote_pair.hpp"
#include "support/log_wait.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_status.hpp"

namespace imgtest::remote {

class CacheRestartRig {
  public:
    CacheRestartRig()
        : paths_(daemon_paths_or_skip()),
          src(dir.make_dir("src/job")),
          dst(dir.make_dir("dst/job")),
          first_cache(start_cache("1")),
          proxyd_({paths_.proxyd, "--cache", "127.0.0.1:" + port, "--plain-tcp", "--capture", src,
                   "--control", dir.path() + "/proxyd.ctl", "--log-level", "debug"},
                  dir.path() + "/img-proxyd.log"),
          proxy(src + "/img-proxy.sock", Generation::g3),
          cache(dst + "/img-cache.sock", Generation::g3) {
        REQUIRE(wait_until_listening(src + "/img-proxy.sock", deadline_in(seconds(10))));
    }

    // Prints every daemon log and keeps the directory when the test failed.
    ~CacheRestartRig() {
        if (!current_test_failed()) return;
        for (const char* log : {"img-proxyd.log", "img-cached-1.log", "img-cached-2.log"})
            std::cout << "----- " << log << " -----\n"
                      << read_text_file(dir.path() + "/" + log) << "\n";
        dir.keep();
    }

    // Starts an img-cached (logging to img-cached-TAG.log) and waits until it serves `dst`. The
    // first binds port 0 and reports the port it got; later ones take that port again.
    std::unique_ptr<ChildProcess> start_cache(const std::string& tag) {
        auto child = std::make_unique<ChildProcess>(
            std::vector<std::string>{
                paths_.cached, "--listen", "127.0.0.1:" + port, "--plain-tcp", "--serve", dst,
                "--control", dir.path() + "/cached-" + tag + ".ctl", "--log-level", "debug"},
            dir.path() + "/img-cached-" + tag + ".log");
        REQUIRE(wait_until_listening(dst + "/img-cache.sock", deadline_in(seconds(10))));
        const auto reported = wait_for_link_port(child->log_path(), deadline_in(seconds(10)));
        REQUIRE(reported != 0);
        if (port == "0") port = std::to_string(reported);
        REQUIRE(std::to_string(reported) == port);
        return child;
    }

  private:
    const DaemonPaths& paths_;

  public:
    TempDir dir;
    std::string port = "0";  // "0" until the first img-cached reported its port
    const std::string src;
    const std::string dst;
    std::unique_ptr<ChildProcess> first_cache;

  private:
    ChildProcess proxyd_;

  public:
    const RemoteClient proxy;
    const RemoteClient cache;
};

}  // namespace imgtest::remote
