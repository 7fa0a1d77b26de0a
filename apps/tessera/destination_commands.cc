// `tessera destination ...`: audience and segment changes delivered to webhooks and CSV drops
// (docs/destinations.md).

#include <cstdio>
#include <string>
#include <vector>

#include "cli_common.h"
#include "tessera/audience/index.h"
#include "tessera/destinations/destinations.h"

namespace tessera {
namespace {

struct DestinationArgs {
  StoreArgs store;
  destinations::Destination destination;
  std::vector<std::string> names;
  std::string name;
  std::string format = "table";
  uint64_t limit = 50;
  uint32_t max_attempts = 5;
  int64_t backoff_ms = 1000, max_backoff_ms = 60000, timeout_ms = 10000;
  bool quiet = false;
};

int RunAdd(DestinationArgs& a, destinations::DestinationKind kind) {
  a.destination.kind = kind;
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  const Status added = destinations::AddDestination(**store, a.destination);
  if (!added.ok()) return Fail(added);
  std::printf("Added destination %s (%s, follows %s). Deliver with `tessera destination run %s`.\n",
              a.destination.name.c_str(), std::string(KindName(kind)).c_str(),
              a.destination.follows.c_str(), a.destination.name.c_str());
  return 0;
}

int RunList(const DestinationArgs& a) {
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  auto list = destinations::DestinationStore(**store).List();
  if (!list.ok()) return Fail(list.status());
  const std::string text = destinations::DestinationsToTable(*list);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

destinations::DeliverOptions OptionsOf(const DestinationArgs& a) {
  destinations::DeliverOptions options;
  options.policy.max_attempts = a.max_attempts;
  options.policy.initial_backoff = std::chrono::milliseconds(a.backoff_ms);
  options.policy.max_backoff = std::chrono::milliseconds(a.max_backoff_ms);
  options.policy.timeout = std::chrono::milliseconds(a.timeout_ms);
  return options;
}

int Report(const std::vector<destinations::DestinationRun>& runs, bool quiet) {
  int rc = 0;
  for (const auto& run : runs) {
    if (!quiet || !run.status.ok()) {
      const std::string text = run.ToText();
      std::fwrite(text.data(), 1, text.size(), run.status.ok() ? stdout : stderr);
    }
    if (!run.status.ok()) rc = kExitError;
  }
  return rc;
}

int RunDeliver(const DestinationArgs& a) {
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  destinations::DeliverOptions options = OptionsOf(a);
  // The audience index kept beside the store, when a destination follows an audience.
  auto list = destinations::DestinationStore(**store).List();
  if (!list.ok()) return Fail(list.status());
  bool audiences = false;
  for (const auto& d : *list) audiences |= d.follows.starts_with("audience:");
  std::optional<audience::AudienceIndex> index;
  if (audiences) {
    bool rebuilt = false;
    auto loaded = audience::LoadOrBuildIndex(
        **store, audience::DefaultIndexPath(a.store.store, (*store)->Describe()), &rebuilt);
    if (loaded.ok()) {
      index = std::move(*loaded);
      options.index = &*index;
    }  // else each destination that needs it says why
  }
  auto runs = destinations::DeliverAll(**store, a.names, options);
  if (!runs.ok()) return Fail(runs.status());
  if (runs->empty()) std::printf("No destinations (add one with `tessera destination add`).\n");
  return Report(*runs, a.quiet);
}

int RunRetry(const DestinationArgs& a) {
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  auto run = destinations::RetryOutstanding(**store, a.name, OptionsOf(a));
  if (!run.ok()) return Fail(run.status());
  if (run->deliveries.empty() && !run->elsewhere && run->status.ok()) {
    std::printf("%s: nothing outstanding\n", a.name.c_str());
    return 0;
  }
  return Report({*run}, a.quiet);
}

int RunLog(const DestinationArgs& a) {
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  destinations::DestinationStore ds(**store);
  if (!a.name.empty()) {
    if (auto d = ds.Get(a.name); !d.ok()) return Fail(d.status());
  }
  auto log = ds.Log(a.name, a.limit);
  if (!log.ok()) return Fail(log.status());
  const std::string text =
      a.format == "json" ? destinations::LogToJson(*log) : destinations::LogToTable(*log);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int RunRemove(const DestinationArgs& a) {
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  auto removed = destinations::DestinationStore(**store).Remove(a.name);
  if (!removed.ok()) return Fail(removed.status());
  if (!*removed) return Fail(NotFoundError("no destination named '{}'", a.name));
  std::printf("Removed destination %s, its baseline and its log.\n", a.name.c_str());
  return 0;
}

void AddRetryOptions(CLI::App* cmd, DestinationArgs* a) {
  cmd->add_option("--max-attempts", a->max_attempts,
                  "Attempts per delivery in this run before it is dead")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  cmd->add_option("--backoff-ms", a->backoff_ms,
                  "First wait after a failed attempt (doubled each time)")
      ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}))
      ->capture_default_str();
  cmd->add_option("--max-backoff-ms", a->max_backoff_ms, "The longest wait, also of a Retry-After")
      ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}))
      ->capture_default_str();
  cmd->add_option("--timeout-ms", a->timeout_ms,
                  "The most a request may take, connect, send and answer together")
      ->check(CLI::Range(int64_t{1}, int64_t{600'000}))
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", a->quiet, "Report failures only");
}

}  // namespace

void AddDestinationCommands(CLI::App& app, int* rc) {
  static DestinationArgs args;
  auto* dest = app.add_subcommand(
      "destination",
      "Deliver who entered and who left a segment or saved audience to webhooks and CSV drops "
      "(pseudonyms only; docs/destinations.md)");
  dest->require_subcommand(1);

  auto* add = dest->add_subcommand("add", "Add a destination");
  add->require_subcommand(1);
  const auto common = [&](CLI::App* cmd) {
    AddStoreOptions(cmd, &args.store, false);
    cmd->add_option("--name", args.destination.name, "The destination's name")->required();
    cmd->add_option("--follows", args.destination.follows,
                    "segment:<key> (of the newest snapshot) or audience:<saved audience name>")
        ->required();
  };
  auto* webhook = add->add_subcommand(
      "webhook", "POST signed JSON with the pseudonyms who entered and left to a URL");
  common(webhook);
  webhook->add_option("--url", args.destination.url, "http:// or https:// URL")->required();
  auto* env = webhook->add_option("--secret-env", args.destination.secret_env,
                                  "The NAME of the environment variable holding the signing "
                                  "secret (read at delivery, never stored)");
  auto* file = webhook->add_option("--secret-file", args.destination.secret_file,
                                   "A file holding the signing secret (read at delivery)");
  env->excludes(file);
  webhook
      ->add_option("--batch-size", args.destination.batch_size,
                   "At most this many pseudonyms per request")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  webhook->footer(
      "Example: tessera destination add webhook --name crm --follows segment:champions \\\n"
      "           --url https://crm.example.com/tessera --secret-env CRM_HOOK_SECRET");
  webhook->callback([rc] { *rc = RunAdd(args, destinations::DestinationKind::kWebhook); });

  auto* csv = add->add_subcommand(
      "csv", "Write <dir>/<name>-<snapshot>-entered.csv and -left.csv (column uuid)");
  common(csv);
  csv->add_option("--dir", args.destination.dir, "The folder to write to")->required();
  csv->callback([rc] { *rc = RunAdd(args, destinations::DestinationKind::kCsv); });

  auto* list = dest->add_subcommand("list", "The destinations");
  AddStoreOptions(list, &args.store, false);
  list->callback([rc] { *rc = RunList(args); });

  auto* run = dest->add_subcommand(
      "run", "Deliver the changes for the store's newest snapshot (outstanding deliveries first)");
  AddStoreOptions(run, &args.store, false);
  run->add_option("names", args.names, "Destinations (default: all)");
  AddRetryOptions(run, &args);
  run->callback([rc] { *rc = RunDeliver(args); });

  auto* log = dest->add_subcommand("log", "The delivery log, newest first");
  AddStoreOptions(log, &args.store, false);
  log->add_option("name", args.name, "Only this destination");
  log->add_option("--format", args.format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  log->add_option("--limit", args.limit, "At most this many entries")->capture_default_str();
  log->callback([rc] { *rc = RunLog(args); });

  auto* retry = dest->add_subcommand(
      "retry", "Retry a destination's pending or dead delivery now (no new change)");
  AddStoreOptions(retry, &args.store, false);
  retry->add_option("name", args.name, "The destination")->required();
  AddRetryOptions(retry, &args);
  retry->callback([rc] { *rc = RunRetry(args); });

  auto* remove = dest->add_subcommand("remove", "Remove a destination, its baseline and its log");
  AddStoreOptions(remove, &args.store, false);
  remove->add_option("name", args.name, "The destination")->required();
  remove->callback([rc] { *rc = RunRemove(args); });
}

}  // namespace tessera
