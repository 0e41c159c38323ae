// Whether the running test case has failed, and how a test skips itself (exit status 77).
#pragma once

#include <functional>
#include <string>

namespace imgtest {

// True once any assertion of the current Catch2 test case failed (set by the listener in
// catch_main.cpp) or while an exception unwinds out of it.
bool current_test_failed();
void note_assertion_failed();
void note_test_case_started();

// Exit status meson reports as SKIP.
inline constexpr int kSkipExitStatus = 77;

// Prints `reason`, runs the registered emergency cleanups (children are killed) and exits 77.
// Only for premises the machine cannot meet; never for a daemon misbehaving.
[[noreturn]] void skip_test(const std::string& reason);

// Cleanups run by skip_test (the harness registers its child processes here).
int add_emergency_cleanup(std::function<void()> cleanup);
void remove_emergency_cleanup(int handle);

}  // namespace imgtest
