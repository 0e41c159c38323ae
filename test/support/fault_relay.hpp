// A test-only TCP relay between img-proxyd and img-cached on loopback that injects link faults:
// it can stall the proxy->cache stream, cut the connection (once, or each of several connections
// in turn), corrupt one byte of image data, or refuse new connections for a while. Runs on its
// own thread; every wait in it is bounded by its stop flag.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "support/fd_io.hpp"

namespace imgtest {

class FaultRelay {
  public:
    // Listens on 127.0.0.1 (a free port) and relays every connection to 127.0.0.1:`target_port`.
    explicit FaultRelay(std::uint16_t target_port);
    FaultRelay(const FaultRelay&) = delete;
    FaultRelay& operator=(const FaultRelay&) = delete;
    ~FaultRelay();

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

    // Faults apply to the proxy->cache direction of the connection open when they trigger, once.
    // Offsets count from the first byte of that connection (the link preamble included); data
    // offsets count image bytes inside DATA frames only (headers and file tags excluded).
    void corrupt_data_byte(std::uint64_t data_offset);
    void cut_at(std::uint64_t stream_offset);
    // Cuts each of the next connections in turn: the first at offsets[0] of its own stream, the
    // one after it at offsets[1], ...; fault_happened() once every cut was made.
    void cut_connections_at(std::vector<std::uint64_t> stream_offsets);
    // Cuts only connection number `number` (counting from 1 since the relay started; e.g. one
    // lane of a multi-lane link) at `stream_offset` of its own stream.
    void cut_connection_at(int number, std::uint64_t stream_offset);
    // Cuts whichever of connections `first`..`last` first reaches `stream_offset` of its own
    // stream (e.g. the first data lane that carries that much: which lane carries how much
    // depends on measured rates, so on the machine's load); the others are left alone.
    void cut_first_of_connections_at(int first, int last, std::uint64_t stream_offset);
    // Stalls the connection that reaches the offset until release_stall(); later connections
    // pass untouched (a reconnection gets through).
    void stall_at(std::uint64_t stream_offset);
    // Stalls whichever of connections `first`..`last` first reaches `stream_offset` of its own
    // stream (e.g. one data lane of a multi-lane link), like stall_at(); the others pass.
    void stall_first_of_connections_at(int first, int last, std::uint64_t stream_offset);
    void release_stall();
    // The same faults `n` bytes after what the newest connection has carried when the relay next
    // moves data on it (a new connection counts from its start), on that connection only: for a
    // relay reused by many transfers, where an older connection may linger until both ends close.
    void corrupt_data_byte_after(std::uint64_t n);
    void cut_after(std::uint64_t n);
    void stall_after(std::uint64_t n);
    // Forgets a fault that has not happened (a stall that has is released too).
    void disarm();
    // Connection number `first` (counting from 1 since the relay started) and every later one
    // is closed as soon as it is accepted: the link stays down. 0 accepts every connection again.
    void refuse_connections_from(int first) { refuse_from_ = first; }
    // Closes every relayed connection now (both directions).
    void cut_all_now() { cut_all_ = true; }

    // Whether the armed fault has happened (the byte was flipped, the cut made, the stall reached).
    [[nodiscard]] bool fault_happened() const noexcept { return fault_happened_; }
    // Waits (bounded) for fault_happened().
    bool wait_for_fault(Deadline deadline) const;
    // Connections accepted so far (refused ones included).
    [[nodiscard]] int connections() const noexcept { return connections_; }
    // Image bytes of DATA frames passed on to img-cached, over every connection.
    [[nodiscard]] std::uint64_t data_bytes_relayed() const noexcept { return data_relayed_; }

  private:
    enum class Fault { none, corrupt, cut, stall };
    struct Link;
    void arm(Fault fault, std::uint64_t offset, bool relative);
    void run();
    bool pump_up(Link& link, bool newest);
    bool pump_down(Link& link);

    std::uint16_t target_port_;
    std::uint16_t port_ = 0;
    int listener_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<bool> fault_happened_{false};
    std::atomic<bool> stall_released_{false};
    std::atomic<int> connections_{0};
    std::atomic<int> refuse_from_{0};
    std::atomic<bool> cut_all_{false};
    std::atomic<std::uint64_t> data_relayed_{0};
    std::mutex mutex_;  // guards fault_, offset_, relative_, fault_link_ and cuts_
    Fault fault_ = Fault::none;
    std::uint64_t offset_ = 0;
    bool relative_ = false;  // offset_ still counts from wherever the connection is
    int fault_link_ = 0;     // the connection a relative fault was resolved on (0: any)
    int fault_first_ = 0, fault_last_ = 0;  // stall_first_of_connections_at's range (0: any)
    std::deque<std::uint64_t> cuts_;  // cut_connections_at: offsets of connections not yet accepted
    std::size_t cuts_left_ = 0;       // cuts not yet made
    int cut_number_ = 0;              // cut_connection_at: the first connection to cut (0: none)
    int cut_number_last_ = 0;         // ... and the last of the range (cut_first_of_connections_at)
    std::uint64_t cut_number_offset_ = 0;
    std::thread thread_;
};

}  // namespace imgtest
