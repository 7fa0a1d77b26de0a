#include "tessera/ingest/folder.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "ingest/reject_log.h"
#include "tessera/io/mapping.h"
#include "tessera/io/order_reader.h"

namespace tessera::ingest {
namespace {

namespace fs = std::filesystem;

// Names that writers use while a file is not complete yet (browsers, WinSCP, rsync's hidden
// temporary names, editors' and scripts' habits).
bool InProgressName(std::string_view name) {
  if (name.empty() || name.front() == '.') return true;
  for (std::string_view suffix : {".tmp", ".part", ".partial", ".crdownload", ".filepart"}) {
    if (name.size() > suffix.size() &&
        std::equal(suffix.rbegin(), suffix.rend(), name.rbegin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      return true;
    }
  }
  // Our own error notes beside refused files never sit in the watched folder, but a user may
  // move one back with its file.
  return name.ends_with(".error.txt");
}

// A file is the file's fault when it cannot be mapped or read to its end, or has more rejected
// rows than allowed; anything else (store busy or unreachable, a full disk, another key) is
// the machine's, and the file is tried again next run.
bool FileIsAtFault(const Status& s) {
  if (s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kPermissionDenied) {
    return true;
  }
  // A damaged gzip (truncated, corrupt) is the file's; a disk that fails to read is not.
  if (s.code() == StatusCode::kDataLoss && s.IntDetail("damaged_input").has_value()) return true;
  return s.code() == StatusCode::kResourceExhausted && s.IntDetail("max_rejects").has_value();
}

Status EnsureDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return PermissionDeniedError("cannot create the folder {}: {}", dir.string(), ec.message());
  }
  return OkStatus();
}

// Moves `from` into `dir` under its own name, or name-1, name-2, ... when that is taken: never
// over an existing file (renameat2 RENAME_NOREPLACE), and atomically (same file system).
StatusOr<std::string> MoveInto(const fs::path& from, const fs::path& dir) {
  TESSERA_RETURN_IF_ERROR(EnsureDir(dir));
  const std::string stem = from.stem().string(), ext = from.extension().string();
  for (int n = 0; n < 10'000; ++n) {
    const fs::path to =
        dir / (n == 0 ? from.filename().string() : fmt::format("{}-{}{}", stem, n, ext));
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
      return to.string();
    }
    if (errno == EEXIST) continue;
    if (errno == EXDEV) {
      return InvalidArgumentError(
          "cannot move {} to {}: another file system (put the folders on the same disk)",
          from.string(), dir.string());
    }
    return PermissionDeniedError("cannot move {} to {}: {}", from.string(), dir.string(),
                                 std::strerror(errno));
  }
  return InternalError("cannot move {}: 10000 files of that name in {}", from.string(),
                       dir.string());
}

// Writes `text` to `path` through a temporary name, every write checked.
Status WriteNote(const fs::path& path, std::string_view text) {
  const std::string tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return PermissionDeniedError("cannot write {}: {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ResourceExhaustedError("cannot write {}: {}", tmp, std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return ResourceExhaustedError("cannot write {}: {}", path.string(), std::strerror(e));
  }
  return OkStatus();
}

// How many of a file's rejected rows its report lists.
constexpr size_t kReportedRejects = 100'000;

// The rejects report of a loaded file: the CSV of `tessera ingest --rejects` (file, line,
// column, reason; never a value), and a last line saying how many more there were.
std::string RejectsReport(const std::vector<io::Reject>& rejects, const LoadSummary& summary) {
  std::string out(io::kRejectsCsvHeader);
  out += '\n';
  for (const io::Reject& r : rejects) {
    out += io::RejectCsvRow(r);
    out += '\n';
  }
  if (summary.rows_rejected > rejects.size()) {
    out += io::RejectCsvRow(io::Reject{
        "", 0, 0, "", "more",
        fmt::format("{} more rejected rows not listed", summary.rows_rejected - rejects.size())});
    out += '\n';
  }
  return out;
}

