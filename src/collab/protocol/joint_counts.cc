#include "tessera/collab/joint_counts.h"

#include <cstring>
#include <unordered_set>

#include "collab/protocol/utf8_internal.h"

namespace tessera::collab {

namespace {

constexpr uint8_t kMagic[4] = {'T', 'P', 'S', 'I'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kContributionType = 3;
constexpr size_t kMaxNameBytes = 64;

bool NameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

void Put16(uint16_t v, std::string* out) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}
void Put32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

// Reads big-endian fields from a message, each failure naming the offset.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  size_t at() const { return at_; }
  Status Need(size_t n, std::string_view what) const {
    if (bytes_.size() - at_ < n) {
      return InvalidArgumentError("contribution: byte {}: the message ends inside {}", at_, what);
    }
    return OkStatus();
  }
  StatusOr<uint8_t> U8(std::string_view what) {
    TESSERA_RETURN_IF_ERROR(Need(1, what));
    return bytes_[at_++];
  }
  StatusOr<uint16_t> U16(std::string_view what) {
    TESSERA_RETURN_IF_ERROR(Need(2, what));
    const uint16_t v = static_cast<uint16_t>((bytes_[at_] << 8) | bytes_[at_ + 1]);
    at_ += 2;
    return v;
  }
  StatusOr<uint32_t> U32(std::string_view what) {
    TESSERA_RETURN_IF_ERROR(Need(4, what));
    const uint32_t v = (uint32_t{bytes_[at_]} << 24) | (uint32_t{bytes_[at_ + 1]} << 16) |
                       (uint32_t{bytes_[at_ + 2]} << 8) | bytes_[at_ + 3];
    at_ += 4;
    return v;
  }
  StatusOr<std::span<const uint8_t>> Bytes(size_t n, std::string_view what) {
    TESSERA_RETURN_IF_ERROR(Need(n, what));
    auto out = bytes_.subspan(at_, n);
    at_ += n;
    return out;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t at_ = 0;
};

Status ValidateName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return InvalidArgumentError("{}: a name of 1 to {} bytes, not {}", what, kMaxNameBytes,
                                name.size());
  }
  for (char c : name) {
    if (!NameChar(c)) {
      return InvalidArgumentError("{}: names take letters, digits and _ . : - only", what);
    }
  }
  return OkStatus();
}

}  // namespace

Status ValidateContribution(const Contribution& c) {
  if (c.in_audience.size() > kMaxContributionPositions) {
    return InvalidArgumentError("contribution: {} positions, more than the {} allowed",
                                c.in_audience.size(), kMaxContributionPositions);
  }
  if (c.dimensions.size() > 2) {
    return InvalidArgumentError("contribution: {} breakdown dimensions; at most 2",
                                c.dimensions.size());
  }
  for (const Dimension& d : c.dimensions) {
    TESSERA_RETURN_IF_ERROR(ValidateName(d.name, "contribution: a dimension"));
    const std::string where = "contribution: dimension " + d.name;
    if (d.labels.empty() || d.labels.size() > kMaxDimensionLabels) {
      return InvalidArgumentError("{}: 1 to {} values, not {}", where, kMaxDimensionLabels,
                                  d.labels.size());
    }
    std::unordered_set<std::string_view> seen;
    for (const std::string& label : d.labels) {
      if (label.empty() || label.size() > kMaxNameBytes) {
        return InvalidArgumentError("{}: values of 1 to {} bytes", where, kMaxNameBytes);
      }
      for (unsigned char ch : label) {
        if (ch < 0x20 || ch == 0x7f) {
          return InvalidArgumentError("{}: a value with a control character", where);
        }
      }
      if (!seen.insert(label).second) return InvalidArgumentError("{}: a value twice", where);
    }
    if (d.codes.size() != c.in_audience.size()) {
      return InvalidArgumentError("{}: {} codes for {} positions", where, d.codes.size(),
                                  c.in_audience.size());
    }
    for (uint16_t code : d.codes) {
      if (code > d.labels.size()) {
        return InvalidArgumentError("{}: code {} names no value (it has {})", where, code,
                                    d.labels.size());
      }
    }
  }
  return OkStatus();
}

