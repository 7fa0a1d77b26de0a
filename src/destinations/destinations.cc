#include "tessera/destinations/destinations.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "destinations/delivery.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/audience/audience_store.h"
#include "tessera/audience/audiences.h"
#include "tessera/audience/expression.h"
#include "tessera/audience/index.h"
#include "tessera/common/text.h"

namespace tessera::destinations {

StatusOr<Follows> Follows::Parse(std::string_view text) {
  Follows f;
  std::string_view name;
  if (text.starts_with("segment:")) {
    f.type = Type::kSegment;
    name = text.substr(8);
  } else if (text.starts_with("audience:")) {
    f.type = Type::kAudience;
    name = text.substr(9);
  } else {
    return InvalidArgumentError(
        "--follows: expected segment:<key> (a segment of the newest snapshot) or "
        "audience:<name> (a saved audience), got '{}'",
        text);
  }
  if (TrimWhitespace(name).empty()) {
    return InvalidArgumentError("--follows: the {} name is empty",
                                f.type == Type::kSegment ? "segment" : "audience");
  }
  f.name = std::string(name);
  return f;
}

std::string Follows::ToString() const {
  return (type == Type::kSegment ? "segment:" : "audience:") + name;
}

Status ValidateDestination(const Destination& d) {
  if (d.name.empty() || d.name.size() > 64 ||
      !std::all_of(d.name.begin(), d.name.end(),
                   [](char c) {
                     return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                   }) ||
      d.name[0] == '.') {
    return InvalidArgumentError(
        "a destination name is 1 to 64 letters, digits, '_', '-' and '.' (not first), as it "
        "names files");
  }
  TESSERA_RETURN_IF_ERROR(Follows::Parse(d.follows).status());
  if (d.kind == DestinationKind::kWebhook) {
    TESSERA_RETURN_IF_ERROR(SplitUrl(d.url).status());
    if (d.secret_env.empty() == d.secret_file.empty()) {
      return InvalidArgumentError(
          "a webhook needs exactly one of --secret-env (the NAME of an environment variable) "
          "and --secret-file (a file holding the secret)");
    }
    if (!d.secret_env.empty() && !std::all_of(d.secret_env.begin(), d.secret_env.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_';
        })) {
      return InvalidArgumentError(
          "--secret-env takes the NAME of an environment variable (letters, digits, _), not "
          "the secret");
    }
    if (d.batch_size == 0) return InvalidArgumentError("--batch-size must be at least 1");
  } else if (d.dir.empty()) {
    return InvalidArgumentError("a csv destination needs --dir");
  }
  return OkStatus();
}

namespace {

// The segment with this key, else with this English or German name (case-insensitive); -1.
int FindSegment(const std::vector<analytics::SnapshotSegment>& segments, std::string_view name) {
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].key == name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    if (EqualsIgnoreCase(segments[i].key, name) || EqualsIgnoreCase(segments[i].name_en, name) ||
        EqualsIgnoreCase(segments[i].name_de, name)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::string SegmentKeys(const std::vector<analytics::SnapshotSegment>& segments) {
  std::string out;
  for (const auto& s : segments) (out += out.empty() ? "" : ", ") += s.key;
  return out;
}

// A typo in --follows is caught when the destination is added, where it can be: an audience
// must be saved, a segment one of the newest snapshot's (any, before the first snapshot).
Status CheckFollowed(store::Store& store, const Follows& f) {
  if (f.type == Follows::Type::kAudience) {
    TESSERA_ASSIGN_OR_RETURN(auto audiences, audience::AudienceStore(store).List());
    for (const auto& a : audiences) {
      if (a.name == f.name) return OkStatus();
    }
    return NotFoundError(
        "no saved audience named '{}' (save it first with `tessera audience save`)", f.name);
  }
  analytics::SnapshotStore snapshots(store);
  TESSERA_ASSIGN_OR_RETURN(auto list, snapshots.List());
  if (list.empty()) return OkStatus();
  TESSERA_ASSIGN_OR_RETURN(auto segments, snapshots.Segments(list.back().id));
  if (FindSegment(segments, f.name) >= 0) return OkStatus();
  return NotFoundError("the newest snapshot has no segment '{}'; its segments: {}", f.name,
                       SegmentKeys(segments));
}

}  // namespace

Status AddDestination(store::Store& store, const Destination& d) {
  TESSERA_RETURN_IF_ERROR(ValidateDestination(d));
  TESSERA_RETURN_IF_ERROR(CheckFollowed(store, *Follows::Parse(d.follows)));
  return DestinationStore(store).Add(d);
}

ChangeSet Diff(const std::vector<privacy::Uuid>& before, const std::vector<privacy::Uuid>& now) {
  ChangeSet c;
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(),
                      std::back_inserter(c.entered));
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(),
                      std::back_inserter(c.left));
  return c;
}

