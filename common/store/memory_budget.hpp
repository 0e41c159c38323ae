// How many image bytes a daemon may keep in memory, and what each stored file holds of it.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

namespace imgx::store {

// A limit on image bytes in memory (0: none) and what is used of it. Single-threaded: one
// daemon's io_context. Files charge it as their pieces arrive and release it when they go away.
class MemoryBudget {
  public:
    explicit MemoryBudget(std::uint64_t limit_bytes = 0) : limit_(limit_bytes) {}

    // Takes `bytes` if they fit (always, without a limit); false otherwise, nothing taken.
    bool try_take(std::uint64_t bytes) {
        if (limit_ != 0 && used_ + bytes > limit_) return false;
        used_ += bytes;
        return true;
    }
    void give_back(std::uint64_t bytes) noexcept { used_ -= bytes < used_ ? bytes : used_; }

    // Link chunks waiting to be placed (ahead of a gap, or before their file began), for every
    // session: taken from the budget while it has room, then from `allowance` bytes beyond it;
    // without a limit, at most `allowance` in all. False (nothing taken) when neither fits.
    bool try_take_waiting(std::uint64_t bytes, std::uint64_t allowance) {
        if (limit_ != 0 && try_take(bytes)) {
            waiting_in_budget_ += bytes;
            return true;
        }
        if (waiting_beyond_ + bytes > allowance) return false;
        waiting_beyond_ += bytes;
        return true;
    }
    void give_back_waiting(std::uint64_t bytes) noexcept {
        const std::uint64_t beyond = bytes < waiting_beyond_ ? bytes : waiting_beyond_;
        waiting_beyond_ -= beyond;
        const std::uint64_t in_budget =
            bytes - beyond < waiting_in_budget_ ? bytes - beyond : waiting_in_budget_;
        waiting_in_budget_ -= in_budget;
        give_back(in_budget);
    }
    // Waiting chunks beyond the budget (or, without a limit, all of them).
    [[nodiscard]] std::uint64_t waiting_beyond() const noexcept { return waiting_beyond_; }
    [[nodiscard]] std::uint64_t waiting() const noexcept {
        return waiting_in_budget_ + waiting_beyond_;
    }

    [[nodiscard]] std::uint64_t limit() const noexcept { return limit_; }
    [[nodiscard]] std::uint64_t used() const noexcept { return used_; }

    // Bytes written to a spool file because they did not fit (for the metrics).
    std::uint64_t spilled_bytes = 0;

  private:
    std::uint64_t limit_;
    std::uint64_t used_ = 0;  // waiting_in_budget_ included
    std::uint64_t waiting_in_budget_ = 0;
    std::uint64_t waiting_beyond_ = 0;
};

// What one file took from a budget; given back when the charge goes away.
class MemoryCharge {
  public:
    MemoryCharge() = default;
    explicit MemoryCharge(std::shared_ptr<MemoryBudget> budget) : budget_(std::move(budget)) {}
    MemoryCharge(MemoryCharge&& other) noexcept
        : budget_(std::move(other.budget_)), bytes_(std::exchange(other.bytes_, 0)) {}
    MemoryCharge& operator=(MemoryCharge&& other) noexcept {
        if (this != &other) {
            release();
            budget_ = std::move(other.budget_);
            bytes_ = std::exchange(other.bytes_, 0);
        }
        return *this;
    }
    ~MemoryCharge() { release(); }

    // True (and counted) if `bytes` fit in the budget; true without a budget.
    bool try_add(std::uint64_t bytes) {
        if (!budget_) return true;
        if (!budget_->try_take(bytes)) return false;
        bytes_ += bytes;
        return true;
    }
    [[nodiscard]] const std::shared_ptr<MemoryBudget>& budget() const noexcept { return budget_; }

  private:
    void release() noexcept {
        if (budget_) budget_->give_back(bytes_);
        bytes_ = 0;
    }
    std::shared_ptr<MemoryBudget> budget_;
    std::uint64_t bytes_ = 0;
};

}  // namespace imgx::store
