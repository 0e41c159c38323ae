// Link client, resume and failure: a lost session resumed within the retry budget, or its dumps
// failed.
#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "link_client.hpp"
#include "proxy_metrics.hpp"
#include "util/log.hpp"

namespace imgx::proxyd {

namespace {

long whole_seconds(std::chrono::steady_clock::duration d) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

std::uint64_t LinkClient::new_session_id() {
    std::random_device random;
    std::uint64_t id = 0;
    while (id == 0) id = (std::uint64_t(random()) << 32) | random();
    return id;
}

void LinkClient::session_begins(const link::Hello& answer) {
    const std::string cache = cache_.to_string();
    const bool resumed = session_known_ && answer.resume();
    if (resumed) {
        flow_.window().resume_from(answer.received_through());
        load_.acknowledged(0, flow_.window().acknowledged());
        ++proxy_metrics().link_resumes;
        std::string after;
        if (lost_at_)
            after =
                fmt::format(" after {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - *lost_at_)
                                                .count());
        log_info({.peer = cache},
                 "link session to img-cached at {} resumed{}: going on from frame {}, {} frames to "
                 "write",
                 cache, after, answer.received_through() + 1, flow_.window().unwritten());
    } else if (session_known_) {
        fail_session("img-cached at " + cache +
                         " no longer holds the link session (it restarted, or the session "
                         "expired after its link_resume_seconds)",
                     false);
    }
    if (!resumed) {
        // A new session: as many lanes as both sides want (an older img-cached answers 0: one).
        lanes_ = std::clamp<std::size_t>(answer.streams(), 1, streams_);
        load_.reset(lanes_);
        // An older img-cached answers no codecs: its chunks go as DATA / DATA_AT only.
        sender_.outbox().set_peer_accepts((answer.codecs() & link::kCodecZstd) != 0);
        if (streams_ > 1)
            log_info({.peer = cache},
                     "link session to img-cached at {} uses {} of {} lanes (link_streams)", cache,
                     lanes_, streams_);
    }
    session_known_ = true;
    abandoned_session_ = 0;
    lost_at_.reset();
}

void LinkClient::connection_lost(const std::string& why, bool protocol_failure) {
    connected_ = false;
    const std::string cache = cache_.to_string();
    last_error_ = why;
    if (!stopping_) ++proxy_metrics().errors.link_lost;
    if (stopping_ || resume_.retry.count() == 0 || protocol_failure) {
        if (!stopping_) log_error({.peer = cache}, "link to img-cached at {} lost: {}", cache, why);
        fail_session(why, true);
    } else {
        log_warn({.peer = cache},
                 "link to img-cached at {} lost: {}; resuming {} unfinished dumps within {} s "
                 "(link_retry_seconds)",
                 cache, why, sender_.unsettled(), whole_seconds(resume_.retry));
        lost_at_ = std::chrono::steady_clock::now();
        loss_reason_ = why;
    }
    link_changed_.notify();
    written_.notify();
}

void LinkClient::lane_lost(std::size_t n, const std::string& why, bool protocol_failure) {
    const std::string cache = cache_.to_string();
    ++proxy_metrics().errors.link_lost;
    if (resume_.retry.count() == 0 || protocol_failure) {
        log_error({.peer = cache}, "link lane {} to img-cached at {} lost: {}", n, cache, why);
        fail_session(fmt::format("lane {} lost: {}", n, why), true);
        return;
    }
    log_warn(
        {.peer = cache},
        "link lane {} to img-cached at {} lost: {}; resuming it within {} s (link_retry_seconds)",
        n, cache, why, whole_seconds(resume_.retry));
    extra_[n - 1]->lost_at = std::chrono::steady_clock::now();
}

bool LinkClient::lane_may_retry(std::size_t n, const std::string& why, link::Backoff& backoff,
                                std::chrono::steady_clock::duration& wait) {
    using namespace std::chrono;
    Lane& lane = *extra_[n - 1];
    const auto now = steady_clock::now();
    if (!lane.lost_at)
        lane.lost_at = now;  // a lane that never came up counts from its first attempt
    const auto spent = now - *lane.lost_at;
    if (spent >= resume_.retry) {
        const std::string cache = cache_.to_string();
        log_error(
            {.peer = cache},
            "link lane {} to img-cached at {} not connected within {} s (link_retry_seconds): {}",
            n, cache, whole_seconds(resume_.retry), why);
        fail_session(fmt::format("lane {} not connected within {} s (link_retry_seconds): {}", n,
                                 whole_seconds(resume_.retry), why),
                     true);
        return false;
    }
    wait = std::min<steady_clock::duration>(backoff.next(), resume_.retry - spent);
    return true;
}

std::chrono::steady_clock::duration LinkClient::resume_time_left() {
    using namespace std::chrono;
    if (!lost_at_) return steady_clock::duration::max();
    const auto spent = steady_clock::now() - *lost_at_;
    if (spent < resume_.retry) return resume_.retry - spent;
    fail_session(fmt::format("{}; not resumed within {} s (link_retry_seconds): {}", loss_reason_,
                             whole_seconds(resume_.retry), last_error_),
                 true);
    return steady_clock::duration::zero();
}

void LinkClient::fail_session(const std::string& why, bool renew) {
    end(renew);  // lane 0 begins the next session
    sender_.fail_session(why);
    if (renew) {
        if (session_known_) abandoned_session_ = session_id_;
        session_id_ = new_session_id();
        session_known_ = false;
    }
    lost_at_.reset();
    written_.notify();
}

void LinkClient::end(bool close_lane0) {
    if (close_lane0 && socket_) socket_->close();
    for (auto& lane : extra_)
        if (lane->socket) lane->socket->close();
    for (auto& lane : extra_) {
        lane->flow.clear();
        lane->joined = false;
        lane->lost_at.reset();
    }
    flow_.clear();
    unwritten_chunk_bytes_ = 0;
    lanes_ = 1;
    load_.reset(1);
}

}  // namespace imgx::proxyd
