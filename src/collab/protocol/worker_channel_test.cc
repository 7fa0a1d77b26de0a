// The sealed channel to the join worker (worker_channel.h): what a relay may do to an owner's
// stream — change a byte, drop, swap, replay or cut frames, send it to another worker — is
// refused with a clear error; only the recipient opens a result.

#include "tessera/collab/worker_channel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace tessera::collab {
namespace {

using ::testing::HasSubstr;

std::array<uint8_t, 32> Seed(uint8_t byte) {
  std::array<uint8_t, 32> seed{};
  seed.fill(byte);
  return seed;
}

WorkerKeyPair Worker(uint8_t seed_byte) { return *WorkerKeyPair::FromSeed(Seed(seed_byte)); }

// A sealed stream as a relay sees it: the header, then one frame per payload.
struct SealedStream {
  std::string header;
  std::vector<std::string> frames;
  std::string Bytes() const {
    std::string out = header;
    for (const auto& f : frames) out += f;
    return out;
  }
};

SealedStream Seal(const X25519PublicKey& worker, const std::vector<std::string>& payloads) {
  auto writer = SealedStreamWriter::Create(worker);
  EXPECT_TRUE(writer.ok()) << writer.status().message();
  SealedStream out{writer->header(), {}};
  for (size_t i = 0; i < payloads.size(); ++i) {
    auto frame = writer->Seal(payloads[i], i + 1 == payloads.size());
    EXPECT_TRUE(frame.ok()) << frame.status().message();
    out.frames.push_back(*frame);
  }
  return out;
}

ReadFn FromBytes(std::string bytes) {
  auto s = std::make_shared<const std::string>(std::move(bytes));
  auto at = std::make_shared<size_t>(0);
  return [s, at](uint8_t* out, size_t n) -> StatusOr<size_t> {
    const size_t take = std::min(n, s->size() - *at);
    std::memcpy(out, s->data() + *at, take);
    *at += take;
    return take;
  };
}

// Every plaintext frame of `bytes` to its end, or the first error.
StatusOr<std::vector<std::string>> OpenAll(std::string bytes, const WorkerKeyPair& keys) {
  TESSERA_ASSIGN_OR_RETURN(SealedStreamReader reader,
                           SealedStreamReader::Open(FromBytes(std::move(bytes)), keys));
  std::vector<std::string> out;
  for (;;) {
    TESSERA_ASSIGN_OR_RETURN(std::optional<std::string> frame, reader.Next());
    if (!frame) return out;
    out.push_back(std::move(*frame));
  }
}

const std::vector<std::string> kPayloads = {R"({"version":1,"kind":"overlap"})",
                                            std::string(300, 'v'), "", "the contribution"};

TEST(WorkerChannel, CarriesEachFrameInOrderAndEndsAfterTheFinalOne) {
  const WorkerKeyPair worker = Worker(1);
  const SealedStream s = Seal(worker.public_key(), kPayloads);
  auto reader = SealedStreamReader::Open(FromBytes(s.Bytes()), worker);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  for (const std::string& payload : kPayloads) {
    auto frame = reader->Next();
    ASSERT_TRUE(frame.ok()) << frame.status().message();
    ASSERT_TRUE(frame->has_value());
    EXPECT_EQ(**frame, payload);
  }
  for (int again = 0; again < 2; ++again) {  // the end, and it stays the end
    auto end = reader->Next();
    ASSERT_TRUE(end.ok()) << end.status().message();
    EXPECT_FALSE(end->has_value());
  }
}

TEST(WorkerChannel, ARelaySeesCiphertextAndSizesOnly) {
  const WorkerKeyPair worker = Worker(1);
  const std::string secret = "r7@x.de double-blinded 18-34";
  const SealedStream s = Seal(worker.public_key(), {secret, secret});
  EXPECT_EQ(s.Bytes().find("r7@x.de"), std::string::npos);
  EXPECT_NE(s.frames[0], s.frames[1]);  // the same payload twice seals differently
  for (const auto& f : s.frames) EXPECT_EQ(f.size(), 4 + secret.size() + 17);
  EXPECT_EQ(s.header.size(), 4u + 4 + 32 + 24);
  // Two streams of the same payloads share nothing but their layout.
  const SealedStream t = Seal(worker.public_key(), {secret, secret});
  EXPECT_NE(s.header, t.header);
  EXPECT_NE(s.frames[0], t.frames[0]);
}

TEST(WorkerChannel, RefusesEveryTamperedByte) {
  const WorkerKeyPair worker = Worker(1);
  const SealedStream s = Seal(worker.public_key(), {"job", "values", "contribution"});
  const std::string bytes = s.Bytes();
  ASSERT_TRUE(OpenAll(bytes, worker).ok());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    auto opened = OpenAll(damaged, worker);
    ASSERT_FALSE(opened.ok()) << "byte " << i << " changed, and the stream still opened";
    EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument) << i;
  }
  // A changed ciphertext byte: the frame that carries it is named.
  std::string damaged = bytes;
  damaged[s.header.size() + s.frames[0].size() + 4 + 2] ^= 1;  // inside the second sealed frame
  auto opened = OpenAll(damaged, worker);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("sealed frame 2 does not open"));
}

