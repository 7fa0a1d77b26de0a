#include "tessera/collab/worker.h"

#include <openssl/sha.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "collab/protocol/utf8_internal.h"
#include "tessera/collab/worker_channel.h"

namespace tessera::collab {

namespace {

std::string Hex(std::span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

std::string_view KindName(JoinJob::Kind kind) {
  switch (kind) {
    case JoinJob::Kind::kOverlap:
      return "overlap";
    case JoinJob::Kind::kCounts:
      return "counts";
    case JoinJob::Kind::kActivation:
      return "activation";
  }
  return "?";
}

// The evidence binds the job and everything released; it goes into the result beside it.
Status Attest(nlohmann::ordered_json& j, const std::string& job,
              const AttestationProvider& attestation) {
  const std::string released = j.dump();
  std::array<uint8_t, 64> report{};
  SHA256(reinterpret_cast<const unsigned char*>(job.data()), job.size(), report.data());
  SHA256(reinterpret_cast<const unsigned char*>(released.data()), released.size(),
         report.data() + 32);
  TESSERA_ASSIGN_OR_RETURN(const std::string evidence, attestation.Attest(report));
  j["attestation"] = nlohmann::ordered_json::parse(evidence);
  return OkStatus();
}

// An activation: owner A's positions of the pairs both owners' bits admit, or nothing at all
// under k_min. No noise: a list cannot be noised, and the owners' grants refuse activation
// under differential privacy (session.h).
StatusOr<std::string> ReleaseActivation(const JoinJob& job, const std::string& job_text,
                                        std::span<const MatchedPair> pairs, const Contribution& a,
                                        const Contribution& b,
                                        const AttestationProvider& attestation) {
  if (!a.dimensions.empty() || !b.dimensions.empty()) {
    return InvalidArgumentError("an activation takes no breakdown, and an owner sent one");
  }
  std::vector<uint32_t> positions;
  for (const MatchedPair& p : pairs) {
    if (p.a >= a.in_audience.size() || p.b >= b.in_audience.size()) {
      return InvalidArgumentError("a matched position is outside a contribution");
    }
    if (a.in_audience[p.a] && b.in_audience[p.b]) positions.push_back(p.a);
  }
  nlohmann::ordered_json j;
  j["session"] = Hex(job.session);
  j["kind"] = KindName(job.kind);
  const bool withheld = positions.size() < job.k_min;
  j["withheld"] = withheld;
  if (!withheld) {
    j["count"] = positions.size();
    j["positions"] = EncodePositionBits(positions, static_cast<uint32_t>(a.in_audience.size()));
  }
  j["k_min"] = job.k_min;
  TESSERA_RETURN_IF_ERROR(Attest(j, job_text, attestation));
  return j.dump();
}

}  // namespace

std::string EncodePositionBits(std::span<const uint32_t> positions, uint32_t size) {
  std::string bits((size_t{size} + 7) / 8, '\0');
  for (uint32_t p : positions) {
    if (p < size) bits[p / 8] = static_cast<char>(bits[p / 8] | (1 << (p % 8)));
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(2 * bits.size(), '0');
  for (size_t i = 0; i < bits.size(); ++i) {
    const auto byte = static_cast<uint8_t>(bits[i]);
    hex[2 * i] = kDigits[byte >> 4];
    hex[2 * i + 1] = kDigits[byte & 15];
  }
  return hex;
}

StatusOr<std::vector<uint32_t>> DecodePositionBits(std::string_view hex) {
  if (hex.size() % 2 != 0) return InvalidArgumentError("positions: not whole bytes of hex");
  if (hex.size() / 2 > (size_t{kMaxContributionPositions} + 7) / 8) {
    return InvalidArgumentError("positions: more than {} bits", kMaxContributionPositions);
  }
  auto digit = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  std::vector<uint32_t> out;
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    const int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgumentError("positions: not lower-case hex");
    const unsigned byte = static_cast<unsigned>(hi * 16 + lo);
    for (unsigned bit = 0; bit < 8; ++bit) {
      if ((byte >> bit) & 1) out.push_back(static_cast<uint32_t>(i * 8 + bit));
    }
  }
  return out;
}

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
  // In steps, so that a length announced by whoever relays the stream costs memory only as its
  // bytes arrive.
  constexpr size_t kStep = size_t{1} << 20;
  std::string frame;
  while (frame.size() < size) {
    const size_t at = frame.size();
    const size_t want = std::min<size_t>(kStep, size - at);
    frame.resize(at + want);
    TESSERA_ASSIGN_OR_RETURN(const size_t body,
                             read(reinterpret_cast<uint8_t*>(frame.data()) + at, want));
    if (body != want) {
      return InvalidArgumentError("the stream ends inside a frame ({} of {} bytes)", at + body,
                                  size);
    }
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

StatusOr<std::optional<std::string_view>> FrameCursor::Next() {
  if (at_ == bytes_.size()) return std::optional<std::string_view>();
  if (bytes_.size() - at_ < 4) return InvalidArgumentError("a frame's length is cut short");
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(bytes_[at_ + i]);
  at_ += 4;
  if (bytes_.size() - at_ < n) return InvalidArgumentError("a frame is cut short");
  std::string_view frame = bytes_.substr(at_, n);
  at_ += n;
  return std::optional<std::string_view>(frame);
}

StatusOr<JoinJob> ParseJoinJob(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("job: not a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (k != "version" && k != "session" && k != "kind" && k != "k_min" && k != "epsilon_micro" &&
        k != "result_key" && k != "keep" && k != "count" && k != "request") {
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
  auto session = ParsePsiSessionIdHex(j["session"].get<std::string>());
  if (!session.ok()) return session.status().WithContext("job: session");
  job.session = *session;
  // Checked before it is read: value() throws on a field of another type.
  const std::string kind =
      j.contains("kind") && j["kind"].is_string() ? j["kind"].get<std::string>() : "";
  if (kind == "overlap") {
    job.kind = JoinJob::Kind::kOverlap;
  } else if (kind == "counts") {
    job.kind = JoinJob::Kind::kCounts;
  } else if (kind == "activation") {
    job.kind = JoinJob::Kind::kActivation;
  } else {
    return InvalidArgumentError("job: kind must be overlap, counts or activation");
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
    if (job.kind == JoinJob::Kind::kActivation) {
      return InvalidArgumentError(
          "job: an activation takes no epsilon_micro (a list takes no noise)");
    }
  }
  if (j.contains("result_key")) {
    if (!j["result_key"].is_string()) {
      return InvalidArgumentError("job: result_key must be 64 lower-case hex digits");
    }
    auto key = ParsePublicKeyHex(j["result_key"].get<std::string>());
    if (!key.ok()) return InvalidArgumentError("job: result_key: {}", key.status().message());
    job.result_key = *key;
  }
  if (j.contains("keep")) {
    if (j["keep"] != true) return InvalidArgumentError("job: keep must be true or absent");
    if (job.kind == JoinJob::Kind::kActivation) {
      return InvalidArgumentError("job: an activation keeps no match");
    }
    job.keep = true;
  }
  if (j.contains("count") != j.contains("request")) {
    return InvalidArgumentError("job: count and request go together");
  }
  if (j.contains("count")) {
    if (!j["count"].is_string()) return InvalidArgumentError("job: count is not 32 hex digits");
    auto count = ParsePsiSessionIdHex(j["count"].get<std::string>());
    if (!count.ok()) return count.status().WithContext("job: count");
    job.count = *count;
    const auto is_hex = [](const nlohmann::json& v) {
      if (!v.is_string()) return false;
      const std::string& h = v.get_ref<const std::string&>();
      return h.size() == 64 && std::all_of(h.begin(), h.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             });
    };
    if (!is_hex(j["request"])) {
      return InvalidArgumentError("job: request must be 64 lower-case hex digits");
    }
    job.request = j["request"].get<std::string>();
    if (job.kind != JoinJob::Kind::kCounts || job.keep) {
      return InvalidArgumentError("job: a count on a kept match is of kind counts and keeps none");
    }
  }
  return job;
}

std::string JoinJobJson(const JoinJob& job) {
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["session"] = Hex(job.session);
  j["kind"] = KindName(job.kind);
  j["k_min"] = job.k_min;
  j["epsilon_micro"] = job.epsilon_micro ? nlohmann::ordered_json(*job.epsilon_micro) : nullptr;
  if (job.result_key) j["result_key"] = PublicKeyHex(*job.result_key);
  if (job.keep) j["keep"] = true;
  if (job.count) {
    j["count"] = Hex(*job.count);
    j["request"] = job.request;
  }
  return j.dump();
}

StatusOr<OwnerStream> ReadOwnerStream(const ReadFn& read, const std::string& owner) {
  return ReadOwnerStream(FrameSource([&read] { return ReadFrame(read); }), owner);
}

StatusOr<OwnerStream> ReadOwnerStream(const FrameSource& next, const std::string& owner) {
  const auto where = [&owner](const Status& s) {
    return Status(s.code(), fmt::format("owner {}: {}", owner, s.message()));
  };
  OwnerStream out;
  auto job = next();
  if (!job.ok()) return where(job.status());
  if (!*job) return where(InvalidArgumentError("the stream ends before the job"));
  out.job = std::move(**job);
  auto parsed = ParseJoinJob(out.job);
  if (!parsed.ok()) return where(parsed.status());
  ReplayGuard guard;
  // A count on a kept match sends no values: the worker holds the match.
  for (bool values = !parsed->count; values;) {
    auto frame = next();
    if (!frame.ok()) return where(frame.status());
    if (!*frame) return where(InvalidArgumentError("the stream ends before its last values"));
    const std::span bytes(reinterpret_cast<const uint8_t*>((*frame)->data()), (*frame)->size());
    auto message = ParsePsiMessage(bytes);
    if (!message.ok()) return where(message.status());
    if (message->type != PsiMessageType::kDoubleBlinded) {
      return where(InvalidArgumentError("expected double-blinded values, got another message"));
    }
    if (message->session != parsed->session) {
      return where(InvalidArgumentError("values of another session"));
    }
    if (Status accepted = guard.Accept(owner, *message); !accepted.ok()) return where(accepted);
    out.of_partner.insert(out.of_partner.end(), message->points.begin(), message->points.end());
    values = !message->last;
  }
  auto frame = next();
  if (!frame.ok()) return where(frame.status());
  if (!*frame) return where(InvalidArgumentError("the stream ends before the contribution"));
  auto contribution = ParseContribution(
      std::span(reinterpret_cast<const uint8_t*>((*frame)->data()), (*frame)->size()));
  if (!contribution.ok()) return where(contribution.status());
  if (contribution->session != parsed->session) {
    return where(InvalidArgumentError("a contribution of another session"));
  }
  out.contribution = std::move(*contribution);
  auto extra = next();
  if (!extra.ok()) return where(extra.status());
  if (*extra) return where(InvalidArgumentError("frames after the contribution"));
  return out;
}

namespace {

// Both contributions' values go into the JSON result, which holds UTF-8 only.
Status CheckLabels(const Contribution& a, const Contribution& b) {
  for (const auto& [owner, c] : {std::pair{"a", &a}, std::pair{"b", &b}}) {
    for (const Dimension& d : c->dimensions) {
      for (const std::string& label : d.labels) {
        if (!internal::IsUtf8(label)) {
          return InvalidArgumentError("owner {}: a value of {} is not UTF-8", owner, d.name);
        }
      }
    }
  }
  return OkStatus();
}

// Counts of the pairs, released as RunJoinJob documents (an overlap: every position, no
// breakdown).
StatusOr<std::string> ReleaseCounts(const JoinJob& job, const std::string& job_text,
                                    std::span<const MatchedPair> pairs, Contribution ca,
                                    Contribution cb, const AttestationProvider& attestation,
                                    RandomSource& random) {
  if (job.kind == JoinJob::Kind::kOverlap) {
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
  if (job.count) j["count"] = Hex(*job.count);
  j["kind"] = KindName(job.kind);
  j["dimensions"] = counts.dimensions;
  j["cells"] = nlohmann::ordered_json::array();
  for (const JointCell& c : counts.cells) {
    j["cells"].push_back({{"labels", c.labels}, {"count", c.count}});
  }
  j["filtered_cells"] = counts.filtered_cells;
  j["k_min"] = job.k_min;
  j["noise"] = counts.noise;
  TESSERA_RETURN_IF_ERROR(Attest(j, job_text, attestation));
  return j.dump();
}

}  // namespace

StatusOr<std::string> RunJoinJob(const OwnerStream& a, const OwnerStream& b,
                                 const AttestationProvider& attestation, RandomSource& random) {
  return RunJoinJob(a, b, attestation, random, nullptr);
}

StatusOr<std::string> RunJoinJob(const OwnerStream& a, const OwnerStream& b,
                                 const AttestationProvider& attestation, RandomSource& random,
                                 KeptJoin* kept) {
  if (a.job != b.job) return InvalidArgumentError("the owners sent different jobs");
  TESSERA_ASSIGN_OR_RETURN(const JoinJob job, ParseJoinJob(a.job));
  if (job.count) return InvalidArgumentError("a count on a kept match, but no match is kept");
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
  TESSERA_RETURN_IF_ERROR(CheckLabels(a.contribution, b.contribution));
  std::vector<MatchedPair> pairs = MatchPositions(of_a, of_b);
  if (job.kind == JoinJob::Kind::kActivation) {
    return ReleaseActivation(job, a.job, pairs, a.contribution, b.contribution, attestation);
  }
  TESSERA_ASSIGN_OR_RETURN(
      std::string released,
      ReleaseCounts(job, a.job, pairs, a.contribution, b.contribution, attestation, random));
  if (job.keep && kept != nullptr) {
    kept->job = job;
    kept->pairs = std::move(pairs);
    kept->a_positions = static_cast<uint32_t>(of_a.size());
    kept->b_positions = static_cast<uint32_t>(of_b.size());
    kept->counts.clear();
  }
  return released;
}

StatusOr<std::string> RunKeptCount(KeptJoin& kept, const OwnerStream& a, const OwnerStream& b,
                                   const AttestationProvider& attestation, RandomSource& random) {
  if (a.job != b.job) return InvalidArgumentError("the owners sent different jobs");
  TESSERA_ASSIGN_OR_RETURN(const JoinJob job, ParseJoinJob(a.job));
  if (!job.count) return InvalidArgumentError("a job that is no count, on a kept match");
  if (job.session != kept.job.session) {
    return InvalidArgumentError("a count on another match than the one kept here");
  }
  if (std::find(kept.counts.begin(), kept.counts.end(), *job.count) != kept.counts.end()) {
    return InvalidArgumentError("a count that ran on this match already");
  }
  if (a.contribution.session != job.session || b.contribution.session != job.session) {
    return InvalidArgumentError("a contribution of another session");
  }
  if (a.contribution.in_audience.size() != kept.a_positions ||
      b.contribution.in_audience.size() != kept.b_positions) {
    return InvalidArgumentError(
        "sizes do not fit: the match has {} positions of owner a and {} of owner b; the owners "
        "contribute {} and {}",
        kept.a_positions, kept.b_positions, a.contribution.in_audience.size(),
        b.contribution.in_audience.size());
  }
  TESSERA_RETURN_IF_ERROR(CheckLabels(a.contribution, b.contribution));
  kept.counts.push_back(*job.count);
  return ReleaseCounts(job, a.job, kept.pairs, a.contribution, b.contribution, attestation, random);
}

}  // namespace tessera::collab
