// PSI messages on the wire (psi_message.h): what a party or the join worker accepts, and every
// way a hostile or broken message is refused.

#include "tessera/collab/psi_message.h"

#include <gtest/gtest.h>

#include <random>

#include "tessera/collab/join.h"
#include "tessera/collab/match_token.h"
#include "tessera/collab/psi.h"

namespace tessera::collab {
namespace {

std::vector<Point> Points(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Point> out;
  while (out.size() < n) {
    std::array<uint8_t, 64> uniform;
    for (auto& b : uniform) b = static_cast<uint8_t>(rng());
    out.push_back(*Point::FromUniformBytes(uniform));
  }
  return out;
}

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

PsiMessage Message(size_t n) {
  PsiMessage m;
  m.type = PsiMessageType::kDoubleBlinded;
  m.session = *NewPsiSessionId();
  m.sequence = 7;
  m.last = true;
  m.points = Points(n, n);
  return m;
}

TEST(PsiMessage, RoundTripsKeepingEachPointsPosition) {
  const PsiMessage m = Message(100);
  auto bytes = EncodePsiMessage(m);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  EXPECT_EQ(bytes->size(), kPsiHeaderSize + 100 * Point::kSize);
  auto parsed = ParsePsiMessage(Bytes(*bytes));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->type, PsiMessageType::kDoubleBlinded);
  EXPECT_EQ(parsed->session, m.session);
  EXPECT_EQ(parsed->sequence, 7u);
  EXPECT_TRUE(parsed->last);
  EXPECT_EQ(parsed->points, m.points);
  auto empty = EncodePsiMessage(Message(0));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(ParsePsiMessage(Bytes(*empty))->points.empty());
}

TEST(PsiMessage, TheSenderCannotPutAValueTwiceOrTooMany) {
  PsiMessage m = Message(3);
  m.points.push_back(m.points[1]);
  EXPECT_EQ(EncodePsiMessage(m).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePsiMessage(Message(5), PsiMessageLimits{4}).status().code(),
            StatusCode::kInvalidArgument);
}

// Each way a message can be wrong, and the offset the error names.
TEST(PsiMessage, RefusesEveryMalformedMessageNamingWhere) {
  const std::string good = *EncodePsiMessage(Message(3));
  auto refused = [&](std::string bytes, const std::string& where, const PsiMessageLimits& limits) {
    const auto r = ParsePsiMessage(Bytes(bytes), limits);
    if (r.ok()) return ::testing::AssertionFailure() << "accepted";
    if (r.status().message().find(where) == std::string::npos) {
      return ::testing::AssertionFailure() << r.status().message();
    }
    return ::testing::AssertionSuccess();
  };
  const PsiMessageLimits limits;
  EXPECT_TRUE(refused(good.substr(0, 31), "shorter than its 32-byte header", limits));
  std::string b = good;
  b[0] = 'X';
  EXPECT_TRUE(refused(b, "wrong magic", limits));
  b = good;
  b[4] = 2;
  EXPECT_TRUE(refused(b, "version 2 is unknown", limits));
  b = good;
  b[5] = 9;
  EXPECT_TRUE(refused(b, "unknown message type 9", limits));
  b = good;
  b[6] = 0x03;
  EXPECT_TRUE(refused(b, "unknown flags", limits));
  b = good;
  b[7] = 1;
  EXPECT_TRUE(refused(b, "reserved", limits));
  EXPECT_TRUE(refused(good + std::string(32, '\0'), "the message has 128", limits));
  EXPECT_TRUE(refused(good.substr(0, good.size() - 1), "the message has 95", limits));
  EXPECT_TRUE(refused(good, "more than the 2 allowed", PsiMessageLimits{2}));
  // A huge count in a short message: refused by length, nothing allocated for it.
  b = good;
  b[28] = '\x7f';
  EXPECT_TRUE(refused(b, "byte 28", PsiMessageLimits{0xffffffffu}));
  // The identity, a non-canonical encoding (the field prime p = 2^255 - 19 itself) and bytes
  // that decode to no element.
  b = good;
  std::fill(b.begin() + 32, b.begin() + 64, '\0');
  EXPECT_TRUE(refused(b, "byte 32: point 0", limits));
  b = good;
  const uint8_t p[32] = {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  std::copy(std::begin(p), std::end(p), b.begin() + 64);
  EXPECT_TRUE(refused(b, "byte 64: point 1", limits));
  b = good;
  b[96] = static_cast<char>(b[96] ^ 1);  // the last point, one bit off
  const auto flipped = ParsePsiMessage(Bytes(b));
  EXPECT_FALSE(flipped.ok() && flipped->points.size() == 3 &&
               flipped->points == ParsePsiMessage(Bytes(good))->points);
  // Repeated, next to each other or not.
  b = good;
  std::copy(b.begin() + 32, b.begin() + 64, b.begin() + 64);
  EXPECT_TRUE(refused(b, "byte 64: point 1 repeats an earlier one", limits));
  b = good;
  std::copy(b.begin() + 32, b.begin() + 64, b.begin() + 96);
  EXPECT_TRUE(refused(b, "byte 96: point 2 repeats an earlier one", limits));
}

TEST(PsiMessage, AnyBytesGiveAMessageOrAnErrorNeverACrash) {
  const std::string good = *EncodePsiMessage(Message(4));
  std::mt19937_64 rng(11);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string b = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) b[rng() % b.size()] = static_cast<char>(rng());
    if (rng() % 8 == 0) b.resize(rng() % (b.size() + 8));
    const auto r = ParsePsiMessage(Bytes(b));
    if (r.ok()) {
      ++accepted;
      EXPECT_EQ(*EncodePsiMessage(*r), b);  // one encoding per message
    }
  }
  EXPECT_LT(accepted, 20000);  // most edits break a point, the order or the header
}