struct Candidate {
  fs::path path;
  int64_t mtime_ns = 0;
  // What the file was when listed: a file replaced or rewritten while it loads is not moved
  // aside unread.
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
};

bool Unchanged(const Candidate& c) {
  struct stat st;
  return ::stat(c.path.c_str(), &st) == 0 && st.st_dev == c.dev && st.st_ino == c.ino &&
         st.st_size == c.size &&
         int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec == c.mtime_ns;
}

int64_t NowSeconds(const FolderOptions& options) {
  if (options.now_seconds) return options.now_seconds();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view FolderOutcomeName(FolderFile::Outcome outcome) {
  switch (outcome) {
    case FolderFile::Outcome::kLoaded:
      return "loaded";
    case FolderFile::Outcome::kRefused:
      return "refused";
    case FolderFile::Outcome::kWaiting:
      return "waiting";
  }
  return "?";
}

StatusOr<FolderRun> LoadFolder(store::Store& store, const privacy::OwnerKey& key,
                               const FolderOptions& options) {
  const fs::path dir(options.dir);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return NotFoundError("no such folder: {}", options.dir);
  if (!fs::is_directory(dir, ec)) return InvalidArgumentError("not a folder: {}", options.dir);
  const fs::path loaded_dir =
      options.loaded_dir.empty() ? dir / "loaded" : fs::path(options.loaded_dir);
  const fs::path failed_dir =
      options.failed_dir.empty() ? dir / "failed" : fs::path(options.failed_dir);

  std::vector<Candidate> candidates;
  fs::directory_iterator it(dir, ec);
  if (ec) return PermissionDeniedError("cannot read the folder {}: {}", options.dir, ec.message());
  for (const fs::directory_entry& entry : it) {
    struct stat st;
    // Regular files only (a symbolic link is followed: a file put there by link is a file).
    if (::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (InProgressName(entry.path().filename().string())) continue;
    candidates.push_back({entry.path(),
                          int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                          st.st_dev, st.st_ino, st.st_size});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.mtime_ns, a.path) < std::tie(b.mtime_ns, b.path);
  });

  FolderRun run;
  const int64_t now_ns = NowSeconds(options) * 1'000'000'000;
  for (const Candidate& c : candidates) {
    FolderFile file;
    file.name = c.path.filename().string();
    // Modified within the settle time, or dated in the future (a writer on a share whose clock
    // is ahead): a writer may still be at it.
    if (c.mtime_ns > now_ns - options.settle_seconds * 1'000'000'000) {
      file.outcome = FolderFile::Outcome::kWaiting;
      ++run.waiting;
      if (options.on_file) options.on_file(file);
      run.files.push_back(std::move(file));
      continue;
    }
    LoadOptions load = options.load;
    load.file_labels = {file.name};
    // The file's rejected rows, for a report beside it in loaded/ (the first kReportedRejects).
    std::vector<io::Reject> rejects;
    load.on_reject = [&rejects, &options](const io::Reject& r) {
      if (options.load.on_reject) options.load.on_reject(r);
      if (rejects.size() < kReportedRejects) rejects.push_back(r);
    };
    Status status;
    if (options.detect_mapping) {
      auto preset = io::DetectPresetOfFile(c.path.string());
      if (!preset.ok() && preset.status().IntDetail("damaged_input").has_value()) {
        // A gzip damaged before the end of its header row: refused as a load would refuse it.
        status = internal::DamagedInputError(file.name, preset.status().message());
      } else if (!preset.ok()) {
        status = preset.status();
      } else {
        auto mapping = io::LoadMapping(preset->value_or("generic"));
        if (!mapping.ok()) return mapping.status();
        load.mapping = std::move(*mapping);
        load.mapping_detected = preset->has_value();
      }
    }
    if (status.ok()) {
      auto summary = LoadOrders(store, key, {c.path.string()}, load);
      if (summary.ok() && !Unchanged(c)) {
        // Rewritten or replaced while it loaded: what was read is stored; the file as it is
        // now loads next run (orders stored already are skipped then).
        file.outcome = FolderFile::Outcome::kWaiting;
        ++run.waiting;
        run.orders_stored += summary->orders_stored;
        if (options.on_file) options.on_file(file);
        run.files.push_back(std::move(file));
        continue;
      }
      if (summary.ok()) {
        auto moved = MoveInto(c.path, loaded_dir);
        if (!moved.ok()) return moved.status().WithContext("loaded, but not moved aside");
        file.outcome = FolderFile::Outcome::kLoaded;
        file.moved_to = *moved;
        file.summary = std::move(*summary);
        if (!rejects.empty()) {
          // Loaded and moved: a report that cannot be written fails the run (the rejects are in
          // the store's load record too), never the load.
          TESSERA_RETURN_IF_ERROR(
              WriteNote(*moved + ".rejects.csv", RejectsReport(rejects, file.summary)));
        }
        ++run.loaded;
        run.orders_stored += file.summary.orders_stored;
        run.rows_read += file.summary.rows_read;
        run.rows_rejected += file.summary.rows_rejected;
        if (options.on_file) options.on_file(file);
        run.files.push_back(std::move(file));
        continue;
      }
      status = summary.status();
    }
    // Gone since it was listed (another run, a person): nothing to do with it.
    if (status.code() == StatusCode::kNotFound && !fs::exists(c.path, ec)) continue;
    if (!FileIsAtFault(status)) return status.WithContext(file.name);
    // The message names the file by its full path where the reader had it; say it by name.
    file.error = status.message();
    auto moved = MoveInto(c.path, failed_dir);
    if (!moved.ok()) return moved.status().WithContext("refused, but not moved aside");
    TESSERA_RETURN_IF_ERROR(WriteNote(fs::path(*moved).string() + ".error.txt", file.error + "\n"));
    file.outcome = FolderFile::Outcome::kRefused;
    file.moved_to = *moved;
    ++run.refused;
    if (options.on_file) options.on_file(file);
    run.files.push_back(std::move(file));
  }
  return run;
}

