// `tessera snapshots create|list|show|migration|prune` and `tessera bi-role`: kept
// recomputations and the read-only access of BI tools.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "analysis.h"
#include "cli_common.h"
#include "tessera/analytics/snapshots.h"

namespace tessera {
namespace {

struct SnapshotArgs {
  StoreArgs store;
  AnalysisArgs analysis;
  std::string format = "table";
  std::string output;
  std::string id = "latest";
  std::string from, to;
  uint64_t keep = 0;
  bool quiet = false;
};

// "latest" (or empty) is 0; otherwise a positive id.
StatusOr<int64_t> ParseSnapshotId(const std::string& text, const char* option) {
  if (text.empty() || text == "latest") return int64_t{0};
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v <= 0) {
    return InvalidArgumentError(
        "{}: expected a snapshot id (a positive number) or latest, got '{}'", option, text);
  }
  return static_cast<int64_t>(v);
}

Status Write(const std::string& output, const std::string& text) {
  TESSERA_ASSIGN_OR_RETURN(auto out, Output::Open(output));
  std::fwrite(text.data(), 1, text.size(), out->file());
  return out->Commit();
}

std::string Render(const analytics::SegmentReport& report, const std::string& format) {
  return format == "json" ? report.ToJson() : format == "csv" ? report.ToCsv() : report.ToTable();
}

Status RunCreate(const SnapshotArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(Analysis analysis, RunAnalysis(a.store, a.analysis));
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(const int64_t id,
                           analytics::SaveSnapshot(*store, analysis.set, analysis.rules));
  auto report = analytics::BuildReport(analysis.set, analysis.rules, analysis.lang);
  report.snapshot_id = id;
  if (!a.quiet)
    std::fprintf(stderr, "Kept snapshot %lld in %s\n", static_cast<long long>(id),
                 store->Describe().c_str());
  TESSERA_RETURN_IF_ERROR(Write(a.output, Render(report, a.format)));
  UpdateAudienceIndex(*store, a.store.store, a.quiet);
  return OkStatus();
}

Status RunList(const SnapshotArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto all, analytics::SnapshotStore(*store).List());
  return Write(a.output, a.format == "json" ? analytics::SnapshotsToJson(all)
                                            : analytics::SnapshotsToTable(all));
}

Status RunShow(const SnapshotArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(const int64_t id, ParseSnapshotId(a.id, "snapshot"));
  TESSERA_ASSIGN_OR_RETURN(auto lang, analytics::ParseLang(a.analysis.lang));
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto snapshot, analytics::LoadSnapshot(*store, id, false));
  return Write(a.output, Render(analytics::SnapshotReport(snapshot, lang), a.format));
}

Status RunMigration(const SnapshotArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(const int64_t from, ParseSnapshotId(a.from, "--from"));
  TESSERA_ASSIGN_OR_RETURN(const int64_t to, ParseSnapshotId(a.to, "--to"));
  if ((from == 0) != (to == 0)) {
    return InvalidArgumentError("give both --from and --to, or neither (the two newest)");
  }
  TESSERA_ASSIGN_OR_RETURN(auto lang, analytics::ParseLang(a.analysis.lang));
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto m, analytics::ComputeMigration(*store, from, to));
  return Write(a.output, a.format == "json"  ? m.ToJson(lang)
                         : a.format == "csv" ? m.ToCsv(lang)
                                             : m.ToTable(lang));
}

Status RunPrune(const SnapshotArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(const uint64_t n, analytics::SnapshotStore(*store).Prune(a.keep));
  std::fprintf(stderr, "Deleted %llu snapshot(s); kept the newest %llu\n",
               static_cast<unsigned long long>(n), static_cast<unsigned long long>(a.keep));
  return OkStatus();
}

Status RunBiRole(const StoreArgs& sa, const std::string& role, const std::string& password_env) {
  std::string password;
  if (!password_env.empty()) {
    const char* v = std::getenv(password_env.c_str());
    if (v == nullptr || *v == '\0') {
      return InvalidArgumentError("--password-env: the environment variable {} is not set",
                                  password_env);
    }
    password = v;
  }
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(sa.store, false));
  TESSERA_RETURN_IF_ERROR(analytics::SnapshotStore(*store).CreateReadOnlyRole(role, password));
  std::printf(
      "Role %s may now read the views in schema tessera_bi of %s, and nothing else.\n"
      "Views: snapshots, segments, segments_latest, profiles, profiles_latest, "
      "segment_migration_latest (docs/bi.md).\n",
      role.c_str(), store->Describe().c_str());
  return OkStatus();
}

}  // namespace

