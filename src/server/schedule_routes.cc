// The job of `serve --schedule` and GET /api/v1/schedule (schedule.h).

#include "server/server_impl.h"
#include "tessera/destinations/destination_store.h"
#include "tessera/destinations/destinations.h"
#include "tessera/sources/pull.h"

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

ScheduledRun::Step Server::Impl::SourcesStep() {
  ScheduledRun::Step step{"sources", "ok", ""};
  auto fail = [&step](const Status& s) {
    step.outcome = "failed";
    step.detail = s.message();
    return step;
  };
  auto st = ThreadStore();
  if (!st.ok()) return fail(st.status());
  auto list = sources::SourceStore((**st).db()).List();
  if (!list.ok()) return fail(list.status());
  if (list->empty()) return {"sources", "skipped", "no sources (tessera source add)"};
  if (options.key_path.empty()) {
    return fail(FailedPreconditionError(
        "the server has no owner's key to pseudonymize the sources' orders with: start it with "
        "--with-key"));
  }
  auto key = privacy::OwnerKey::Load(options.key_path);
  if (!key.ok()) return fail(key.status());
  sources::RunOptions ro;
  // A stopping server does not wait out a shop's Retry-After.
  ro.retry.stopped = [this] { return scheduler && scheduler->stopping(); };
  std::vector<sources::RunOutcome> outcomes;
  {
    std::lock_guard lock(write_mu);  // one load at a time, as uploads
    ro.match_tokens = collab::PartyStore((**st).db()).Show().ok();
    auto ran = sources::RunSources(**st, *key, {}, ro);
    if (!ran.ok()) return fail(ran.status());
    outcomes = std::move(*ran);
  }
  uint64_t stored = 0;
  for (const sources::RunOutcome& o : outcomes) {
    stored += o.run.orders_stored;
    orders_ingested += o.run.orders_stored;
    if (!step.detail.empty()) step.detail += "; ";
    if (o.status.ok() && o.run.outcome == "refused") {
      // A folder's bad file was moved aside with its note; the others loaded. Someone must look.
      step.outcome = "failed";
      step.detail += fmt::format("{}: {} new orders, {} rejected; refused: {}", o.run.source,
                                 o.run.orders_stored, o.run.rejects, o.run.error);
    } else if (o.status.ok()) {
      step.detail += fmt::format("{}: {} new orders, {} rejected", o.run.source,
                                 o.run.orders_stored, o.run.rejects);
    } else {
      step.outcome = "failed";
      step.detail += fmt::format("{}: failed: {}", o.run.source, o.status.message());
    }
  }
  if (stored > 0) audiences->StoreChanged();
  return step;
}

ScheduledRun::Step Server::Impl::DestinationsStep() {
  ScheduledRun::Step step{"destinations", "ok", ""};
  auto st = ThreadStore();
  auto list = st.ok() ? destinations::DestinationStore(**st).List()
                      : StatusOr<std::vector<destinations::Destination>>(st.status());
  if (!list.ok()) return {"destinations", "failed", list.status().message()};
  if (list->empty())
    return {"destinations", "skipped", "no destinations (tessera destination add)"};
  destinations::DeliverOptions deliver;
  // A stopping server does not wait out a receiver's backoff: the delivery stays pending.
  deliver.policy.stopped = [this] { return scheduler && scheduler->stopping(); };
  auto runs = destinations::DeliverAll(**st, {}, deliver);
  if (!runs.ok()) return {"destinations", "failed", runs.status().message()};
  for (const destinations::DestinationRun& r : *runs) {
    if (!step.detail.empty()) step.detail += "; ";
    if (!r.status.ok()) {
      step.outcome = "failed";
      step.detail += fmt::format("{}: failed: {}", r.destination, r.status.message());
    } else if (r.unchanged) {
      step.detail += fmt::format("{}: no change", r.destination);
    } else if (r.elsewhere) {
      step.detail += fmt::format("{}: in progress elsewhere", r.destination);
    } else {
      uint64_t entered = 0, left = 0;
      for (const destinations::Delivery& d : r.deliveries) {
        entered += d.entered;
        left += d.left;
      }
      step.detail += fmt::format("{}: {} entered, {} left", r.destination, entered, left);
    }
  }
  return step;
}

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
  // The server stopping (SIGTERM) ends the run after the step at hand: each step is whole by
  // itself (loads and deliveries are transactions), the rest runs at the next time.
  auto stopping = [this, &run] {
    if (!scheduler || !scheduler->stopping()) return false;
    for (const char* name : {"sources", "recompute", "destinations"}) {
      const bool done = std::any_of(run.steps.begin(), run.steps.end(),
                                    [&](const ScheduledRun::Step& s) { return s.name == name; });
      if (!done) run.steps.push_back({name, "skipped", "the server stopped"});
    }
    run.outcome = "failed";
    run.finished = UnixNow();
    return true;
  };
  run.steps.push_back(SourcesStep());
  if (run.steps.back().outcome == "failed") run.outcome = "failed";
  if (stopping()) return run;
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
  if (stopping()) return run;
  // Changes are delivered only from a snapshot of this run: after a failed recompute the
  // newest snapshot is the one delivered already.
  if (recomputed.ok()) {
    run.steps.push_back(DestinationsStep());
  } else {
    run.steps.push_back({"destinations", "skipped", "the recompute failed"});
  }
  if (run.steps.back().outcome == "failed") run.outcome = "failed";
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
