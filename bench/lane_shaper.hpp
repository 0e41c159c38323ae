// A loopback TCP relay between img-proxyd and img-cached that caps the bytes each link
// connection carries towards the cache: a path whose every flow, or one flow, is slow (per-flow
// policing, a congested ECMP path). This kernel has no netem or fq qdisc, so the cap is made here.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imgx::bench {

struct LaneShaping {
    // Cap of every connection towards the cache, in MB/s (1e6 bytes); 0: none.
    unsigned every_mbps = 0;
    // Cap of the first connection only (the link's lane 0, which also carries every message);
    // 0: none. Applies instead of every_mbps to that connection.
    unsigned first_mbps = 0;

    [[nodiscard]] bool active() const { return every_mbps > 0 || first_mbps > 0; }
    [[nodiscard]] std::string describe() const;
};

class LaneShaper {
  public:
    // Listens on 127.0.0.1 (a port the kernel picks) and relays each accepted connection to
    // 127.0.0.1:target_port. Throws std::runtime_error if it cannot listen.
    LaneShaper(LaneShaping shaping, unsigned target_port);
    LaneShaper(const LaneShaper&) = delete;
    LaneShaper& operator=(const LaneShaper&) = delete;
    // Closes every connection and joins the relay threads.
    ~LaneShaper();

    [[nodiscard]] unsigned port() const { return port_; }

  private:
    void accept_loop();
    void relay(int from, int to, unsigned mbps);

    LaneShaping shaping_;
    unsigned target_port_;
    unsigned port_ = 0;
    int listener_ = -1;
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;                  // guards fds_ and threads_
    std::vector<int> fds_;              // every relayed socket, shut down at the end
    std::vector<std::thread> threads_;  // two per connection
    std::thread acceptor_;
};

}  // namespace imgx::bench