StatusOr<std::string> EncodeContribution(const Contribution& c) {
  TESSERA_RETURN_IF_ERROR(ValidateContribution(c));
  std::string out(reinterpret_cast<const char*>(kMagic), sizeof kMagic);
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(kContributionType));
  out.append(2, '\0');  // flags, reserved
  out.append(reinterpret_cast<const char*>(c.session.data()), c.session.size());
  Put32(0, &out);  // sequence
  Put32(0, &out);  // count of points: none
  const auto n = static_cast<uint32_t>(c.in_audience.size());
  Put32(n, &out);
  std::string bits((n + 7) / 8, '\0');
  for (uint32_t i = 0; i < n; ++i) {
    if (c.in_audience[i]) bits[i / 8] = static_cast<char>(bits[i / 8] | (1 << (i % 8)));
  }
  out += bits;
  out.push_back(static_cast<char>(c.dimensions.size()));
  for (const Dimension& d : c.dimensions) {
    out.push_back(static_cast<char>(d.name.size()));
    out += d.name;
    Put16(static_cast<uint16_t>(d.labels.size()), &out);
    for (const std::string& label : d.labels) {
      out.push_back(static_cast<char>(label.size()));
      out += label;
    }
    for (uint16_t code : d.codes) Put16(code, &out);
  }
  return out;
}

StatusOr<Contribution> ParseContribution(std::span<const uint8_t> bytes) {
  if (bytes.size() < kPsiHeaderSize) {
    return InvalidArgumentError("contribution: {} bytes, shorter than its {}-byte header",
                                bytes.size(), kPsiHeaderSize);
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return InvalidArgumentError("contribution: byte 0: not a PSI message (wrong magic)");
  }
  if (bytes[4] != kVersion) {
    return InvalidArgumentError("contribution: byte 4: version {} is unknown", bytes[4]);
  }
  if (bytes[5] != kContributionType) {
    return InvalidArgumentError("contribution: byte 5: message type {}, not a contribution (3)",
                                bytes[5]);
  }
  for (size_t i : {6, 7, 24, 25, 26, 27, 28, 29, 30, 31}) {
    if (bytes[i] != 0) return InvalidArgumentError("contribution: byte {}: must be 0", i);
  }
  Contribution c;
  std::memcpy(c.session.data(), bytes.data() + 8, c.session.size());
  Reader r(bytes);
  TESSERA_RETURN_IF_ERROR(r.Bytes(kPsiHeaderSize, "the header").status());
  TESSERA_ASSIGN_OR_RETURN(const uint32_t n, r.U32("the count of positions"));
  if (n > kMaxContributionPositions) {
    return InvalidArgumentError("contribution: byte {}: {} positions, more than the {} allowed",
                                r.at() - 4, n, kMaxContributionPositions);
  }
  TESSERA_ASSIGN_OR_RETURN(auto bits, r.Bytes((size_t{n} + 7) / 8, "the audience bits"));
  if (n % 8 != 0 && (bits.back() >> (n % 8)) != 0) {
    return InvalidArgumentError("contribution: byte {}: bits set past the last position",
                                r.at() - 1);
  }
  c.in_audience.resize(n);
  for (uint32_t i = 0; i < n; ++i) c.in_audience[i] = (bits[i / 8] >> (i % 8)) & 1;
  TESSERA_ASSIGN_OR_RETURN(const uint8_t dims, r.U8("the count of dimensions"));
  if (dims > 2) {
    return InvalidArgumentError("contribution: byte {}: {} dimensions; at most 2", r.at() - 1,
                                dims);
  }
  for (uint8_t k = 0; k < dims; ++k) {
    Dimension d;
    TESSERA_ASSIGN_OR_RETURN(const uint8_t name_size, r.U8("a dimension's name"));
    TESSERA_ASSIGN_OR_RETURN(auto name, r.Bytes(name_size, "a dimension's name"));
    d.name.assign(name.begin(), name.end());
    TESSERA_ASSIGN_OR_RETURN(const uint16_t labels, r.U16("a dimension's count of values"));
    if (labels > kMaxDimensionLabels) {
      return InvalidArgumentError("contribution: byte {}: {} values, more than the {} allowed",
                                  r.at() - 2, labels, kMaxDimensionLabels);
    }
    for (uint16_t l = 0; l < labels; ++l) {
      TESSERA_ASSIGN_OR_RETURN(const uint8_t size, r.U8("a value"));
      TESSERA_ASSIGN_OR_RETURN(auto label, r.Bytes(size, "a value"));
      d.labels.emplace_back(label.begin(), label.end());
      // Values go into the worker's JSON result: refuse what is not UTF-8 here, by position
      // (the name is not validated yet, and neither is echoed).
      if (!internal::IsUtf8(d.labels.back())) {
        return InvalidArgumentError("contribution: byte {}: value {} of dimension {} is not UTF-8",
                                    r.at() - size, l + 1, k + 1);
      }
    }
    TESSERA_RETURN_IF_ERROR(r.Need(size_t{n} * 2, "the codes"));
    d.codes.resize(n);
    for (uint32_t i = 0; i < n; ++i) d.codes[i] = *r.U16("the codes");
    c.dimensions.push_back(std::move(d));
  }
  if (r.at() != bytes.size()) {
    return InvalidArgumentError("contribution: byte {}: {} bytes after the end", r.at(),
                                bytes.size() - r.at());
  }
  TESSERA_RETURN_IF_ERROR(ValidateContribution(c));
  return c;
}