TEST(WorkerChannel, RefusesADroppedFrame) {
  const WorkerKeyPair worker = Worker(1);
  SealedStream s = Seal(worker.public_key(), kPayloads);
  s.frames.erase(s.frames.begin() + 1);
  auto opened = OpenAll(s.Bytes(), worker);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(opened.status().message(), HasSubstr("sealed frame 2 does not open"));
  EXPECT_THAT(opened.status().message(), HasSubstr("dropped"));
}

TEST(WorkerChannel, RefusesSwappedFrames) {
  const WorkerKeyPair worker = Worker(1);
  SealedStream s = Seal(worker.public_key(), kPayloads);
  std::swap(s.frames[1], s.frames[2]);
  auto opened = OpenAll(s.Bytes(), worker);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(opened.status().message(), HasSubstr("reordered"));
}

TEST(WorkerChannel, RefusesATruncatedStream) {
  const WorkerKeyPair worker = Worker(1);
  SealedStream s = Seal(worker.public_key(), kPayloads);
  // Without its final frame: every frame before it opens, and then the end is refused.
  s.frames.pop_back();
  auto opened = OpenAll(s.Bytes(), worker);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(opened.status().message(), HasSubstr("without its final frame"));
  // Cut at any byte.
  const std::string bytes = Seal(worker.public_key(), {"job", "values", "contribution"}).Bytes();
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto part = OpenAll(bytes.substr(0, cut), worker);
    ASSERT_FALSE(part.ok()) << "cut at " << cut;
    EXPECT_EQ(part.status().code(), StatusCode::kInvalidArgument) << cut;
  }
}

TEST(WorkerChannel, RefusesAFrameReplayedFromAnotherStreamOrRepeated) {
  const WorkerKeyPair worker = Worker(1);
  SealedStream s = Seal(worker.public_key(), kPayloads);
  const SealedStream other = Seal(worker.public_key(), kPayloads);  // same payloads, same worker
  SealedStream spliced = s;
  spliced.frames[1] = other.frames[1];
  auto opened = OpenAll(spliced.Bytes(), worker);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("replayed from another stream"));
  // Another stream's header in front of these frames.
  SealedStream reheaded = s;
  reheaded.header = other.header;
  EXPECT_FALSE(OpenAll(reheaded.Bytes(), worker).ok());
  // A frame of this stream sent twice.
  SealedStream repeated = s;
  repeated.frames.insert(repeated.frames.begin() + 1, s.frames[0]);
  EXPECT_FALSE(OpenAll(repeated.Bytes(), worker).ok());
}

