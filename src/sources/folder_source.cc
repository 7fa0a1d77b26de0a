#include "sources/folder_source.h"

#include "tessera/ingest/folder.h"
#include "tessera/io/mapping.h"

namespace tessera::sources::internal {

Status RunFolder(store::Store& store, const privacy::OwnerKey& key, const SourceConfig& config,
                 const RunOptions& options, SourceRun& run) {
  const std::string where = fmt::format("source '{}'", config.name);
  ingest::FolderOptions fo;
  fo.dir = config.dir;
  fo.settle_seconds = config.settle_seconds;
  fo.now_seconds = options.now_seconds;
  fo.load.match_tokens = options.match_tokens;
  fo.load.on_reject = options.on_reject;
  if (!config.mapping.empty()) {
    auto mapping = io::LoadMapping(config.mapping);
    if (!mapping.ok()) return mapping.status().WithContext(where + " mapping " + config.mapping);
    fo.load.mapping = std::move(*mapping);
    fo.detect_mapping = false;
  }
  // Counted file by file, so that a run that fails half-way records what it did before.
  std::string refused;
  fo.on_file = [&](const ingest::FolderFile& f) {
    if (options.on_file) options.on_file(f);
    switch (f.outcome) {
      case ingest::FolderFile::Outcome::kLoaded:
        ++run.files_loaded;
        run.orders_seen += f.summary.orders_in_input;
        run.orders_stored += f.summary.orders_stored;
        run.rejects += f.summary.rows_rejected;
        break;
      case ingest::FolderFile::Outcome::kRefused:
        ++run.files_refused;
        if (!refused.empty()) refused += "; ";
        // Most errors name the file already.
        refused +=
            f.error.starts_with(f.name + ":") ? f.error : fmt::format("{}: {}", f.name, f.error);
        break;
      case ingest::FolderFile::Outcome::kWaiting:
        ++run.files_waiting;
        break;
    }
  };
  auto done = ingest::LoadFolder(store, key, fo);
  if (!done.ok()) return done.status().WithContext(where + " folder " + config.dir);
  if (run.files_refused > 0) {
    run.error = fmt::format("{} {} refused (moved to failed/, each with a note): {}",
                            run.files_refused, run.files_refused == 1 ? "file" : "files", refused);
  }
  return OkStatus();
}

}  // namespace tessera::sources::internal
