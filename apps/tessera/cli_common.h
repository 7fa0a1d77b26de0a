#pragma once

// Pieces every tessera subcommand shares: error exit, store/key options, atomic output files.

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/server/store_tables.h"
#include "tessera/store/store.h"

namespace tessera {

inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// Exit 2 for what the user gave (an invalid argument or input, a file, key, store or snapshot
// that does not exist), 1 for everything else (README: "1 error, 2 usage or invalid input").
inline int Fail(const Status& status) {
  std::fprintf(stderr, "tessera: error: %s\n", status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument || status.code() == StatusCode::kNotFound
             ? kExitUsage
             : kExitError;
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

// Opens the output: a file, written to a temporary name beside it and renamed once complete
// (readers never see half a file, a full disk leaves none); a device or a pipe, written in
// place (there is nothing to rename: /dev/stdout, a FIFO); or stdout. Every write error
// surfaces in Commit (the stream's error flag, the flush, fsync and close).
class Output {
 public:
  // Errors: kInvalidArgument for a directory; kNotFound when the directory it would be in does
  // not exist (usage, exit 2, like a missing input); kPermissionDenied when it cannot be
  // created otherwise.
  static StatusOr<std::unique_ptr<Output>> Open(const std::string& path) {
    auto out = std::unique_ptr<Output>(new Output());
    if (path.empty() || path == "-") {
      out->file_ = stdout;
      return out;
    }
    out->path_ = path;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      if (S_ISDIR(st.st_mode)) {
        return InvalidArgumentError("{} is a directory; name a file to write", path);
      }
      out->file_ = std::fopen(path.c_str(), "wb");
      if (out->file_ == nullptr) return CannotCreate(path, errno);
      out->in_place_ = true;
      return out;
    }
    // A name of its own (two writers of the same file do not share one), created here.
    out->tmp_ = fmt::format("{}.tmp-{}", path, ::getpid());
    const int fd = ::open(out->tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return CannotCreate(path, errno);
    out->file_ = ::fdopen(fd, "wb");
    if (out->file_ == nullptr) {
      ::close(fd);
      ::unlink(out->tmp_.c_str());
      return InternalError("cannot write {}", path);
    }
    return out;
  }
  std::FILE* file() { return file_; }

  // Errors: kResourceExhausted for a full disk, kInternal for any other write error; the
  // file is then left as it was (a new one is not created).
  Status Commit() {
    const char* name = path_.empty() ? "standard output" : path_.c_str();
    int err = 0;
    errno = 0;
    if (std::fflush(file_) != 0 || std::ferror(file_)) err = errno != 0 ? errno : EIO;
    if (path_.empty()) return WriteError(name, err);
    if (!in_place_ && err == 0 && ::fsync(::fileno(file_)) != 0) err = errno;
    if (std::fclose(file_) != 0 && err == 0) err = errno != 0 ? errno : EIO;
    file_ = nullptr;
    if (in_place_) return WriteError(name, err);
    if (err == 0 && std::rename(tmp_.c_str(), path_.c_str()) != 0) err = errno;
    if (err != 0) ::unlink(tmp_.c_str());
    return WriteError(name, err);
  }
  ~Output() {
    if (file_ != nullptr && !path_.empty()) {
      std::fclose(file_);
      if (!in_place_) std::remove(tmp_.c_str());
    }
  }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

 private:
  Output() = default;
  static Status CannotCreate(const std::string& path, int err) {
    if (err == ENOENT || err == ENOTDIR) {
      return NotFoundError("cannot write {}: {}", path, std::strerror(err));
    }
    return PermissionDeniedError("cannot write {}: {}", path, std::strerror(err));
  }
  static Status WriteError(const char* name, int err) {
    if (err == 0) return OkStatus();
    if (err == ENOSPC || err == EDQUOT) {
      return ResourceExhaustedError("cannot write {}: {}", name, std::strerror(err));
    }
    return InternalError("cannot write {}: {}", name, std::strerror(err));
  }
  std::FILE* file_ = nullptr;
  std::string path_, tmp_;
  bool in_place_ = false;
};

// `tessera clv fit|evaluate|score` (clv_commands.cc); sets *rc when one runs.
void AddClvCommands(CLI::App& app, int* rc);
// `tessera snapshots ...` and `tessera bi-role` (snapshot_commands.cc).
void AddSnapshotCommands(CLI::App& app, int* rc);
// `tessera serve` and `tessera keys api ...` under `keys` (serve_commands.cc).
void AddServeCommands(CLI::App& app, CLI::App* keys, int* rc);
// `tessera audience ...` (audience_commands.cc).
void AddAudienceCommands(CLI::App& app, int* rc);
void AddCollabCommands(CLI::App& app, int* rc);
// After a load or a new snapshot: when the store has a snapshot, brings the audience index file
// (at its default place) up to date, so that the next `tessera audience` command need not
// rebuild it; says so on stderr unless `quiet`. A failure is a warning, not an error: the next
// audience command rebuilds (audience_commands.cc).
void UpdateAudienceIndex(store::Store& store, const std::string& location, bool quiet);
// `tessera source add|list|run|remove` (source_commands.cc).
void AddSourceCommands(CLI::App& app, int* rc);
// `tessera match` (audience_commands.cc).
void AddMatchCommand(CLI::App& app, int* rc);
// `tessera destination add|list|run|log|retry|remove` (destination_commands.cc).
void AddDestinationCommands(CLI::App& app, int* rc);

}  // namespace tessera