StatusOr<JointCounts> CountJoint(std::span<const MatchedPair> pairs, const Contribution& a,
                                 const Contribution& b, const JointCountQuery& query,
                                 RandomSource& random) {
  TESSERA_RETURN_IF_ERROR(ValidateContribution(a));
  TESSERA_RETURN_IF_ERROR(ValidateContribution(b));
  if (query.k_min == 0) return InvalidArgumentError("k_min must be at least 1");
  if (a.dimensions.size() + b.dimensions.size() > 2) {
    return InvalidArgumentError("a breakdown by {} dimensions; at most 2",
                                a.dimensions.size() + b.dimensions.size());
  }
  std::optional<DiscreteLaplace> noise;
  JointCounts out;
  out.noise = "none";
  if (query.epsilon_micro) {
    auto laplace = DiscreteLaplace::Create(1'000'000, static_cast<int64_t>(*query.epsilon_micro));
    if (!laplace.ok() || *query.epsilon_micro == 0) {
      return InvalidArgumentError("epsilon must be between 0.000001 and 4294.967296");
    }
    noise = *laplace;
    out.noise = fmt::format("discrete_laplace(scale={}/{})", noise->scale_numerator(),
                            noise->scale_denominator());
  }
  // The dimensions in order: a's, then b's; each with its side's codes.
  struct Dim {
    const Dimension* d;
    bool of_a;
  };
  std::vector<Dim> dims;
  for (const Dimension& d : a.dimensions) dims.push_back({&d, true});
  for (const Dimension& d : b.dimensions) dims.push_back({&d, false});
  size_t cells = 1;
  for (const Dim& d : dims) {
    cells *= d.d->labels.size();
    out.dimensions.push_back((d.of_a ? "a." : "b.") + d.d->name);
  }
  std::vector<int64_t> counts(cells, 0);
  for (const MatchedPair& p : pairs) {
    if (p.a >= a.in_audience.size() || p.b >= b.in_audience.size()) {
      return InvalidArgumentError(
          "a matched position is outside a contribution ({} and {} of {} "
          "and {})",
          p.a, p.b, a.in_audience.size(), b.in_audience.size());
    }
    if (!a.in_audience[p.a] || !b.in_audience[p.b]) continue;
    size_t cell = 0;
    bool valued = true;
    for (const Dim& d : dims) {
      const uint16_t code = d.d->codes[d.of_a ? p.a : p.b];
      if (code == 0) {
        valued = false;  // no value for this dimension: in no cell
        break;
      }
      cell = cell * d.d->labels.size() + (code - 1);
    }
    if (valued) ++counts[cell];
  }
  for (size_t cell = 0; cell < cells; ++cell) {
    // Every cell of the breakdown is noised, the empty ones too, before the threshold.
    const int64_t count = counts[cell] + (noise ? noise->Sample(random) : 0);
    if (count < static_cast<int64_t>(query.k_min)) {
      ++out.filtered_cells;
      continue;
    }
    JointCell c;
    c.count = count;
    size_t rest = cell;
    c.labels.resize(dims.size());
    for (size_t k = dims.size(); k-- > 0;) {
      c.labels[k] = dims[k].d->labels[rest % dims[k].d->labels.size()];
      rest /= dims[k].d->labels.size();
    }
    out.cells.push_back(std::move(c));
  }
  return out;
}

}  // namespace tessera::collab
