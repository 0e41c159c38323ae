// The request of `img-ctl wait`: the old form for any dump, or a minimum generation of the id.
#pragma once

#include <cstdint>
#include <string>

#include "control.pb.h"

namespace imgx::ctl {

// The generation of `id` in a status answer, or 0 when the daemon holds no dump of it.
std::uint64_t generation_in(const control::Response& status, const std::string& id);

// A wait for a dump of `id` of at least `min_generation`. With 0 it is the old `wait` request
// (the latest dump, whichever), which daemons without generations understand too.
control::Request wait_request(const std::string& id, std::uint64_t min_generation);

}  // namespace imgx::ctl
