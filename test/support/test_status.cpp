// Failure tracking for the current test case and the skip exit.
#include "support/test_status.hpp"

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>

namespace imgtest {

namespace {

bool g_failed = false;
std::mutex g_cleanup_mutex;
std::map<int, std::function<void()>> g_cleanups;
int g_next_handle = 1;

}  // namespace

bool current_test_failed() { return g_failed || std::uncaught_exceptions() > 0; }
void note_assertion_failed() { g_failed = true; }
void note_test_case_started() { g_failed = false; }

void skip_test(const std::string& reason) {
    std::cout << "SKIP: " << reason << std::endl;
    std::map<int, std::function<void()>> cleanups;
    {
        std::lock_guard lock(g_cleanup_mutex);
        cleanups.swap(g_cleanups);
    }
    for (auto& [handle, cleanup] : cleanups) cleanup();
    std::fflush(nullptr);
    ::_exit(kSkipExitStatus);
}

int add_emergency_cleanup(std::function<void()> cleanup) {
    std::lock_guard lock(g_cleanup_mutex);
    int handle = g_next_handle++;
    g_cleanups.emplace(handle, std::move(cleanup));
    return handle;
}

void remove_emergency_cleanup(int handle) {
    std::lock_guard lock(g_cleanup_mutex);
    g_cleanups.erase(handle);
}

}  // namespace imgtest