namespace {

// The members of what destinations follow at the newest snapshot, read once per run: the
// snapshot's profiles for segments, the audience index for audiences.
class MemberSource {
 public:
  MemberSource(store::Store& store, const audience::AudienceIndex* index)
      : store_(store), given_index_(index) {}

  StatusOr<Members> Of(const Follows& follows) {
    Members m;
    if (follows.type == Follows::Type::kSegment) {
      if (!snapshot_) {
        TESSERA_ASSIGN_OR_RETURN(auto s, analytics::LoadSnapshot(store_, 0, true));
        snapshot_ = std::move(s);
      }
      const int found = FindSegment(snapshot_->segments, follows.name);
      if (found < 0) {
        return NotFoundError("snapshot {} has no segment '{}'; its segments: {}",
                             snapshot_->info.id, follows.name, SegmentKeys(snapshot_->segments));
      }
      m.snapshot_id = snapshot_->info.id;
      for (const auto& p : snapshot_->profiles) {
        if (p.segment == found) m.uuids.push_back(snapshot_->uuids[p.customer]);
      }
    } else {
      TESSERA_ASSIGN_OR_RETURN(const audience::AudienceIndex* index, Index());
      TESSERA_ASSIGN_OR_RETURN(auto audiences, audience::AudienceStore(store_).List());
      auto it = std::find_if(audiences.begin(), audiences.end(),
                             [&](const auto& a) { return a.name == follows.name; });
      if (it == audiences.end()) {
        return NotFoundError("no saved audience named '{}' (see `tessera audience list`)",
                             follows.name);
      }
      auto e = audience::Expression::Parse(it->expression, *index);
      if (!e.ok()) {
        return InvalidArgumentError("the saved audience '{}' no longer parses: {}", follows.name,
                                    e.status().message());
      }
      if (uuids_.empty()) {
        TESSERA_ASSIGN_OR_RETURN(uuids_, store_.CustomerPseudonyms());
      }
      m.snapshot_id = index->info().snapshot_id;
      for (uint32_t c : e->Evaluate().ToVector()) {
        if (c < uuids_.size()) m.uuids.push_back(uuids_[c]);
      }
    }
    std::sort(m.uuids.begin(), m.uuids.end());
    return m;
  }

  // kFailedPrecondition when `members` are fewer than the owner's minimum export size, saying
  // what `consequence` that has.
  Status CheckMinimum(const Follows& follows, const Members& members,
                      std::string_view consequence) {
    if (!minimum_) {
      TESSERA_ASSIGN_OR_RETURN(const uint64_t minimum, audience::MinExportSize(store_));
      minimum_ = minimum;
    }
    if (members.uuids.size() >= *minimum_) return OkStatus();
    return FailedPreconditionError(
        "{} has {} customers, fewer than the minimum export size {} that the data owner set "
        "(`tessera audience policy`); {}",
        follows.ToString(), members.uuids.size(), *minimum_, consequence);
  }

