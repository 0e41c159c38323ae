// Identity matching for tls_allowed_clients: pure, no OpenSSL.
#include "link/peer_identity.hpp"

#include <algorithm>

#include "util/names.hpp"

namespace imgx::link {

std::vector<std::string> identities_of(const PresentedIdentities& presented) {
    if (!presented.dns_names.empty()) return presented.dns_names;
    if (!presented.common_name.empty()) return {presented.common_name};
    return {};
}

std::optional<std::string> allowed_identity(const PresentedIdentities& presented,
                                            const std::vector<std::string>& allowed) {
    for (const auto& name : identities_of(presented))
        if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) return name;
    return std::nullopt;
}

std::string describe_names(const std::vector<std::string>& names) {
    if (names.empty()) return "none";
    std::string out;
    for (const auto& name : names) out += (out.empty() ? "'" : ", '") + printable(name) + "'";
    return out;
}

}  // namespace imgx::link
