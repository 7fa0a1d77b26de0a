#pragma once

// The daily schedule of `tessera serve --schedule 03:00 --schedule-zone Europe/Berlin`: at each
// of its local times, pull the sources, recompute the segments into a kept snapshot, deliver
// the changes to the destinations. DailySchedule is the calendar arithmetic (time zones through
// the system's tz database, daylight saving included); Scheduler is the thread that waits for
// the next time and runs the job, recording each run.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/store/database.h"

namespace tessera::server {

// Immutable; thread-safe.
class DailySchedule {
 public:
  // `times`: "HH:MM" local times, comma-separated ("03:00" or "06:00,18:30"); `zone`: an IANA
  // name ("Europe/Berlin") or "UTC" (empty). Errors: kInvalidArgument naming the bad time or
  // the unknown zone.
  static StatusOr<DailySchedule> Parse(std::string_view times, std::string_view zone);

  // The first scheduled instant strictly after `unix_seconds`. A local time that a daylight
  // saving change skips (02:30 on the spring-forward night) runs at the first instant after
  // the gap; one that happens twice (the autumn night) runs once, at its first occurrence.
  int64_t NextAfter(int64_t unix_seconds) const;
  // The last scheduled instant at or before `unix_seconds`.
  int64_t LastAtOrBefore(int64_t unix_seconds) const;

  // "daily at 03:00 (Europe/Berlin)".
  std::string Describe() const;
  const std::string& zone() const { return zone_; }
  std::vector<std::string> times() const;

 private:
  DailySchedule() = default;
  // Local seconds since local midnight -> the UTC instant on the local day `day` (days since
  // 1970-01-01 in the zone).
  int64_t InstantOn(int64_t local_day, int minute_of_day) const;
  // The scheduled instants of the local days from two before to two after `unix_seconds`'s.
  std::vector<int64_t> InstantsAround(int64_t unix_seconds) const;

  std::string zone_;          // "UTC" or the IANA name
  std::vector<int> minutes_;  // minutes after local midnight, sorted, distinct
  const void* tz_ = nullptr;  // date::time_zone*, owned by the tz database (static)
};

// One run of the scheduled job, as the API shows it.
struct ScheduledRun {
  struct Step {
    std::string name;     // "sources", "recompute", "destinations"
    std::string outcome;  // "ok", "failed", "skipped"
    std::string detail;   // what it did ("3 files, 1,204 new orders") or why it failed
  };
  int64_t scheduled_for = 0;  // unix seconds of the schedule's time this run is for
  int64_t started = 0, finished = 0;
  std::string outcome;  // "ok" or "failed" (a step failed); "running" while it runs
  std::vector<Step> steps;
};

// The thread of the schedule. Thread-safe. Runs the job at each scheduled instant; a run that
// was due while the server was down (the last scheduled instant lies after the last run's, as
// `last_run` tells at start) runs once at start. Never two runs at once; a run that takes
// longer than the gap to the next time makes that one wait until it ends, then run. The clock
// is read again while waiting: one that jumps ahead over several times (a suspended machine)
// runs once, for the latest of them; one stepped back (NTP correcting a clock that was ahead)
// waits for the next time of the clock as it is now, not for the one computed before.
class Scheduler {
 public:
  using Job = std::function<ScheduledRun(int64_t scheduled_for)>;
  using Clock = std::function<int64_t()>;  // unix seconds
  // `record` keeps a run (the store): called on the scheduler's thread when the run starts
  // (outcome "running", so that a run killed with the server leaves a trace) and when it ends.
  Scheduler(DailySchedule schedule, Job job, Clock clock, std::optional<int64_t> last_run_for,
            std::function<void(const ScheduledRun&)> record);
  ~Scheduler();  // stops and joins
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void Start();
  void Stop();

  const DailySchedule& schedule() const { return schedule_; }
  // Whether Stop() was called: a running job ends after its current step.
  bool stopping() const { return stop_; }
  int64_t next_run() const;  // unix seconds
  std::optional<ScheduledRun> running() const;

 private:
  void Loop();

  const DailySchedule schedule_;
  const Job job_;
  const Clock clock_;
  const std::function<void(const ScheduledRun&)> record_;
  mutable std::mutex mu_;
  int64_t next_run_ = 0;                 // guarded by mu_
  std::optional<ScheduledRun> running_;  // guarded by mu_
  std::optional<int64_t> last_run_for_;  // only the thread, after Start
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The runs of the schedule, kept in the store (module "server.schedule") so that the API shows
// the last ones after a restart and a missed time is caught up. One row per scheduled time: a
// run for the same time again (a restart during a run) replaces it.
const store::Schema& ScheduleSchema();
// Errors: the store's.
Status RecordScheduledRun(store::Database& db, const ScheduledRun& run);
// The newest `limit` runs, newest first. Errors: the store's.
StatusOr<std::vector<ScheduledRun>> ScheduledRuns(store::Database& db, int limit);
// At the start of a server: the scheduled time of the last run that counts as done, for
// Scheduler's `last_run_for` (nullopt: never run). A newest run still "running" was cut off
// with the server that ran it (killed, or the machine went down): it is recorded as failed
// ("interrupted") at `now` and does not count, so that its time runs again at start (each step
// resumes where it stopped: loads and deliveries are transactions). Errors: the store's.
StatusOr<std::optional<int64_t>> LastScheduledRunAtStart(store::Database& db, int64_t now);

}  // namespace tessera::server
