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
  auto done = ingest::LoadFolder(store, key, fo);
  if (!done.ok()) return done.status().WithContext(where + " folder " + config.dir);
  run.files_loaded = done->loaded;
  run.files_refused = done->refused;
  run.files_waiting = done->waiting;
  run.orders_stored = done->orders_stored;
  run.rejects = done->rows_rejected;
  std::string refused;
  for (const ingest::FolderFile& f : done->files) {
    if (f.outcome == ingest::FolderFile::Outcome::kLoaded) {
      run.orders_seen += f.summary.orders_in_input;
    } else if (f.outcome == ingest::FolderFile::Outcome::kRefused) {
      if (!refused.empty()) refused += "; ";
      refused += fmt::format("{}: {}", f.name, f.error);
    }
  }
  if (done->refused > 0) {
    run.error = fmt::format("{} {} refused (moved to failed/, each with a note): {}", done->refused,
                            done->refused == 1 ? "file" : "files", refused);
  }
  return OkStatus();
}

}  // namespace tessera::sources::internal
