#include "server/schedule.h"

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>

namespace tessera::server {
namespace {

const date::time_zone* Zone(const void* tz) { return static_cast<const date::time_zone*>(tz); }

// Released migrations are never edited (tests/server/migrations_test.cc).
constexpr store::Migration kMigrations[] = {
    // 1: the runs of `serve --schedule`, one per scheduled time; steps as JSON.
    {R"sql(CREATE TABLE schedule_runs (
  scheduled_for INTEGER PRIMARY KEY,
  started       INTEGER NOT NULL,
  finished      INTEGER NOT NULL,
  outcome       TEXT NOT NULL,
  steps         TEXT NOT NULL
);
)sql",
     R"sql(CREATE TABLE IF NOT EXISTS schedule_runs (
  scheduled_for bigint PRIMARY KEY,
  started       bigint NOT NULL,
  finished      bigint NOT NULL,
  outcome       text   NOT NULL,
  steps         text   NOT NULL
);
)sql"},
};
constexpr store::Schema kSchema{"server.schedule", kMigrations};

}  // namespace

const store::Schema& ScheduleSchema() { return kSchema; }

Status RecordScheduledRun(store::Database& db, const ScheduledRun& run) {
  TESSERA_RETURN_IF_ERROR(db.Migrate(kSchema));
  nlohmann::json steps = nlohmann::json::array();
  for (const ScheduledRun::Step& s : run.steps) {
    steps.push_back({{"name", s.name}, {"outcome", s.outcome}, {"detail", s.detail}});
  }
  return db
      .Execute(
          "INSERT INTO schedule_runs(scheduled_for, started, finished, outcome, steps) VALUES "
          "($1, $2, $3, $4, $5) ON CONFLICT (scheduled_for) DO UPDATE SET started = "
          "excluded.started, finished = excluded.finished, outcome = excluded.outcome, steps = "
          "excluded.steps",
          {run.scheduled_for, run.started, run.finished, run.outcome, steps.dump()})
      .status();
}

StatusOr<std::vector<ScheduledRun>> ScheduledRuns(store::Database& db, int limit) {
  TESSERA_RETURN_IF_ERROR(db.Migrate(kSchema));
  std::vector<ScheduledRun> out;
  TESSERA_RETURN_IF_ERROR(db.Query(
      "SELECT scheduled_for, started, finished, outcome, steps FROM schedule_runs ORDER BY "
      "scheduled_for DESC LIMIT $1",
      {int64_t{limit}}, [&](const store::SqlRow& row) {
        ScheduledRun r;
        r.scheduled_for = row.Int(0);
        r.started = row.Int(1);
        r.finished = row.Int(2);
        r.outcome = row.Text(3);
        const auto steps = nlohmann::json::parse(row.Text(4), nullptr, false);
        if (steps.is_array()) {
          for (const auto& s : steps) {
            r.steps.push_back({s.value("name", ""), s.value("outcome", ""), s.value("detail", "")});
          }
        }
        out.push_back(std::move(r));
        return OkStatus();
      }));
  return out;
}

StatusOr<std::optional<int64_t>> LastScheduledRunAtStart(store::Database& db, int64_t now) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<ScheduledRun> runs, ScheduledRuns(db, 1));
  if (runs.empty()) return std::optional<int64_t>();
  ScheduledRun last = std::move(runs.front());
  if (last.outcome != "running") return std::optional<int64_t>(last.scheduled_for);
  last.outcome = "failed";
  last.finished = now;
  last.steps.push_back({"run", "failed",
                        "interrupted: the server stopped during this run; it runs again when the "
                        "server starts"});
  TESSERA_RETURN_IF_ERROR(RecordScheduledRun(db, last));
  return std::optional<int64_t>(last.scheduled_for - 1);
}

StatusOr<DailySchedule> DailySchedule::Parse(std::string_view times, std::string_view zone) {
  DailySchedule s;
  s.zone_ = zone.empty() ? "UTC" : std::string(zone);
  try {
    s.tz_ = date::locate_zone(s.zone_);
  } catch (const std::exception&) {
    return InvalidArgumentError(
        "unknown time zone '{}' (an IANA name like Europe/Berlin, or UTC; from the tzdata "
        "package)",
        s.zone_);
  }
  size_t start = 0;
  while (start <= times.size()) {
    size_t end = times.find(',', start);
    if (end == std::string_view::npos) end = times.size();
    std::string_view t = times.substr(start, end - start);
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    const bool shape = (t.size() == 5 && t[2] == ':') || (t.size() == 4 && t[1] == ':');
    int hour = -1, minute = -1;
    if (shape) {
      const size_t colon = t.find(':');
      bool digits = true;
      for (size_t i = 0; i < t.size(); ++i) {
        if (i != colon && (t[i] < '0' || t[i] > '9')) digits = false;
      }
      if (digits) {
        hour = 0;
        for (size_t i = 0; i < colon; ++i) hour = hour * 10 + (t[i] - '0');
        minute = (t[colon + 1] - '0') * 10 + (t[colon + 2] - '0');
      }
    }
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59) {
      return InvalidArgumentError(
          "schedule time '{}' is not a time of day (HH:MM, 00:00 to 23:59; several: "
          "06:00,18:30)",
          t);
    }
    s.minutes_.push_back(hour * 60 + minute);
    start = end + 1;
  }
  std::sort(s.minutes_.begin(), s.minutes_.end());
  s.minutes_.erase(std::unique(s.minutes_.begin(), s.minutes_.end()), s.minutes_.end());
  return s;
}