std::string FolderRun::ToJson() const {
  nlohmann::ordered_json j;
  j["loaded"] = loaded;
  j["refused"] = refused;
  j["waiting"] = waiting;
  j["orders_stored"] = orders_stored;
  j["rows_read"] = rows_read;
  j["rows_rejected"] = rows_rejected;
  auto& list = j["files"] = nlohmann::ordered_json::array();
  for (const FolderFile& f : files) {
    nlohmann::ordered_json e;
    e["name"] = f.name;
    e["outcome"] = FolderOutcomeName(f.outcome);
    if (!f.moved_to.empty()) e["moved_to"] = f.moved_to;
    if (f.outcome == FolderFile::Outcome::kLoaded) {
      e["summary"] = nlohmann::ordered_json::parse(f.summary.ToJson());
    }
    if (!f.error.empty()) e["error"] = f.error;
    list.push_back(std::move(e));
  }
  return j.dump();
}

std::string FolderFile::ToText() const {
  switch (outcome) {
    case Outcome::kLoaded:
      return fmt::format("loaded   {}: {} rows, {} new orders, {} rejected -> {}{}", name,
                         summary.rows_read, summary.orders_stored, summary.rows_rejected, moved_to,
                         summary.rows_rejected > 0
                             ? fmt::format(" (rejected rows: {}.rejects.csv)", moved_to)
                             : "");
    case Outcome::kRefused:
      return fmt::format("refused  {}: {} -> {}", name, error, moved_to);
    case Outcome::kWaiting:
      return fmt::format("waiting  {}: still being written (changed moments ago)", name);
  }
  return "";
}

std::string FolderRun::ToText() const {
  std::string out;
  for (const FolderFile& f : files) out += f.ToText() + "\n";
  out += fmt::format("{} loaded, {} refused, {} waiting; {} new orders, {} rows rejected\n", loaded,
                     refused, waiting, orders_stored, rows_rejected);
  return out;
}

}  // namespace tessera::ingest
