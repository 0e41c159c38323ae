// The endpoints listed in the configuration files, kept in step with the files on reload.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "criu/endpoint_set.hpp"
#include "util/names.hpp"

namespace imgx {

// Endpoints opened from the command line or by img-ctl are never touched here: a reload opens
// the file endpoints that are new, re-opens those whose snapshot id changed and closes those
// no longer listed.
class StaticEndpoints {
  public:
    explicit StaticEndpoints(criu::EndpointSet& set) : set_(set) {}

    // Opens every endpoint at start, the files' then the flags'. Throws like EndpointSet::open.
    void open_at_start(const std::vector<EndpointSpec>& from_files,
                       const std::vector<EndpointSpec>& from_flags);

    // Brings the file endpoints in line with `from_files`; problems are logged, not thrown.
    void reload(const std::vector<EndpointSpec>& from_files);

  private:
    [[nodiscard]] bool given_by_flag(const std::string& dir) const;
    // The snapshot id of the endpoint open in `dir`, or "" when none is.
    [[nodiscard]] std::string open_snapshot(const std::string& dir) const;

    criu::EndpointSet& set_;
    std::vector<EndpointSpec> from_flags_;
    std::map<std::string, std::string> owned_;  // dir -> snapshot id, opened from the files
};

}  // namespace imgx
