// tls_allowed_clients: which certificate identities img-cached lets push.
#include "link/peer_identity.hpp"

#include <catch2/catch.hpp>

using imgx::link::allowed_identity;
using imgx::link::describe_names;
using imgx::link::identities_of;
using imgx::link::PresentedIdentities;

TEST_CASE("a certificate's DNS subjectAltNames are its identities; the CN only when it has none") {
    CHECK(identities_of({{"proxy1.example", "proxy1"}, "ignored-cn"}) ==
          std::vector<std::string>{"proxy1.example", "proxy1"});
    CHECK(identities_of({{}, "proxy-cn"}) == std::vector<std::string>{"proxy-cn"});
    CHECK(identities_of({{}, ""}).empty());
}

TEST_CASE("an identity is allowed only by an exact match with an entry of the list") {
    const std::vector<std::string> allowed = {"src1.example", "src2.example"};
    CHECK(allowed_identity({{"src2.example"}, ""}, allowed) == "src2.example");
    CHECK(allowed_identity({{"other.example", "src1.example"}, ""}, allowed) == "src1.example");
    CHECK_FALSE(allowed_identity({{"SRC1.example"}, ""}, allowed));    // case matters
    CHECK_FALSE(allowed_identity({{"src1.example."}, ""}, allowed));   // no normalisation
    CHECK_FALSE(allowed_identity({{"x.src1.example"}, ""}, allowed));  // no suffix match
    CHECK_FALSE(allowed_identity({{"*.example"}, ""}, allowed));       // no wildcards
    CHECK_FALSE(allowed_identity({{}, ""}, allowed));
    CHECK_FALSE(allowed_identity({{"src1.example"}, ""}, {}));
}

TEST_CASE("the CN counts only for a certificate without DNS subjectAltNames") {
    const std::vector<std::string> allowed = {"proxy-cn"};
    CHECK(allowed_identity({{}, "proxy-cn"}, allowed) == "proxy-cn");
    CHECK_FALSE(allowed_identity({{"elsewhere.example"}, "proxy-cn"}, allowed));
}

TEST_CASE("names in messages are quoted and a missing list says none") {
    CHECK(describe_names({"a", "b"}) == "'a', 'b'");
    CHECK(describe_names({}) == "none");
}
