// Routes: Recomputation, uploads of orders, the history of loads and their rejected rows.

#include "server/server_impl.h"
#include "tessera/collab/party.h"
#include "tessera/ingest/staged_file.h"

namespace tessera::server {

void Server::Impl::Recompute(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  Json body = Json::object();
  if (!req.body.empty()) {
    body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return SendError(res, BadParameter("body", "the body must be a JSON object"));
    }
  }
  analytics::ProfileOptions o;
  o.as_of_day = TodayUtc();
  for (const auto& [k, v] : body.items()) {
    if (k != "window" && k != "as_of" && k != "currency" && k != "lang") {
      return SendError(res, BadParameter(k, "unknown field (window, as_of, currency, lang)"));
    }
    if (!v.is_string()) return SendError(res, BadParameter(k, k + " must be a string"));
  }
  if (body.contains("window")) {
    auto w = analytics::Window::Parse(body["window"].get<std::string>());
    if (!w.ok()) return SendError(res, BadParameter("window", w.status().message()));
    o.window = *w;
  }
  if (body.contains("as_of")) {
    auto d = ParseIsoDate(body["as_of"].get<std::string>());
    if (!d.ok()) return SendError(res, BadParameter("as_of", d.status().message()));
    o.as_of_day = *d;
  }
  if (body.contains("currency")) o.currency = body["currency"].get<std::string>();
  analytics::Lang lang = analytics::Lang::kEn;
  if (body.contains("lang")) {
    auto l = analytics::ParseLang(body["lang"].get<std::string>());
    if (!l.ok()) return SendError(res, BadParameter("lang", l.status().message()));
    lang = *l;
  }
  auto done = RecomputeSnapshot(o);
  if (!done.ok()) return SendError(res, FromStatus(done.status()));
  auto report = analytics::BuildReport(done->set, done->rules, lang);
  report.snapshot_id = done->snapshot_id;
  const int64_t id = done->snapshot_id;
  res.status = 201;
  res.set_header("X-Tessera-Snapshot", std::to_string(id));
  res.set_header("Location", fmt::format("/api/v1/snapshots/{}/segments", id));
  res.set_content(report.ToJson(), "application/json");
}

StatusOr<Server::Impl::Recomputed> Server::Impl::RecomputeSnapshot(
    const analytics::ProfileOptions& o) {
  std::lock_guard lock(write_mu);
  TESSERA_ASSIGN_OR_RETURN(store::Store * s, ThreadStore());
  TESSERA_ASSIGN_OR_RETURN(auto rules, analytics::SegmentRules::Default());
  analytics::AnalysisOptions analysis;
  analysis.profiles = o;
  TESSERA_ASSIGN_OR_RETURN(auto set, analytics::Analyze(*s, analysis, rules));
  TESSERA_ASSIGN_OR_RETURN(const int64_t id, analytics::SaveSnapshot(*s, set, rules));
  ++snapshots_created;
  latest_id = id;  // the next read sees the new snapshot
  latest_checked_ns = NowNs();
  audiences->StoreChanged();  // and the next count
  return Recomputed{id, std::move(set), std::move(rules)};
}