int64_t DailySchedule::InstantOn(int64_t local_day, int minute_of_day) const {
  const date::local_seconds local{std::chrono::seconds(local_day * 86400 + minute_of_day * 60)};
  // A skipped local time maps to the end of the gap; a repeated one to its first occurrence.
  return Zone(tz_)->to_sys(local, date::choose::earliest).time_since_epoch().count();
}

std::vector<int64_t> DailySchedule::InstantsAround(int64_t unix_seconds) const {
  const auto local = Zone(tz_)->to_local(date::sys_seconds{std::chrono::seconds(unix_seconds)});
  const int64_t day = date::floor<date::days>(local).time_since_epoch().count();
  std::vector<int64_t> out;
  for (int64_t d = day - 2; d <= day + 2; ++d) {
    for (int m : minutes_) out.push_back(InstantOn(d, m));
  }
  return out;
}

int64_t DailySchedule::NextAfter(int64_t unix_seconds) const {
  int64_t best = std::numeric_limits<int64_t>::max();
  for (int64_t t : InstantsAround(unix_seconds)) {
    if (t > unix_seconds) best = std::min(best, t);
  }
  return best;
}

int64_t DailySchedule::LastAtOrBefore(int64_t unix_seconds) const {
  int64_t best = std::numeric_limits<int64_t>::min();
  for (int64_t t : InstantsAround(unix_seconds)) {
    if (t <= unix_seconds) best = std::max(best, t);
  }
  return best;
}

std::vector<std::string> DailySchedule::times() const {
  std::vector<std::string> out;
  for (int m : minutes_) out.push_back(fmt::format("{:02}:{:02}", m / 60, m % 60));
  return out;
}

std::string DailySchedule::Describe() const {
  std::string list;
  for (const std::string& t : times()) list += (list.empty() ? "" : ", ") + t;
  return fmt::format("daily at {} ({})", list, zone_);
}

Scheduler::Scheduler(DailySchedule schedule, Job job, Clock clock,
                     std::optional<int64_t> last_run_for,
                     std::function<void(const ScheduledRun&)> record)
    : schedule_(std::move(schedule)),
      job_(std::move(job)),
      clock_(std::move(clock)),
      record_(std::move(record)),
      last_run_for_(last_run_for) {
  const int64_t now = clock_();
  const int64_t due = schedule_.LastAtOrBefore(now);
  // A time passed while the server was down: run for it at once. A store never run on schedule
  // waits for the first time to come.
  next_run_ = last_run_for_ && *last_run_for_ < due ? due : schedule_.NextAfter(now);
}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

int64_t Scheduler::next_run() const {
  std::lock_guard lock(mu_);
  return next_run_;
}

std::optional<ScheduledRun> Scheduler::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

void Scheduler::Loop() {
  while (!stop_) {
    int64_t due;
    {
      std::lock_guard lock(mu_);
      due = next_run_;
    }
    // Polled rather than slept until: a wall clock that jumps (NTP, a suspended machine, a test's
    // clock) is noticed within a quarter of a second.
    const int64_t now = clock_();
    if (now < due) {
      // A clock stepped back before the time waited for: the next time is that of the clock
      // now (unchanged while the clock only moves forward: NextAfter(now) == due then).
      if (const int64_t sooner = schedule_.NextAfter(now); sooner < due) {
        std::lock_guard lock(mu_);
        next_run_ = sooner;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      continue;
    }
    // Times passed over while the clock jumped ahead run once, for the latest of them.
    due = std::max(due, schedule_.LastAtOrBefore(now));
    ScheduledRun started;
    started.scheduled_for = due;
    started.started = now;
    started.outcome = "running";
    {
      std::lock_guard lock(mu_);
      next_run_ = due;
      running_ = started;
    }
    if (record_) record_(started);
    ScheduledRun run = job_(due);
    run.scheduled_for = due;
    if (record_) record_(run);
    const int64_t after = clock_();
    // The next time after this one; when the run outlasted one or more times, the latest of
    // them runs once, now.
    int64_t next = schedule_.NextAfter(due);
    if (next <= after) next = std::max(next, schedule_.LastAtOrBefore(after));
    std::lock_guard lock(mu_);
    running_.reset();
    next_run_ = next;
  }
}

}  // namespace tessera::server
