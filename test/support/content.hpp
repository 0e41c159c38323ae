// Deterministic, distinct file contents for generated dumps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace imgtest {

// `size` pseudo-random bytes determined by `seed`; different seeds give different bytes.
std::string make_content(std::uint64_t seed, std::size_t size);

// A short description of where two byte strings first differ, for failure messages.
std::string describe_difference(const std::string& expected, const std::string& actual);

}  // namespace imgtest
