// Linked into every fuzz target: protobuf's log lines about each malformed input would cost more
// time than parsing it, and the targets check every outcome themselves.
#include <google/protobuf/stubs/logging.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler(nullptr);
    return 0;
}
