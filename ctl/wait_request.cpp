// Building the requests of `img-ctl wait`.
#include "wait_request.hpp"

namespace imgx::ctl {

std::uint64_t generation_in(const control::Response& status, const std::string& id) {
    for (const auto& s : status.snapshots())
        if (s.snapshot_id() == id) return s.generation();
    return 0;
}

control::Request wait_request(const std::string& id, std::uint64_t min_generation) {
    control::Request r;
    if (min_generation == 0) {
        r.set_wait(id);
    } else {
        r.mutable_wait_for()->set_snapshot_id(id);
        r.mutable_wait_for()->set_min_generation(min_generation);
    }
    return r;
}

}  // namespace imgx::ctl