TEST(WorkerChannel, RefusesBytesAfterTheFinalFrame) {
  const WorkerKeyPair worker = Worker(1);
  const SealedStream s = Seal(worker.public_key(), kPayloads);
  for (const std::string& extra : {s.frames[0], std::string("\x00", 1), Frame("")}) {
    auto opened = OpenAll(s.Bytes() + extra, worker);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(opened.status().message(), HasSubstr("after the sealed stream's final frame"));
  }
  // Every frame up to the final one is still delivered before the refusal.
  auto reader = *SealedStreamReader::Open(FromBytes(s.Bytes() + s.frames[0]), worker);
  for (size_t i = 0; i < kPayloads.size(); ++i) ASSERT_TRUE(reader.Next().ok());
  EXPECT_FALSE(reader.Next().ok());
  EXPECT_FALSE(reader.Next().ok());  // and stays refused
}

TEST(WorkerChannel, RefusesAStreamSealedToAnotherWorkersKey) {
  const WorkerKeyPair worker = Worker(1);
  const WorkerKeyPair other = Worker(2);
  const SealedStream s = Seal(other.public_key(), kPayloads);
  auto opened = OpenAll(s.Bytes(), worker);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(opened.status().message(), HasSubstr("sealed frame 1 does not open"));
  EXPECT_THAT(opened.status().message(), HasSubstr("another worker's key"));
  EXPECT_TRUE(OpenAll(s.Bytes(), other).ok());
}

TEST(WorkerChannel, SealsNothingAfterTheFinalFrame) {
  auto writer = *SealedStreamWriter::Create(Worker(1).public_key());
  ASSERT_TRUE(writer.Seal("only", true).ok());
  auto after = writer.Seal("more", false);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), StatusCode::kFailedPrecondition);
}

TEST(WorkerChannel, RefusesAWorkerKeyNoKeyCanBeAgreedWith) {
  auto writer = SealedStreamWriter::Create(X25519PublicKey{});  // the zero point: low order
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), StatusCode::kInvalidArgument);
}

TEST(WorkerChannel, NamesWhatIsNotASealedStream) {
  const WorkerKeyPair worker = Worker(1);
  const auto open = [&](std::string bytes) {
    return SealedStreamReader::Open(FromBytes(std::move(bytes)), worker).status();
  };
  EXPECT_THAT(open("").message(), HasSubstr("ends before its header"));
  EXPECT_THAT(open(Frame(R"({"version":1})")).message(), HasSubstr("not a sealed worker stream"));
  std::string header = Seal(worker.public_key(), {"x"}).header;
  header[4 + 3] = 2;
  EXPECT_THAT(open(header).message(), HasSubstr("version 2"));
  EXPECT_THAT(open(Frame(std::string("TWC\x01", 4) + "short")).message(), HasSubstr("header has"));
  // An owner key of low order in the header: no key can be agreed.
  header = Frame(std::string("TWC\x01", 4) + std::string(32 + 24, '\0'));
  EXPECT_THAT(open(header).message(), HasSubstr("not usable"));
}

TEST(WorkerChannel, TheResultOpensForItsRecipientOnly) {
  const ResultKeyPair recipient = *ResultKeyPair::FromSeed(Seed(7));
  const ResultKeyPair other = *ResultKeyPair::FromSeed(Seed(8));
  const std::string result = R"({"cells":[{"labels":[],"count":250}]})";
  auto sealed = SealResult(result, recipient.public_key());
  ASSERT_TRUE(sealed.ok()) << sealed.status().message();
  EXPECT_EQ(sealed->find("count"), std::string::npos);
  auto opened = recipient.Open(*sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(*opened, result);
  auto wrong = other.Open(*sealed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("sealed to another key"));
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string damaged = *sealed;
    damaged[i] ^= 1;
    EXPECT_EQ(recipient.Open(damaged).status().code(), StatusCode::kInvalidArgument) << i;
  }
  EXPECT_EQ(recipient.Open(sealed->substr(0, 47)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SealResult(result, X25519PublicKey{}).status().code(), StatusCode::kInvalidArgument);
  // A fresh pair is another key; the same seed gives the same key.
  EXPECT_NE(ResultKeyPair::Generate()->public_key(), recipient.public_key());
  EXPECT_EQ(ResultKeyPair::FromSeed(Seed(7))->public_key(), recipient.public_key());
}

TEST(WorkerChannel, KeyPairsMoveTheirKeys) {
  WorkerKeyPair a = *WorkerKeyPair::Generate();
  const X25519PublicKey key = a.public_key();
  WorkerKeyPair b = std::move(a);
  EXPECT_EQ(b.public_key(), key);
  const SealedStream s = Seal(key, {"x"});
  EXPECT_TRUE(OpenAll(s.Bytes(), b).ok());
}

TEST(WorkerHello, RoundTripsOnOneLine) {
  WorkerHello hello;
  hello.public_key = Worker(1).public_key();
  const std::string json = EncodeWorkerHello(hello);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_THAT(json, HasSubstr(R"("public_key":")" + PublicKeyHex(hello.public_key) + "\""));
  EXPECT_THAT(json, HasSubstr(R"("attestation":"simulated")"));
  auto parsed = ParseWorkerHello(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->public_key, hello.public_key);
  EXPECT_EQ(parsed->mode, AttestationMode::kSimulated);
  EXPECT_TRUE(parsed->evidence.empty());
  // Evidence is bytes (a quote), carried as base64.
  hello.mode = AttestationMode::kSgxDcap;
  hello.evidence = std::string("\x03\x00\xff quote", 9);
  parsed = ParseWorkerHello(EncodeWorkerHello(hello));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->mode, AttestationMode::kSgxDcap);
  EXPECT_EQ(parsed->evidence, hello.evidence);
}

