// The job of `serve --schedule` and GET /api/v1/schedule (schedule.h).

#include "server/server_impl.h"

namespace tessera::server {
namespace {

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json RunJson(const ScheduledRun& run) {
  Json steps = Json::array();
  for (const ScheduledRun::Step& s : run.steps) {
    steps.push_back({{"name", s.name}, {"outcome", s.outcome}, {"detail", s.detail}});
  }
  Json j = {{"scheduled_for", FormatIsoTimestamp(run.scheduled_for)},
            {"started", FormatIsoTimestamp(run.started)},
            {"outcome", run.outcome},
            {"steps", std::move(steps)}};
  j["finished"] = run.finished > 0 ? Json(FormatIsoTimestamp(run.finished)) : Json(nullptr);
  return j;
}

}  // namespace

ScheduledRun Server::Impl::RunSchedule(int64_t scheduled_for) {
  ScheduledRun run;
  run.scheduled_for = scheduled_for;
  run.started = UnixNow();
  run.outcome = "ok";
  auto step = [&run](std::string name, const Status& status, std::string detail) {
    if (!status.ok()) run.outcome = "failed";
    run.steps.push_back({std::move(name), status.ok() ? "ok" : "failed",
                         status.ok() ? std::move(detail) : status.message()});
  };
  run.steps.push_back({"sources", "skipped", "no sources are configured"});
  // The window ends on the day of the run, in UTC as every other recompute of the server.
  analytics::ProfileOptions o;
  o.as_of_day = DayOfTimestamp(run.started);
  auto window = analytics::Window::Parse(options.schedule_window);
  Status recomputed = window.status();
  std::string detail;
  if (window.ok()) {
    o.window = *window;
    auto done = RecomputeSnapshot(o);
    recomputed = done.status();
    if (done.ok()) {
      detail = fmt::format("snapshot {}: {} customers in the {} window to {}", done->snapshot_id,
                           done->set.profiles.size(), options.schedule_window,
                           FormatIsoDate(o.as_of_day));
    }
  }
  step("recompute", recomputed, detail);
  run.steps.push_back({"destinations", "skipped", "no destinations are configured"});
  run.finished = UnixNow();
  return run;
}

std::string Server::ScheduleSummary() const {
  if (!impl_->scheduler) return "";
  return fmt::format("refreshing {} over {}; next run {}", impl_->scheduler->schedule().Describe(),
                     impl_->options.schedule_window,
                     FormatIsoTimestamp(impl_->scheduler->next_run()));
}

void Server::Impl::Schedule(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kViewer)) return;
  Json j = Json::object();
  if (!scheduler) {
    j["schedule"] = nullptr;
    j["runs"] = Json::array();
    res.set_content(j.dump(), "application/json");
    return;
  }
  const DailySchedule& s = scheduler->schedule();
  j["schedule"] = s.Describe();
  j["times"] = s.times();
  j["zone"] = s.zone();
  j["window"] = options.schedule_window;
  j["next_run"] = FormatIsoTimestamp(scheduler->next_run());
  auto running = scheduler->running();
  j["running"] = running ? RunJson(*running) : Json(nullptr);
  auto st = ThreadStore();
  if (!st.ok()) return SendError(res, FromStatus(st.status()));
  auto runs = ScheduledRuns((**st).db(), 10);
  if (!runs.ok()) return SendError(res, FromStatus(runs.status()));
  Json list = Json::array();
  for (const ScheduledRun& r : *runs) list.push_back(RunJson(r));
  j["runs"] = std::move(list);
  res.set_content(j.dump(), "application/json");
}

}  // namespace tessera::server