void Server::Impl::Ingest(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  if (options.key_path.empty()) {
    return SendError(res, {409, "conflict",
                           "this server has no owner's key; start it with --key (or "
                           "TESSERA_KEY) to accept uploads",
                           ""});
  }
  std::string mapping_name = "generic";
  if (req.has_param("mapping")) mapping_name = req.get_param_value("mapping");
  // Presets only: a mapping file path from a client would read the server's files.
  if (mapping_name.find('/') != std::string::npos || mapping_name.find('.') != std::string::npos) {
    return SendError(res, BadParameter("mapping", "mapping must be a preset name"));
  }
  auto mapping = io::LoadMapping(mapping_name);
  if (!mapping.ok()) return SendError(res, BadParameter("mapping", mapping.status().message()));
  if (req.is_multipart_form_data()) {
    return SendError(res, BadParameter("body", "send the file itself as the body, not a form"));
  }
  const auto too_large_error = [&] {
    SendError(res, {413, "payload_too_large",
                    fmt::format("the upload exceeds {} bytes (--max-upload-mb)",
                                options.max_upload_bytes),
                    ""});
  };
  if (req.has_header("Content-Length") &&
      std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) >
          options.max_upload_bytes) {
    return too_large_error();
  }
  // The body streams to a private temporary file, never whole into memory.
  auto staged = ingest::StagedFile::Create("", options.max_upload_bytes);
  if (!staged.ok()) return SendError(res, {500, "internal", "cannot create a temporary file", ""});
  Status appended;
  const bool complete = reader([&](const char* data, size_t n) {
    appended = staged->Append(std::string_view(data, n));
    return appended.ok();
  });
  if (appended.code() == StatusCode::kResourceExhausted) return too_large_error();
  if (!appended.ok()) return SendError(res, {507, "internal", "cannot store the upload", ""});
  if (!complete) return SendError(res, BadParameter("body", "the upload ended early"));
  if (Status finished = staged->Finish(); !finished.ok()) {
    if (staged->size() == 0) return SendError(res, BadParameter("body", "the body is empty"));
    return SendError(res, {507, "internal", "cannot store the upload", ""});
  }
  // Without ?mapping= a known shop export is recognized by its header, as by tessera ingest.
  bool detected = false;
  if (!req.has_param("mapping")) {
    auto preset = io::DetectPresetOfFile(staged->path());
    if (preset.ok() && preset->has_value()) {
      mapping = io::LoadMapping(**preset);
      if (!mapping.ok()) return SendError(res, FromStatus(mapping.status()));
      detected = true;
    } else if (!preset.ok() && preset.status().code() == StatusCode::kInvalidArgument &&
               preset.status().message().find("more than one preset") != std::string::npos) {
      // The message without its context: that is the server's temporary path.
      const std::string& m = preset.status().message();
      return SendError(res, BadParameter("mapping", m.substr(m.find("the header fits"))));
    }
  }
  auto key = privacy::OwnerKey::Load(options.key_path);
  if (!key.ok()) return SendError(res, FromStatus(key.status()));
  std::lock_guard lock(write_mu);
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  ingest::LoadOptions lo;
  lo.mapping = std::move(*mapping);
  lo.mapping_detected = detected;
  lo.match_tokens = collab::PartyStore((**s).db()).Show().ok();  // a party keeps match tokens
  Json rejects = Json::array();
  uint64_t reject_count = 0;
  const std::string name = req.has_param("name") ? req.get_param_value("name") : "upload";
  lo.on_reject = [&](const io::Reject& r) {
    ++reject_count;
    if (rejects.size() >= kMaxRejectsReported) return;
    rejects.push_back({{"file", r.file},
                       {"line", r.line},
                       {"column", r.column},
                       {"column_name", r.column_name},
                       {"reason_code", r.reason_code},
                       {"reason", r.reason}});
  };
  auto summary = staged->Load(**s, *key, name, std::move(lo));
  if (!summary.ok()) {
    HttpError e = FromStatus(summary.status());
    if (e.status == 500 && summary.status().code() == StatusCode::kInvalidArgument) e.status = 400;
    return SendError(res, e);
  }
  orders_ingested += summary->orders_stored;
  audiences->StoreChanged();
  Json j;
  j["summary"] = Json::parse(summary->ToJson(), nullptr, false);
  j["rejects"] = std::move(rejects);
  j["rejects_reported"] = j["rejects"].size();
  j["rejects_total"] = reject_count;
  res.status = 201;
  res.set_content(j.dump(2) + "\n", "application/json");
}

void Server::Impl::Loads(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto loads = (*s)->Loads();
  if (!loads.ok()) return SendError(res, FromStatus(loads.status()));
  Json j = Json::array();
  for (const auto& l : *loads) {
    Json e;
    e["load_id"] = l.load_id;
    e["started_at"] = l.started_at;
    e["finished_at"] = l.finished_at.empty() ? Json() : Json(l.finished_at);
    e["summary"] = l.summary_json.empty() ? Json() : Json::parse(l.summary_json, nullptr, false);
    j.push_back(std::move(e));
  }
  res.set_content(j.dump(2) + "\n", "application/json");
}

void Server::Impl::LoadRejects(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  std::string format = "json";
  if (auto e = ChoiceParam(req, "format", {"json", "csv"}, &format)) return SendError(res, *e);
  const int64_t id = std::stoll(req.matches[1].str());
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto rejects = (*s)->LoadRejects(id);
  if (!rejects.ok()) return SendError(res, FromStatus(rejects.status()));
  if (format == "csv") {
    std::string out = std::string(io::kRejectsCsvHeader) + "\r\n";
    for (const auto& r : *rejects) out += io::RejectCsvRow(r) + "\r\n";
    return Send(res, out, "csv", fmt::format("load-{}-rejects", id));
  }
  Json j = Json::array();
  for (const auto& r : *rejects) {
    j.push_back({{"file", r.file},
                 {"line", r.line},
                 {"column", r.column},
                 {"column_name", r.column_name},
                 {"reason_code", r.reason_code},
                 {"reason", r.reason}});
  }
  res.set_content(j.dump(2) + "\n", "application/json");
}

}  // namespace tessera::server
