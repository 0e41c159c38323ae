// The link's read buffer: kept bytes come out in order across reads of any size, and a large
// read with nothing kept goes to the socket directly.
#include "link/read_buffer.hpp"

#include <array>
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

using imgx::link::ReadBuffer;

namespace {

// Pretends a recv put `bytes` into the buffer's space.
void fill(ReadBuffer& in, const std::string& bytes) {
    auto space = in.space();
    REQUIRE(bytes.size() <= space.size());
    std::memcpy(space.data(), bytes.data(), bytes.size());
    in.filled(bytes.size());
}

}  // namespace

TEST_CASE("kept bytes come out in order, as much as each read asks for") {
    ReadBuffer in;
    fill(in, "0123456789");
    std::array<char, 4> header{};
    CHECK(in.take(boost::asio::buffer(header)) == 4);
    CHECK(std::string(header.data(), 4) == "0123");
    CHECK(in.size() == 6);
    std::array<char, 16> body{};
    CHECK(in.take(boost::asio::buffer(body)) == 6);  // only what is kept, never more
    CHECK(std::string(body.data(), 6) == "456789");
    CHECK(in.size() == 0);
}

TEST_CASE("a large read with nothing kept bypasses the buffer; a small one or kept bytes do not") {
    ReadBuffer in;
    std::string large(ReadBuffer::kCapacity, 'x');
    std::string small(100, 'y');
    CHECK(in.bypass(boost::asio::buffer(large)));
    CHECK_FALSE(in.bypass(boost::asio::buffer(small)));
    fill(in, "abc");
    CHECK_FALSE(in.bypass(boost::asio::buffer(large)));  // kept bytes must come first
    CHECK(in.take(boost::asio::buffer(large)) == 3);
    CHECK(in.bypass(boost::asio::buffer(large)));
}

TEST_CASE("a scatter read takes kept bytes across its buffers; clear() drops them") {
    ReadBuffer in;
    fill(in, "headerbody");
    std::array<char, 6> a{};
    std::array<char, 2> b{};
    std::array<boost::asio::mutable_buffer, 2> both{boost::asio::buffer(a), boost::asio::buffer(b)};
    CHECK(in.take(both) == 8);
    CHECK(std::string(a.data(), 6) == "header");
    CHECK(std::string(b.data(), 2) == "bo");
    in.clear();
    CHECK(in.size() == 0);
}
