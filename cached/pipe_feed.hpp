// Writes one stored image file into the pipe CRIU reads it from.
#pragma once

#include "store/image_file.hpp"
#include "util/unique_fd.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

namespace imgx::cached {

// Writes all of `file` into `pipe` (CRIU's write end) and closes it. CRIU closing its read end
// early (EPIPE) is a normal end. `context` names snapshot and peer for log lines.
boost::asio::awaitable<void> feed_pipe(UniqueFd pipe, std::shared_ptr<const store::ImageFile> file,
                                       std::string context);

}  // namespace imgx::cached