TEST(PsiMessage, ShufflesPositionsUniformly) {
  auto p = ShuffleForSession(5);
  ASSERT_TRUE(p.ok());
  std::vector<uint32_t> sorted = *p;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  // Each item lands in each position about equally often (3000 shuffles of 3: 1000 expected per
  // cell; 6 sigma is ~155).
  int count[3][3] = {};
  for (int i = 0; i < 3000; ++i) {
    auto q = *ShuffleForSession(3);
    for (int pos = 0; pos < 3; ++pos) ++count[pos][q[pos]];
  }
  for (auto& row : count) {
    for (int c : row) EXPECT_NEAR(c, 1000, 155);
  }
  EXPECT_TRUE(ShuffleForSession(0)->empty());
}

TEST(ReplayGuard, AcceptsEachChunkOnceInSequenceUntilTheLast) {
  ReplayGuard guard;
  PsiMessage m = Message(1);
  m.last = false;
  m.sequence = 0;
  ASSERT_TRUE(guard.Accept("tp1:a", m).ok());
  EXPECT_FALSE(guard.Accept("tp1:a", m).ok());  // the same chunk again: a replay
  ASSERT_TRUE(guard.Accept("tp1:b", m).ok());   // another sender's stream
  m.sequence = 2;
  EXPECT_FALSE(guard.Accept("tp1:a", m).ok());  // chunk 1 is missing
  m.sequence = 1;
  m.last = true;
  ASSERT_TRUE(guard.Accept("tp1:a", m).ok());
  EXPECT_TRUE(guard.Complete("tp1:a", m.session, m.type));
  EXPECT_FALSE(guard.Complete("tp1:b", m.session, m.type));
  m.sequence = 2;
  EXPECT_FALSE(guard.Accept("tp1:a", m).ok());  // after the last
  PsiMessage other = Message(1);                // a new session starts afresh
  other.sequence = 0;
  EXPECT_TRUE(guard.Accept("tp1:a", other).ok());
}

// Two owners with their own keys: the double-blinded values of shared identifiers meet, through
// messages on the wire, and nothing else does.
TEST(PsiMessage, CarriesATwoPartyIntersectionThroughTheWire) {
  std::array<uint8_t, 32> a{}, b{};
  a.fill(1);
  b.fill(2);
  const auto key_a = *MatchTokenKey::Create(privacy::OwnerKey::FromBytes(a));
  const auto key_b = *MatchTokenKey::Create(privacy::OwnerKey::FromBytes(b));
  const auto session = *NewPsiSessionId();
  auto r_a = *SessionScalar::Random();
  auto r_b = *SessionScalar::Random();
  auto tokens = [](const MatchTokenKey& k, std::vector<std::string> ids) {
    std::vector<Point> out;
    for (const auto& id : ids) out.push_back(*k.Token(MatchKind::kEmail, id));
    return out;
  };
  auto wire = [&](std::vector<Point> points, PsiMessageType type) {
    PsiMessage m;
    m.type = type;
    m.session = session;
    m.last = true;
    m.points = std::move(points);
    return *ParsePsiMessage(Bytes(*EncodePsiMessage(std::move(m))));
  };
  // Round 1: each sends its blinded tokens, in a shuffled order, to the other.
  const std::vector<std::string> ids_a = {"x@a.de", "y@a.de", "both@x.de", "also@x.de"};
  const std::vector<std::string> ids_b = {"also@x.de", "both@x.de", "z@b.de"};
  auto shuffled = [](std::vector<std::string> ids) {
    const auto p = *ShuffleForSession(static_cast<uint32_t>(ids.size()));
    std::vector<std::string> out;
    for (uint32_t i : p) out.push_back(ids[i]);
    return out;
  };
  const std::vector<std::string> session_a = shuffled(ids_a), session_b = shuffled(ids_b);
  const PsiMessage from_a =
      wire(*BlindBatch(tokens(key_a, session_a), r_a), PsiMessageType::kBlindedTokens);
  const PsiMessage from_b =
      wire(*BlindBatch(tokens(key_b, session_b), r_b), PsiMessageType::kBlindedTokens);
  // Round 2: each applies its own r·k to the other's values, keeping their positions, and sends
  // them to the worker.
  const PsiMessage of_b =
      wire(*BlindBatch(from_b.points, r_a.WithMatchKey(key_a)), PsiMessageType::kDoubleBlinded);
  const PsiMessage of_a =
      wire(*BlindBatch(from_a.points, r_b.WithMatchKey(key_b)), PsiMessageType::kDoubleBlinded);
  // The worker lines up positions; each owner alone knows whose they are.
  const std::vector<MatchedPair> pairs = MatchPositions(of_a.points, of_b.points);
  ASSERT_EQ(pairs.size(), 2u);
  for (const MatchedPair& p : pairs) EXPECT_EQ(session_a[p.a], session_b[p.b]);
  EXPECT_TRUE(MatchPositions(of_a.points, {}).empty());
}

TEST(MatchPositions, PairsEqualValuesWhicheverSideIsSmaller) {
  const std::vector<Point> v = Points(6, 99);
  const std::vector<Point> a = {v[0], v[1], v[2], v[3]};
  const std::vector<Point> b = {v[4], v[3], v[1]};
  const std::vector<MatchedPair> expected = {{1, 2}, {3, 1}};
  EXPECT_EQ(MatchPositions(a, b), expected);
  const std::vector<MatchedPair> swapped = {{1, 3}, {2, 1}};
  EXPECT_EQ(MatchPositions(b, a), swapped);
}

}  // namespace
}  // namespace tessera::collab