 private:
  StatusOr<const audience::AudienceIndex*> Index() {
    if (built_) return &*built_;
    TESSERA_ASSIGN_OR_RETURN(auto snapshots, analytics::SnapshotStore(store_).List());
    if (snapshots.empty()) {
      return NotFoundError(
          "the store has no snapshot yet: make one with `tessera snapshots create`");
    }
    if (given_index_ != nullptr && given_index_->info().snapshot_id == snapshots.back().id) {
      return given_index_;
    }
    TESSERA_ASSIGN_OR_RETURN(auto index, audience::BuildIndex(store_));
    built_ = std::move(index);
    return &*built_;
  }

  store::Store& store_;
  const audience::AudienceIndex* given_index_;
  std::optional<audience::AudienceIndex> built_;
  std::optional<analytics::Snapshot> snapshot_;
  std::vector<privacy::Uuid> uuids_;
  std::optional<uint64_t> minimum_;
};

// Tries `delivery` (outstanding or new) and appends how it ended to `run`.
Status Attempt(DestinationStore& ds, const Lease& lease, const Destination& d,
               const Delivery& delivery, const DeliveryPolicy& policy, DestinationRun& run) {
  TESSERA_ASSIGN_OR_RETURN(ChangeSet change, ds.Change(delivery.id));
  Delivery ended = delivery;
  Status sent = d.kind == DestinationKind::kWebhook
                    ? SendWebhook(ds, lease, d, change, policy, ended)
                    : DropCsv(ds, lease, d, change, policy, ended);
  run.deliveries.push_back(ended);
  return sent;
}

DeliveryPolicy WithDefaults(DeliveryPolicy policy) {
  if (!policy.sleep && policy.stopped) {
    // In slices, so that a stopping server does not wait out a minute of backoff.
    policy.sleep = [stopped = policy.stopped](std::chrono::milliseconds ms) {
      const auto until = std::chrono::steady_clock::now() + ms;
      while (!stopped() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            std::chrono::milliseconds(100), until - std::chrono::steady_clock::now()));
      }
    };
  }
  if (!policy.sleep) {
    policy.sleep = [](std::chrono::milliseconds ms) { std::this_thread::sleep_for(ms); };
  }
  if (!policy.now) {
    policy.now = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  if (policy.max_attempts == 0) policy.max_attempts = 1;
  return policy;
}

// Longer than the longest a run goes without renewing its lease (a request, then a wait before
// the next attempt), twice, with a minute to spare for the store.
std::chrono::milliseconds LeaseDuration(const DeliveryPolicy& policy) {
  return 2 * (policy.timeout + policy.max_backoff) + std::chrono::minutes(1);
}

DestinationRun RunOne(store::Store& store, const Destination& d, MemberSource* members,
                      const std::string& holder, const DeliveryPolicy& policy) {
  DestinationRun run;
  run.destination = d.name;
  DestinationStore ds(store);
  const Lease lease{d.name, holder, LeaseDuration(policy)};
  auto other = ds.Claim(lease);
  if (!other.ok() || other->has_value()) {
    // Another run (the schedule of `tessera serve`, a `tessera destination run`) is delivering
    // it: it is left to that one, which sends each batch once.
    if (other.ok()) run.elsewhere = **other;
    run.status = other.status();
    return run;
  }
  run.status = [&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(auto outstanding, ds.Outstanding(d.name));
    if (outstanding) {
      TESSERA_RETURN_IF_ERROR(Attempt(ds, lease, d, *outstanding, policy, run));
    }
    if (members == nullptr) {
      run.unchanged = !outstanding.has_value();
      return OkStatus();
    }
    TESSERA_ASSIGN_OR_RETURN(const Follows follows, Follows::Parse(d.follows));
    TESSERA_ASSIGN_OR_RETURN(const Members now, members->Of(follows));
    TESSERA_ASSIGN_OR_RETURN(const auto before, ds.Baseline(d.name));
    ChangeSet change = Diff(before, now.uuids);
    // Privacy: below the minimum export size no one is delivered as a member (who entered is
    // held back, and stays out of the baseline, so it enters in a later delivery once the set
    // is large enough again); who left is delivered always, as the receiver must stop treating
    // them as members, and names no one it was not delivered before.
    Status small = members->CheckMinimum(
        follows, now, "who entered is held back until it has as many, who left is delivered");
    if (change.entered.empty()) small = OkStatus();  // nothing held back
    if (!small.ok()) {
      run.held_back = change.entered.size();
      change.entered.clear();
    }
    if (change.entered.empty() && change.left.empty()) {
      run.unchanged = !outstanding.has_value() && small.ok();
      return small;
    }
    TESSERA_ASSIGN_OR_RETURN(
        const Delivery created,
        ds.CreateDelivery(lease, now.snapshot_id, change, BatchCount(d, change)));
    TESSERA_RETURN_IF_ERROR(Attempt(ds, lease, d, created, policy, run));
    return small;
  }();
  // Best effort: a lease not released runs out by itself.
  (void)ds.Release(lease);
  return run;
}

}  // namespace

