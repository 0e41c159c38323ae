// The CRIU-like img-remote client writes exactly the frames of criu-protocols.md 2.3.
#include <catch2/catch.hpp>

#include "remote/remote_client.hpp"
#include "support/trace_manifest.hpp"

using namespace imgtest;
using namespace imgtest::remote;

namespace {

std::string hex(std::string_view spaced) {
    std::string compact;
    for (char c : spaced)
        if (c != ' ') compact.push_back(c);
    return hex_decode(compact);
}

}  // namespace

TEST_CASE("image requests are the spec's bytes for snapshot id img/2") {
    CHECK(hex_encode(local_image_entry_frame("inventory.img", "img/2", kModeWrite)) ==
          hex_encode(hex("18 00 00 00 0a 0d 69 6e 76 65 6e 74 6f 72 79 2e 69 6d 67 12 05 69 6d 67 "
                         "2f 32 18 01")));
    CHECK(hex_encode(local_image_entry_frame("inventory.img", "img/2", kModeRead)) ==
          hex_encode(hex("18 00 00 00 0a 0d 69 6e 76 65 6e 74 6f 72 79 2e 69 6d 67 12 05 69 6d 67 "
                         "2f 32 18 00")));
}

TEST_CASE("replies are the spec's bytes and decode back") {
    CHECK(hex_encode(reply_frame(0)) == "020000000800");
    CHECK(hex_encode(reply_frame(2)) == "020000000802");
    CHECK(hex_encode(reply_frame(5)) == "020000000805");
    CHECK(parse_reply_body(hex("08 00")) == 0u);
    CHECK(parse_reply_body(hex("08 02")) == 2u);
    CHECK(parse_reply_body(hex("08 05")) == 5u);
    CHECK_FALSE(parse_reply_body("").has_value());         // the required field is missing
    CHECK_FALSE(parse_reply_body(hex("08")).has_value());  // cut varint
}

TEST_CASE("G2 and G3 control frames use the empty id and empty finish names") {
    for (auto generation : {Generation::g2, Generation::g3}) {
        INFO(to_string(generation));
        CHECK(hex_encode(push_header_frame(generation)) ==
              hex_encode(hex("0d 00 00 00 0a 06 70 61 72 65 6e 74 12 00 18 80 08")));
        CHECK(hex_encode(pull_frame(generation)) ==
              hex_encode(hex("0c 00 00 00 0a 06 70 61 72 65 6e 74 12 00 18 00")));
        CHECK(hex_encode(dump_finish_frame(generation)) ==
              hex_encode(hex("06 00 00 00 0a 00 12 00 18 01")));
        CHECK(hex_encode(restore_finish_frame(generation)) ==
              hex_encode(hex("06 00 00 00 0a 00 12 00 18 00")));
    }
    CHECK(hex_encode(snapshot_id_entry_frame("img/2")) ==
          hex_encode(hex("07 00 00 00 0a 05 69 6d 67 2f 32")));
    CHECK(parse_snapshot_id_body(hex("0a 05 69 6d 67 2f 32")) == std::string("img/2"));
}

TEST_CASE("G1 control frames use the id null and the DUMP_FINISH and RESTORE_FINISH names") {
    CHECK(control_id(Generation::g1) == "null");
    CHECK(hex_encode(push_header_frame(Generation::g1)) ==
          hex_encode(hex("11 00 00 00 0a 06 70 61 72 65 6e 74 12 04 6e 75 6c 6c 18 80 08")));
    CHECK(hex_encode(dump_finish_frame(Generation::g1)) ==
          hex_encode(
              hex("15 00 00 00 0a 0b 44 55 4d 50 5f 46 49 4e 49 53 48 12 04 6e 75 6c 6c 18 01")));
    CHECK(hex_encode(restore_finish_frame(Generation::g1)) ==
          hex_encode(hex("18 00 00 00 0a 0e 52 45 53 54 4f 52 45 5f 46 49 4e 49 53 48 12 04 6e 75 "
                         "6c 6c 18 00")));
    // The pull is the G2 pull with the id "null".
    CHECK(hex_encode(pull_frame(Generation::g1)) ==
          hex_encode(hex("10 00 00 00 0a 06 70 61 72 65 6e 74 12 04 6e 75 6c 6c 18 00")));
}

TEST_CASE("long names and ids get multi-byte varint lengths") {
    const std::string name(200, 'n');
    const auto frame = local_image_entry_frame(name, "id", kModeRead);
    // body: 0a c8 01 <200> 12 02 'i' 'd' 18 00  = 3 + 200 + 4 + 2 = 209
    CHECK(frame.size() == 4 + 209);
    CHECK(static_cast<unsigned char>(frame[0]) == 209);
    CHECK(hex_encode(frame.substr(4, 3)) == "0ac801");
}
