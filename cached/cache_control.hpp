// img-ctl requests on img-cached: open serve endpoints, status, wait, drop.
#pragma once

#include <string>

#include "control/control_server.hpp"
#include "criu/endpoint_set.hpp"
#include "store/image_store.hpp"

namespace imgx::cached {

// `listening` describes the link listener for status output.
control::Handler make_control_handler(criu::EndpointSet& endpoints, store::ImageStore& store,
                                      const std::string& listening);

}  // namespace imgx::cached