TEST(WorkerHello, RefusesAnythingElseNamingTheField) {
  const std::string key = PublicKeyHex(Worker(1).public_key());
  const std::string upper = [&] {
    std::string u = key;
    for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return u;
  }();
  const auto hello = [&](const std::string& fields) { return "{" + fields + "}"; };
  const std::string ok_fields =
      R"("version":1,"public_key":")" + key + R"(","attestation":"simulated","evidence":"")";
  ASSERT_TRUE(ParseWorkerHello(hello(ok_fields)).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not a JSON object"},
      {"[]", "not a JSON object"},
      {hello(ok_fields + R"(,"extra":1)"), "unknown field 'extra'"},
      {hello(R"("version":2,"public_key":")" + key +
             R"(","attestation":"simulated","evidence":"")"),
       "version"},
      {hello(R"("version":1,"attestation":"simulated","evidence":"")"), "public_key"},
      {hello(R"("version":1,"public_key":")" + upper +
             R"(","attestation":"simulated","evidence":"")"),
       "public_key"},
      {hello(R"("version":1,"public_key":")" + key.substr(2) +
             R"(","attestation":"simulated","evidence":"")"),
       "public_key"},
      {hello(R"("version":1,"public_key":")" + key + R"(","evidence":"")"), "attestation"},
      {hello(R"("version":1,"public_key":")" + key + R"(","attestation":"none","evidence":"")"),
       "attestation"},
      {hello(R"("version":1,"public_key":")" + key + R"(","attestation":"simulated")"), "evidence"},
      {hello(R"("version":1,"public_key":")" + key +
             R"(","attestation":"simulated","evidence":"cXVvdGU=")"),
       "evidence must be empty"},
      {hello(R"("version":1,"public_key":")" + key + R"(","attestation":"sgx-dcap","evidence":"")"),
       "evidence"},
      {hello(R"("version":1,"public_key":")" + key +
             R"(","attestation":"sgx-dcap","evidence":"cXVvdGU")"),
       "base64"},
  };
  for (const auto& [json, field] : cases) {
    auto parsed = ParseWorkerHello(json);
    ASSERT_FALSE(parsed.ok()) << json;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(parsed.status().message(), HasSubstr(field)) << json;
  }
}

TEST(PublicKeyHex, IsSixtyFourLowerCaseDigits) {
  const X25519PublicKey key = Worker(3).public_key();
  const std::string hex = PublicKeyHex(key);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(*ParsePublicKeyHex(hex), key);
  EXPECT_FALSE(ParsePublicKeyHex(hex.substr(1)).ok());
  EXPECT_FALSE(ParsePublicKeyHex(std::string(63, '0') + "g").ok());
  EXPECT_FALSE(ParsePublicKeyHex(std::string(63, '0') + "A").ok());
}

}  // namespace
}  // namespace tessera::collab
