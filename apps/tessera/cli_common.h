#pragma once

// Pieces every tessera subcommand shares: error exit, store/key options, atomic output files.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/store/store.h"

namespace tessera {

inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

inline int Fail(const Status& status) {
  std::fprintf(stderr, "tessera: error: %s\n", status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitError;
}

// Options shared by every command that reads or writes a store.
struct StoreArgs {
  std::string store = store::DefaultStoreLocation();
  std::string key = privacy::DefaultKeyPath();
};

inline void AddStoreOptions(CLI::App* cmd, StoreArgs* args, bool with_key) {
  cmd->add_option("--store", args->store,
                  "Store location: a file path (the embedded SQLite store) or a PostgreSQL URL, "
                  "postgresql://user@host/db (docs/deployment.md)")
      ->envname("TESSERA_STORE")
      ->capture_default_str();
  if (with_key) {
    cmd->add_option("--key", args->key, "The data owner's key file (see `tessera keys init`)")
        ->envname("TESSERA_KEY")
        ->capture_default_str();
  }
}

// Opens the output: a file (written to a temporary name and renamed, so readers never see
// half a file) or stdout.
class Output {
 public:
  static StatusOr<std::unique_ptr<Output>> Open(const std::string& path) {
    auto out = std::unique_ptr<Output>(new Output());
    if (path.empty() || path == "-") {
      out->file_ = stdout;
      return out;
    }
    out->path_ = path;
    out->tmp_ = path + ".tmp";
    out->file_ = std::fopen(out->tmp_.c_str(), "wb");
    if (out->file_ == nullptr) return PermissionDeniedError("cannot write {}", path);
    return out;
  }
  std::FILE* file() { return file_; }
  Status Commit() {
    if (path_.empty())
      return std::fflush(file_) == 0 ? OkStatus() : InternalError("cannot write output");
    const bool ok = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0)
      return InternalError("cannot write {}", path_);
    return OkStatus();
  }
  ~Output() {
    if (file_ != nullptr && !path_.empty()) {
      std::fclose(file_);
      std::remove(tmp_.c_str());
    }
  }

 private:
  Output() = default;
  std::FILE* file_ = nullptr;
  std::string path_, tmp_;
};

// `tessera clv fit|evaluate|score` (clv_commands.cc); sets *rc when one runs.
void AddClvCommands(CLI::App& app, int* rc);
// `tessera snapshots ...` and `tessera bi-role` (snapshot_commands.cc).
void AddSnapshotCommands(CLI::App& app, int* rc);
// `tessera serve` and `tessera keys api ...` under `keys` (serve_commands.cc).
void AddServeCommands(CLI::App& app, CLI::App* keys, int* rc);
// `tessera audience ...` (audience_commands.cc).
void AddAudienceCommands(CLI::App& app, int* rc);
// After a load or a new snapshot: when the store has a snapshot, brings the audience index file
// (at its default place) up to date, so that the next `tessera audience` command need not
// rebuild it; says so on stderr unless `quiet`. A failure is a warning, not an error: the next
// audience command rebuilds (audience_commands.cc).
void UpdateAudienceIndex(store::Store& store, const std::string& location, bool quiet);
// `tessera match` (audience_commands.cc).
void AddMatchCommand(CLI::App& app, int* rc);

}  // namespace tessera
