#include "tessera/collab/worker.h"

#include <openssl/sha.h>

#include <nlohmann/json.hpp>

namespace tessera::collab {

namespace {

std::string Hex(std::span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

StatusOr<PsiSessionId> ParseSession(const std::string& hex) {
  PsiSessionId id{};
  if (hex.size() != 2 * id.size()) {
    return InvalidArgumentError("job: session must be {} hex digits", 2 * id.size());
  }
  for (size_t i = 0; i < id.size(); ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = hex[2 * i + k];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return InvalidArgumentError("job: session must be lower-case hex");
      v = v * 16 + static_cast<unsigned>(d);
    }
    id[i] = static_cast<uint8_t>(v);
  }
  return id;
}

}  // namespace

StatusOr<std::optional<std::string>> ReadFrame(const ReadFn& read) {
  uint8_t header[4];
  TESSERA_ASSIGN_OR_RETURN(const size_t got, read(header, sizeof header));
  if (got == 0) return std::optional<std::string>();
  if (got != sizeof header) return InvalidArgumentError("the stream ends inside a frame's length");
  const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                        (uint32_t{header[2]} << 8) | header[3];
  if (size > kMaxFrameBytes) {
    return InvalidArgumentError("a frame of {} bytes, more than the {} allowed", size,
                                kMaxFrameBytes);
  }
  std::string frame(size, '\0');
  TESSERA_ASSIGN_OR_RETURN(const size_t body,
                           read(reinterpret_cast<uint8_t*>(frame.data()), frame.size()));
  if (body != size) {
    return InvalidArgumentError("the stream ends inside a frame ({} of {} bytes)", body, size);
  }
  return std::optional<std::string>(std::move(frame));
}

std::string Frame(std::string_view bytes) {
  std::string out;
  const auto n = static_cast<uint32_t>(bytes.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  out.append(bytes);
  return out;
}

StatusOr<JoinJob> ParseJoinJob(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("job: not a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (k != "version" && k != "session" && k != "kind" && k != "k_min" && k != "epsilon_micro") {
      return InvalidArgumentError("job: unknown field '{}'", k);
    }
  }
  if (!j.contains("version") || j["version"] != 1) {
    return InvalidArgumentError("job: version must be 1");
  }
  JoinJob job;
  if (!j.contains("session") || !j["session"].is_string()) {
    return InvalidArgumentError("job: session is missing");
  }
  TESSERA_ASSIGN_OR_RETURN(job.session, ParseSession(j["session"].get<std::string>()));
  const std::string kind = j.value("kind", "");
  if (kind == "overlap") {
    job.kind = JoinJob::Kind::kOverlap;
  } else if (kind == "counts") {
    job.kind = JoinJob::Kind::kCounts;
  } else {
    return InvalidArgumentError("job: kind must be overlap or counts");
  }
  if (!j.contains("k_min") || !j["k_min"].is_number_unsigned() || j["k_min"].get<uint64_t>() < 1) {
    return InvalidArgumentError("job: k_min must be a whole number of at least 1");
  }
  job.k_min = j["k_min"].get<uint64_t>();
  if (j.contains("epsilon_micro") && !j["epsilon_micro"].is_null()) {
    if (!j["epsilon_micro"].is_number_unsigned() || j["epsilon_micro"].get<uint64_t>() == 0) {
      return InvalidArgumentError("job: epsilon_micro must be a positive whole number or null");
    }
    job.epsilon_micro = j["epsilon_micro"].get<uint64_t>();
  }
  return job;
}

std::string JoinJobJson(const JoinJob& job) {
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["session"] = Hex(job.session);
  j["kind"] = job.kind == JoinJob::Kind::kOverlap ? "overlap" : "counts";
  j["k_min"] = job.k_min;
  j["epsilon_micro"] = job.epsilon_micro ? nlohmann::ordered_json(*job.epsilon_micro) : nullptr;
  return j.dump();
}

StatusOr<OwnerStream> ReadOwnerStream(const ReadFn& read, const std::string& owner) {
  const auto where = [&owner](const Status& s) {
    return Status(s.code(), fmt::format("owner {}: {}", owner, s.message()));
  };
  OwnerStream out;
  auto job = ReadFrame(read);
  if (!job.ok()) return where(job.status());
  if (!*job) return where(InvalidArgumentError("the stream ends before the job"));
  out.job = std::move(**job);
  TESSERA_ASSIGN_OR_RETURN(const JoinJob parsed, ParseJoinJob(out.job));
  ReplayGuard guard;
  for (;;) {
    auto frame = ReadFrame(read);
    if (!frame.ok()) return where(frame.status());
    if (!*frame) return where(InvalidArgumentError("the stream ends before its last values"));
    const std::span bytes(reinterpret_cast<const uint8_t*>((*frame)->data()), (*frame)->size());
    auto message = ParsePsiMessage(bytes);
    if (!message.ok()) return where(message.status());
    if (message->type != PsiMessageType::kDoubleBlinded) {
      return where(InvalidArgumentError("expected double-blinded values, got another message"));
    }
    if (message->session != parsed.session) {
      return where(InvalidArgumentError("values of another session"));
    }
    if (Status accepted = guard.Accept(owner, *message); !accepted.ok()) return where(accepted);
    out.of_partner.insert(out.of_partner.end(), message->points.begin(), message->points.end());
    if (message->last) break;
  }
  auto frame = ReadFrame(read);
  if (!frame.ok()) return where(frame.status());
  if (!*frame) return where(InvalidArgumentError("the stream ends before the contribution"));
  auto contribution = ParseContribution(
      std::span(reinterpret_cast<const uint8_t*>((*frame)->data()), (*frame)->size()));
  if (!contribution.ok()) return where(contribution.status());
  if (contribution->session != parsed.session) {
    return where(InvalidArgumentError("a contribution of another session"));
  }
  out.contribution = std::move(*contribution);
  auto extra = ReadFrame(read);
  if (!extra.ok()) return where(extra.status());
  if (*extra) return where(InvalidArgumentError("frames after the contribution"));
  return out;
}

StatusOr<std::string> RunJoinJob(const OwnerStream& a, const OwnerStream& b,
                                 const AttestationProvider& attestation, RandomSource& random) {
  if (a.job != b.job) return InvalidArgumentError("the owners sent different jobs");
  TESSERA_ASSIGN_OR_RETURN(const JoinJob job, ParseJoinJob(a.job));
  // B double-blinded A's values: they sit at A's positions, as A's contribution does.
  const std::vector<Point>& of_a = b.of_partner;
  const std::vector<Point>& of_b = a.of_partner;
  if (of_a.size() != a.contribution.in_audience.size() ||
      of_b.size() != b.contribution.in_audience.size()) {
    return InvalidArgumentError(
        "sizes do not fit: owner a contributes {} positions and owner b blinded {}; owner b "
        "contributes {} and owner a blinded {}",
        a.contribution.in_audience.size(), of_a.size(), b.contribution.in_audience.size(),
        of_b.size());
  }
  const std::vector<MatchedPair> pairs = MatchPositions(of_a, of_b);
  Contribution ca = a.contribution, cb = b.contribution;
  if (job.kind == JoinJob::Kind::kOverlap) {
    // The overlap of the sessions: every position counts, no breakdown.
    ca.in_audience.assign(ca.in_audience.size(), true);
    cb.in_audience.assign(cb.in_audience.size(), true);
    ca.dimensions.clear();
    cb.dimensions.clear();
  }
  TESSERA_ASSIGN_OR_RETURN(
      const JointCounts counts,
      CountJoint(pairs, ca, cb, JointCountQuery{job.k_min, job.epsilon_micro}, random));
  nlohmann::ordered_json j;
  j["session"] = Hex(job.session);
  j["kind"] = job.kind == JoinJob::Kind::kOverlap ? "overlap" : "counts";
  j["dimensions"] = counts.dimensions;
  j["cells"] = nlohmann::ordered_json::array();
  for (const JointCell& c : counts.cells) {
    j["cells"].push_back({{"labels", c.labels}, {"count", c.count}});
  }
  j["filtered_cells"] = counts.filtered_cells;
  j["k_min"] = job.k_min;
  j["noise"] = counts.noise;
  // The evidence binds the job and everything released.
  const std::string released = j.dump();
  std::array<uint8_t, 64> report{};
  SHA256(reinterpret_cast<const unsigned char*>(a.job.data()), a.job.size(), report.data());
  SHA256(reinterpret_cast<const unsigned char*>(released.data()), released.size(),
         report.data() + 32);
  TESSERA_ASSIGN_OR_RETURN(const std::string evidence, attestation.Attest(report));
  j["attestation"] = nlohmann::ordered_json::parse(evidence);
  return j.dump();
}

}  // namespace tessera::collab