StatusOr<Members> CurrentMembers(store::Store& store, const Follows& follows,
                                 const audience::AudienceIndex* index) {
  MemberSource source(store, index);
  TESSERA_ASSIGN_OR_RETURN(Members members, source.Of(follows));
  TESSERA_RETURN_IF_ERROR(source.CheckMinimum(follows, members, "they are not exported"));
  return members;
}

StatusOr<std::vector<DestinationRun>> DeliverAll(store::Store& store,
                                                 const std::vector<std::string>& names,
                                                 const DeliverOptions& options) {
  DestinationStore ds(store);
  std::vector<Destination> chosen;
  if (names.empty()) {
    TESSERA_ASSIGN_OR_RETURN(chosen, ds.List());
  } else {
    for (const auto& name : names) {
      TESSERA_ASSIGN_OR_RETURN(Destination d, ds.Get(name));
      chosen.push_back(std::move(d));
    }
  }
  TESSERA_ASSIGN_OR_RETURN(auto snapshots, analytics::SnapshotStore(store).List());
  if (snapshots.empty()) {
    return NotFoundError("the store has no snapshot yet: make one with `tessera snapshots create`");
  }
  const DeliveryPolicy policy = WithDefaults(options.policy);
  MemberSource members(store, options.index);
  const std::string holder = NewLeaseHolder();
  std::vector<DestinationRun> runs;
  for (const auto& d : chosen) runs.push_back(RunOne(store, d, &members, holder, policy));
  return runs;
}

StatusOr<DestinationRun> RetryOutstanding(store::Store& store, const std::string& name,
                                          const DeliverOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(Destination d, DestinationStore(store).Get(name));
  return RunOne(store, d, nullptr, NewLeaseHolder(), WithDefaults(options.policy));
}

std::string DestinationRun::ToText() const {
  std::string out;
  for (const auto& d : deliveries) {
    out += fmt::format(
        "{}: delivery {} (snapshot {}): {} entered, {} left: {} after {} attempt{}{}\n",
        destination, d.id, d.snapshot_id, d.entered, d.left, StatusName(d.status), d.attempts,
        d.attempts == 1 ? "" : "s", d.last_error.empty() ? "" : " (" + d.last_error + ")");
  }
  if (unchanged) out += fmt::format("{}: no change since the last delivery\n", destination);
  if (elsewhere) {
    out += fmt::format("{}: in progress elsewhere (run {} holds it for up to {} s more); skipped\n",
                       destination, elsewhere->holder, (elsewhere->remaining_ms + 999) / 1000);
  }
  // A failure the last delivery does not already explain (e.g. after a retried one succeeded).
  if (!status.ok() &&
      (deliveries.empty() || deliveries.back().status == DeliveryStatus::kDelivered)) {
    out += fmt::format("{}: not delivered: {}\n", destination, status.message());
  }
  return out;
}

}  // namespace tessera::destinations
