// Content generation (splitmix64) and comparison messages.
#include "support/content.hpp"

#include <algorithm>
#include <cstring>

namespace imgtest {

std::string make_content(std::uint64_t seed, std::size_t size) {
    std::string out(size, '\0');
    std::uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    for (std::size_t i = 0; i < size; i += 8) {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        std::memcpy(out.data() + i, &z, std::min<std::size_t>(8, size - i));
    }
    return out;
}

std::string describe_difference(const std::string& expected, const std::string& actual) {
    if (expected == actual) return "identical";
    auto mismatch = std::mismatch(expected.begin(), expected.end(), actual.begin(), actual.end());
    auto at = static_cast<std::size_t>(mismatch.first - expected.begin());
    return "expected " + std::to_string(expected.size()) + " bytes, got " +
           std::to_string(actual.size()) + "; first difference at offset " + std::to_string(at);
}

}  // namespace imgtest
