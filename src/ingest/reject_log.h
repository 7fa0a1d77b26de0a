#pragma once

// The rejects of a load: counted by reason, the first LoadOptions::stored_rejects kept for the
// store, each handed to LoadOptions::on_reject, and the load stopped once there are more than
// LoadOptions::max_rejects. Rejects name a position and a reason, never a value. Internal to
// the ingest module; not thread-safe.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/ingest/loader.h"

namespace tessera::ingest::internal {

class RejectLog {
 public:
  RejectLog(const LoadOptions& options, LoadSummary& summary)
      : RejectLog(options, &summary.rows_rejected, &summary.rejected_by_reason) {}
  // Counting into another summary's fields (a people load's).
  RejectLog(const LoadOptions& options, uint64_t* rows_rejected,
            std::map<std::string, uint64_t>* rejected_by_reason)
      : options_(options), rows_rejected_(*rows_rejected), by_reason_(*rejected_by_reason) {}

  // The input files as given, in order: what LoadOptions::file_labels rename.
  void SetFiles(std::vector<std::string> files) { files_ = std::move(files); }

  // The reject as LoadOptions::file_labels name its file.
  io::Reject Label(io::Reject reject) const {
    for (size_t i = 0; i < files_.size() && i < options_.file_labels.size(); ++i) {
      if (files_[i] == reject.file) {
        reject.file = options_.file_labels[i];
        break;
      }
    }
    return reject;
  }

  // Records a reject as the reader made it.
  // Errors: kResourceExhausted past LoadOptions::max_rejects.
  Status Add(const io::Reject& reject) {
    if (options_.file_labels.empty()) return AddLabelled(reject);
    return AddLabelled(Label(reject));
  }

  // Records a reject whose file is labelled already. Errors: those of Add.
  Status AddLabelled(const io::Reject& reject) {
    ++rows_rejected_;
    ++by_reason_[reject.reason_code];
    if (kept_.size() < options_.stored_rejects) kept_.push_back(reject);
    if (options_.on_reject) options_.on_reject(reject);
    return CheckLimit(rows_rejected_);
  }

  // Errors: kResourceExhausted when `rejects` rows are more than the load may reject.
  Status CheckLimit(uint64_t rejects) const {
    if (rejects > options_.max_rejects) {
      // The detail tells this limit from a full disk (also kResourceExhausted): a watched
      // folder refuses the file for the one and retries it after the other.
      Status s = ResourceExhaustedError(
          "more than {} rows rejected (the --max-rejects limit); nothing was stored",
          options_.max_rejects);
      s.SetDetail("max_rejects", static_cast<int64_t>(options_.max_rejects));
      return s;
    }
    return OkStatus();
  }

  // The first LoadOptions::stored_rejects rejects, for the store.
  const std::vector<io::Reject>& kept() const { return kept_; }

 private:
  const LoadOptions& options_;
  uint64_t& rows_rejected_;
  std::map<std::string, uint64_t>& by_reason_;
  std::vector<std::string> files_;
  std::vector<io::Reject> kept_;
};

// A file that could not be read to its end: no bad row but a failed load, whose rows read so far
// are only part of the file, so nothing is written (docs/ingest.md, "Rejected rows").
inline Status DamagedInputError(std::string_view file, std::string_view reason) {
  return InvalidArgumentError(
      "{}: the input is damaged ({}); nothing was loaded: export or fetch the file again", file,
      reason);
}

// The status of opening an input file: a read error there (a gzip file damaged before the end
// of its header row) is a damaged input like one further on, not an error of the machine.
inline Status OpenInputError(Status status, std::string_view file) {
  if (status.code() != StatusCode::kDataLoss) return status;
  return DamagedInputError(file, status.message());
}

}  // namespace tessera::ingest::internal
