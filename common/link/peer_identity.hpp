// Which img-proxyd may push: matching a certificate's identities against tls_allowed_clients.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace imgx::link {

// The identities a certificate presents: its DNS subjectAltNames, or its subject CN when it
// has no DNS subjectAltName (the same rule as for tls_allowed_clients).
struct PresentedIdentities {
    std::vector<std::string> dns_names;
    std::string common_name;  // empty: none
};
std::vector<std::string> identities_of(const PresentedIdentities& presented);

// The first identity of `presented` listed in `allowed` (exact, case-sensitive match; no
// wildcards), or nothing when none is.
std::optional<std::string> allowed_identity(const PresentedIdentities& presented,
                                            const std::vector<std::string>& allowed);

// "'a', 'b'" for messages; "none" when empty.
std::string describe_names(const std::vector<std::string>& names);

}  // namespace imgx::link