void AddSnapshotCommands(CLI::App& app, int* rc) {
  static SnapshotArgs create_args, list_args, show_args, migration_args, prune_args;
  auto* cmd = app.add_subcommand(
      "snapshots",
      "Keep recomputations (profiles, scores, segments) in the store and compare them");
  cmd->require_subcommand(1);
  cmd->footer(
      "Examples:\n"
      "  tessera snapshots create --window 24m            # after each load, e.g. nightly\n"
      "  tessera snapshots list\n"
      "  tessera snapshots show latest --format csv --lang de\n"
      "  tessera snapshots migration                      # the two newest snapshots\n"
      "  tessera snapshots prune --keep 90\n"
      "BI tools read snapshots through read-only views (docs/bi.md).");
  auto run = [rc](Status (*fn)(const SnapshotArgs&), const SnapshotArgs* a) {
    return [rc, fn, a] {
      const Status s = fn(*a);
      *rc = s.ok() ? 0 : Fail(s);
    };
  };
  auto formats = [](CLI::App* c, SnapshotArgs* a, std::vector<std::string> allowed) {
    std::string help;
    for (const auto& f : allowed) help += (help.empty() ? "" : ", ") + f;
    c->add_option("--format", a->format, help)
        ->check(CLI::IsMember(allowed))
        ->capture_default_str();
    c->add_option("--output,-o", a->output, "Write to this file instead of stdout");
  };

  auto* create = cmd->add_subcommand(
      "create", "Compute profiles, scores and segments now and keep them as a new snapshot");
  AddStoreOptions(create, &create_args.store, false);
  AddAnalysisOptions(create, &create_args.analysis);
  formats(create, &create_args, {"table", "json", "csv"});
  create->add_flag("--quiet,-q", create_args.quiet, "Do not say which snapshot was kept");
  create->callback(run(RunCreate, &create_args));

  auto* list = cmd->add_subcommand("list", "List the kept snapshots, oldest first");
  AddStoreOptions(list, &list_args.store, false);
  formats(list, &list_args, {"table", "json"});
  list->callback(run(RunList, &list_args));

  auto* show = cmd->add_subcommand("show", "A snapshot's segment statistics, as kept");
  show->add_option("snapshot", show_args.id, "Snapshot id or latest")->capture_default_str();
  AddStoreOptions(show, &show_args.store, false);
  show->add_option("--lang", show_args.analysis.lang, "Segment names in en or de")
      ->capture_default_str();
  formats(show, &show_args, {"table", "json", "csv"});
  show->callback(run(RunShow, &show_args));

  auto* migration = cmd->add_subcommand(
      "migration", "How many customers moved from each segment to each other between snapshots");
  migration->add_option("--from", migration_args.from,
                        "Older snapshot id (default: the second newest)");
  migration->add_option("--to", migration_args.to, "Newer snapshot id (default: the newest)");
  AddStoreOptions(migration, &migration_args.store, false);
  migration->add_option("--lang", migration_args.analysis.lang, "Segment names in en or de")
      ->capture_default_str();
  formats(migration, &migration_args, {"table", "json", "csv"});
  migration->callback(run(RunMigration, &migration_args));

  auto* prune = cmd->add_subcommand("prune", "Delete all but the newest snapshots");
  prune->add_option("--keep", prune_args.keep, "How many of the newest snapshots to keep")
      ->required();
  AddStoreOptions(prune, &prune_args.store, false);
  prune->callback(run(RunPrune, &prune_args));

  static StoreArgs role_store;
  static std::string role, password_env;
  auto* bi = app.add_subcommand(
      "bi-role", "PostgreSQL: grant a role the BI views (schema tessera_bi) and nothing else");
  bi->add_option("role", role, "Role name, e.g. tessera_bi_reader")->required();
  bi->add_option("--password-env", password_env,
                 "Environment variable holding the role's password (makes it a login role; "
                 "needs CREATEROLE). Without it a new role is NOLOGIN and an existing one keeps "
                 "its login and password");
  AddStoreOptions(bi, &role_store, false);
  bi->footer(
      "Example (docs/deployment.md, \"Roles\"):\n"
      "  sudo -u postgres createuser --pwprompt powerbi   # a superuser creates the login role\n"
      "  tessera bi-role powerbi --store postgresql://tessera_owner@db/tessera  # owner grants\n"
      "Power BI or Tableau then connect as that role and read tessera_bi.segments_latest,\n"
      "tessera_bi.profiles_latest, ... A role that may do more (a superuser, a member of the\n"
      "owner) is refused.");
  bi->callback([rc] {
    const Status s = RunBiRole(role_store, role, password_env);
    *rc = s.ok() ? 0 : Fail(s);
  });
}

}  // namespace tessera
