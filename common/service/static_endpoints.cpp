// Reload of the configured endpoints: a difference between what the files said then and now.
#include "service/static_endpoints.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace imgx {

void StaticEndpoints::open_at_start(const std::vector<EndpointSpec>& from_files,
                                    const std::vector<EndpointSpec>& from_flags) {
    from_flags_ = from_flags;
    for (const auto& spec : from_files) {
        set_.open(spec);
        if (!given_by_flag(spec.dir)) owned_[spec.dir] = spec.snapshot_id;
    }
    for (const auto& spec : from_flags) set_.open(spec);
}

bool StaticEndpoints::given_by_flag(const std::string& dir) const {
    for (const auto& spec : from_flags_)
        if (spec.dir == dir) return true;
    return false;
}

std::string StaticEndpoints::open_snapshot(const std::string& dir) const {
    for (const auto& info : set_.list())
        if (info.endpoint.dir == dir) return info.endpoint.snapshot_id;
    return {};
}

void StaticEndpoints::reload(const std::vector<EndpointSpec>& from_files) {
    std::map<std::string, std::string> wanted;
    for (const auto& spec : from_files)
        if (!given_by_flag(spec.dir)) wanted[spec.dir] = spec.snapshot_id;

    for (auto it = owned_.begin(); it != owned_.end();) {
        const auto& [dir, id] = *it;
        if (wanted.contains(dir)) {
            ++it;
            continue;
        }
        // img-ctl may have re-opened this directory for another snapshot since: then it is its.
        if (set_.has(dir) && open_snapshot(dir) == id) {
            set_.close(dir);
            spdlog::info(
                "reload: closed the endpoint in {} (snapshot '{}'), no longer in the configuration",
                dir, id);
        }
        it = owned_.erase(it);
    }
    for (const auto& [dir, id] : wanted) {
        auto mine = owned_.find(dir);
        if (mine != owned_.end() && mine->second == id) continue;
        if (mine == owned_.end() && set_.has(dir)) {
            spdlog::warn("reload: {} already has an endpoint opened by img-ctl; left as it is",
                         dir);
            continue;
        }
        try {
            set_.open(EndpointSpec{dir, id});
            owned_[dir] = id;
            spdlog::info("reload: opened the endpoint in {} (snapshot '{}') from the configuration",
                         dir, id);
        } catch (const std::exception& e) {
            spdlog::error("reload: cannot open the endpoint in {} (snapshot '{}'): {}", dir, id,
                          e.what());
        }
    }
}

}  // namespace imgx
