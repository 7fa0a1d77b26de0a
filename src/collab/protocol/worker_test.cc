// The join worker (worker.h, apps/tessera-worker): two simulated owners with their own keys run
// a session through it, in process and through the real binary, confined by seccomp, in plain
// frames and sealed to the worker (worker_channel.h) by a requester that relays them.

#include "tessera/collab/worker.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "common/test_support.h"
#include "tessera/collab/match_token.h"
#include "tessera/collab/psi.h"
#include "tessera/collab/worker_channel.h"

namespace tessera::collab {
namespace {

// One owner: its people (e-mail -> age band), its key and its session.
struct Owner {
  std::map<std::string, std::string> people;
  MatchTokenKey key;
  SessionScalar r;
  std::vector<std::string> session;  // the people in session order (shuffled)
  std::vector<Point> round1;         // what it sends the other owner
};

Owner MakeOwner(uint8_t key_byte, std::map<std::string, std::string> people) {
  std::array<uint8_t, 32> k{};
  k.fill(key_byte);
  Owner o{std::move(people),
          *MatchTokenKey::Create(privacy::OwnerKey::FromBytes(k)),
          *SessionScalar::Random(),
          {},
          {}};
  std::vector<std::string> ids;
  for (const auto& [id, band] : o.people) ids.push_back(id);
  const std::vector<uint32_t> order = *ShuffleForSession(static_cast<uint32_t>(ids.size()));
  for (uint32_t i : order) o.session.push_back(ids[i]);
  std::vector<Point> tokens;
  for (const auto& id : o.session) tokens.push_back(*o.key.Token(MatchKind::kEmail, id));
  o.round1 = *BlindBatch(tokens, o.r);
  return o;
}

// `self`'s contribution for its session positions, framed: audience everyone but people whose
// e-mail starts with "vip"; a breakdown by their attribute named `dimension`, none when empty.
std::string ContributionFrame(const Owner& self, const PsiSessionId& session,
                              const std::string& dimension) {
  Contribution c;
  c.session = session;
  Dimension d{dimension, {}, {}};
  std::map<std::string, uint16_t> code;
  for (const auto& id : self.session) {
    c.in_audience.push_back(id.rfind("vip", 0) != 0);  // everyone but "vip..." people
    const std::string& band = self.people.at(id);
    if (!code.count(band)) {
      d.labels.push_back(band);
      code[band] = static_cast<uint16_t>(d.labels.size());
    }
    d.codes.push_back(code[band]);
  }
  if (!dimension.empty()) c.dimensions.push_back(std::move(d));
  return Frame(*EncodeContribution(c));
}

// What `self` sends the worker: the job, `other`'s round-1 values under its own r·k (in two
// chunks), and its contribution (audience: people whose e-mail does not start with "vip"; a
// breakdown by their attribute named `dimension`, none when it is empty).
std::string Stream(const Owner& self, const Owner& other, const std::string& job,
                   const PsiSessionId& session, const std::string& dimension) {
  std::string out = Frame(job);
  const std::vector<Point> doubled = *BlindBatch(other.round1, self.r.WithMatchKey(self.key));
  const size_t half = doubled.size() / 2;
  for (int chunk = 0; chunk < 2; ++chunk) {
    PsiMessage m;
    m.type = PsiMessageType::kDoubleBlinded;
    m.session = session;
    m.sequence = static_cast<uint32_t>(chunk);
    m.last = chunk == 1;
    m.points.assign(doubled.begin() + (chunk == 0 ? 0 : half),
                    chunk == 0 ? doubled.begin() + half : doubled.end());
    out += Frame(*EncodePsiMessage(m));
  }
  return out + ContributionFrame(self, session, dimension);
}

// A count on a kept match (worker.h): the job and the contribution, no values.
std::string CountStream(const Owner& self, const std::string& job, const PsiSessionId& session,
                        const std::string& dimension) {
  return Frame(job) + ContributionFrame(self, session, dimension);
}

ReadFn FromString(const std::string& s) {
  auto at = std::make_shared<size_t>(0);
  return [&s, at](uint8_t* out, size_t n) -> StatusOr<size_t> {
    const size_t take = std::min(n, s.size() - *at);
    std::memcpy(out, s.data() + *at, take);
    *at += take;
    return take;
  };
}

// `plain` (an owner stream in worker.h frames) as its owner sends it through a relay: each
// frame sealed to the worker's key, the last one final.
std::string SealStream(const std::string& plain, const X25519PublicKey& worker) {
  auto writer = SealedStreamWriter::Create(worker);
  EXPECT_TRUE(writer.ok()) << writer.status().message();
  std::vector<std::string> frames;
  const ReadFn read = FromString(plain);
  for (;;) {
    auto frame = ReadFrame(read);
    EXPECT_TRUE(frame.ok()) << frame.status().message();
    if (!frame.ok() || !*frame) break;
    frames.push_back(std::move(**frame));
  }
  std::string out = writer->header();
  for (size_t i = 0; i < frames.size(); ++i)
    out += *writer->Seal(frames[i], i + 1 == frames.size());
  return out;
}

struct Session {
  Owner a, b;
  PsiSessionId id;
  std::string job;
};

// The session's job, its result sealed to `recipient`.
void SealResultTo(Session& s, const X25519PublicKey& recipient) {
  JoinJob job = *ParseJoinJob(s.job);
  job.result_key = recipient;
  s.job = JoinJobJson(job);
}

// What the worker must release for `s`, from the generator's side: the people both owners have,
// in both audiences, by a's and b's attribute, cells under k_min left out.
std::map<std::pair<std::string, std::string>, int64_t> Truth(const Session& s, uint64_t k_min) {
  std::map<std::pair<std::string, std::string>, int64_t> truth;
  for (const auto& [id, band] : s.a.people) {
    const auto in_b = s.b.people.find(id);
    if (in_b == s.b.people.end() || id.rfind("vip", 0) == 0) continue;
    ++truth[{band, in_b->second}];
  }
  std::erase_if(truth, [k_min](const auto& cell) { return cell.second < int64_t(k_min); });
  return truth;
}

std::map<std::pair<std::string, std::string>, int64_t> Cells(const nlohmann::json& result) {
  std::map<std::pair<std::string, std::string>, int64_t> got;
  for (const auto& c : result["cells"]) got[{c["labels"][0], c["labels"][1]}] = c["count"];
  return got;
}

// A retailer and an operator sharing 250 of their people.
Session Shared(JoinJob::Kind kind) {
  std::map<std::string, std::string> retailer, operator_;
  for (int i = 0; i < 400; ++i) retailer[fmt::format("r{}@x.de", i)] = i % 3 ? "18-34" : "35+";
  for (int i = 0; i < 250; ++i) {
    const std::string id = fmt::format("r{}@x.de", i);
    operator_[id] = i % 2 ? "prepaid" : "contract";
  }
  for (int i = 0; i < 300; ++i) operator_[fmt::format("o{}@t.de", i)] = "prepaid";
  Session s{MakeOwner(1, retailer), MakeOwner(2, operator_), *NewPsiSessionId(), ""};
  JoinJob job;
  job.session = s.id;
  job.kind = kind;
  job.k_min = 10;
  s.job = JoinJobJson(job);
  return s;
}

TEST(JoinWorker, CountsTheSharedPeopleByBothOwnersDimensionsAndNothingElse) {
  const Session s = Shared(JoinJob::Kind::kCounts);
  const std::string sa = Stream(s.a, s.b, s.job, s.id, "age_band");
  const std::string sb = Stream(s.b, s.a, s.job, s.id, "tariff");
  auto a = ReadOwnerStream(FromString(sa), "a");
  ASSERT_TRUE(a.ok()) << a.status().message();
  auto b = ReadOwnerStream(FromString(sb), "b");
  ASSERT_TRUE(b.ok()) << b.status().message();
  auto simulated = MakeAttestationProvider("simulated");
  ASSERT_TRUE(simulated.ok());
  SeededRandom random(uint64_t{3});
  auto result = RunJoinJob(*a, *b, **simulated, random);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const auto j = nlohmann::json::parse(*result);
  // The truth, from the generator's side: shared people r0..r249 by age band and tariff.
  std::map<std::pair<std::string, std::string>, int64_t> truth;
  for (int i = 0; i < 250; ++i) {
    ++truth[{i % 3 ? "18-34" : "35+", i % 2 ? "prepaid" : "contract"}];
  }
  std::map<std::pair<std::string, std::string>, int64_t> got;
  for (const auto& c : j["cells"]) got[{c["labels"][0], c["labels"][1]}] = c["count"];
  EXPECT_EQ(got, truth);
  EXPECT_EQ(j["dimensions"], (std::vector<std::string>{"a.age_band", "b.tariff"}));
  EXPECT_EQ(j["attestation"]["mode"], "simulated");
  EXPECT_EQ(j["attestation"]["attested"], false);
  EXPECT_EQ(j["noise"], "none");
  EXPECT_EQ(result->find("@"), std::string::npos);  // no identifier in the release
}

TEST(JoinWorker, RefusesDifferentJobsOtherSessionsAndBrokenStreams) {
  const Session s = Shared(JoinJob::Kind::kOverlap);
  const std::string sa = Stream(s.a, s.b, s.job, s.id, "age_band");
  auto simulated = *MakeAttestationProvider("simulated");
  SeededRandom random(uint64_t{3});
  // Another job from b.
  JoinJob other = *ParseJoinJob(s.job);
  other.k_min = 1;
  auto a = *ReadOwnerStream(FromString(sa), "a");
  auto b = *ReadOwnerStream(FromString(Stream(s.b, s.a, JoinJobJson(other), s.id, "t")), "b");
  EXPECT_FALSE(RunJoinJob(a, b, *simulated, random).ok());
  // A stream cut anywhere is refused, never half-read.
  for (size_t cut : {size_t{0}, size_t{3}, size_t{40}, sa.size() / 2, sa.size() - 1}) {
    const std::string part = sa.substr(0, cut);
    EXPECT_FALSE(ReadOwnerStream(FromString(part), "a").ok()) << cut;
  }
  // Values of another session.
  const Session t = Shared(JoinJob::Kind::kOverlap);
  const std::string mixed =
      Frame(s.job) + Stream(s.a, s.b, t.job, t.id, "x").substr(4 + t.job.size());
  EXPECT_FALSE(ReadOwnerStream(FromString(mixed), "a").ok());
  EXPECT_FALSE(ParseJoinJob(R"({"version":1,"kind":"overlap","k_min":0,"session":"00"})").ok());
  // A field of another type is an error, not an exception (found by the worker_stream fuzzer).
  JoinJob numbered = *ParseJoinJob(s.job);
  std::string kind_number = JoinJobJson(numbered);
  kind_number.replace(kind_number.find(R"("overlap")"), 9, "1");
  auto refused = ParseJoinJob(kind_number);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "job: kind must be overlap, counts or activation");
  EXPECT_FALSE(MakeAttestationProvider("sgx-dcap").ok());  // no SGX here, and no fake quote
  EXPECT_FALSE(MakeAttestationProvider("trust-me").ok());
}

// An owner names its values as it likes, within joint_counts.h's limits; bytes that are not
// UTF-8 cannot go into the JSON result, and are refused rather than ending the worker.
TEST(JoinWorker, RefusesAValueThatIsNotUtf8) {
  const Session s = Shared(JoinJob::Kind::kCounts);
  OwnerStream a = *ReadOwnerStream(FromString(Stream(s.a, s.b, s.job, s.id, "age_band")), "a");
  const OwnerStream b = *ReadOwnerStream(FromString(Stream(s.b, s.a, s.job, s.id, "tariff")), "b");
  a.contribution.dimensions[0].labels[0] = "18\xff-34";
  auto simulated = *MakeAttestationProvider("simulated");
  SeededRandom random(uint64_t{3});
  auto result = RunJoinJob(a, b, *simulated, random);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), "owner a: a value of age_band is not UTF-8");
  // What is UTF-8 passes, up to U+10FFFF; overlong forms and surrogates do not.
  for (const std::string& label : {std::string("18–34 Jährige"), std::string("\xf4\x8f\xbf\xbf")}) {
    a.contribution.dimensions[0].labels[0] = label;
    EXPECT_TRUE(RunJoinJob(a, b, *simulated, random).ok()) << label;
  }
  for (const std::string& label : {std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                                   std::string("\xf4\x90\x80\x80"), std::string("a\xe2\x82")}) {
    a.contribution.dimensions[0].labels[0] = label;
    EXPECT_FALSE(RunJoinJob(a, b, *simulated, random).ok()) << label;
  }
}

// An activation: owner a's positions of the shared people that both owners' audiences admit —
// never b's, never a count under k_min.
TEST(JoinWorker, ActivationReleasesOwnerAsPositionsOfTheJointAudienceOnly) {
  const Session s = Shared(JoinJob::Kind::kActivation);
  OwnerStream a = *ReadOwnerStream(FromString(Stream(s.a, s.b, s.job, s.id, "")), "a");
  OwnerStream b = *ReadOwnerStream(FromString(Stream(s.b, s.a, s.job, s.id, "")), "b");
  // a's audience leaves out r0, r5, r10, ...; b's leaves out r0, r3, r6, ... and its own people.
  auto number = [](const std::string& id) { return std::stoi(id.substr(1)); };
  std::set<uint32_t> truth;
  for (uint32_t p = 0; p < s.a.session.size(); ++p) {
    const std::string& id = s.a.session[p];
    a.contribution.in_audience[p] = number(id) % 5 != 0;
    if (number(id) < 250 && number(id) % 5 != 0 && number(id) % 3 != 0) truth.insert(p);
  }
  for (uint32_t p = 0; p < s.b.session.size(); ++p) {
    const std::string& id = s.b.session[p];
    b.contribution.in_audience[p] = id[0] == 'r' && number(id) % 3 != 0;
  }
  auto simulated = *MakeAttestationProvider("simulated");
  SeededRandom random(uint64_t{3});
  auto result = RunJoinJob(a, b, *simulated, random);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const auto j = nlohmann::json::parse(*result);
  EXPECT_EQ(j["kind"], "activation");
  EXPECT_EQ(j["withheld"], false);
  EXPECT_EQ(j["count"], truth.size());
  EXPECT_FALSE(j.contains("cells"));
  EXPECT_EQ(j["attestation"]["mode"], "simulated");
  // A fixed size: a bit per position of a's session, however many are listed.
  EXPECT_EQ(j["positions"].get<std::string>().size(), 2 * ((s.a.session.size() + 7) / 8));
  auto positions = DecodePositionBits(j["positions"].get<std::string>());
  ASSERT_TRUE(positions.ok()) << positions.status().message();
  EXPECT_EQ(std::set<uint32_t>(positions->begin(), positions->end()), truth);
  EXPECT_EQ(result->find("@"), std::string::npos);

  // Under k_min: that fact and nothing else — no count, no positions.
  JoinJob strict = *ParseJoinJob(s.job);
  strict.k_min = truth.size() + 1;
  a.job = b.job = JoinJobJson(strict);
  result = RunJoinJob(a, b, *simulated, random);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const auto w = nlohmann::json::parse(*result);
  EXPECT_EQ(w["withheld"], true);
  EXPECT_FALSE(w.contains("count"));
  EXPECT_FALSE(w.contains("positions"));
  EXPECT_EQ(w["k_min"], truth.size() + 1);

  // A list takes no noise and no breakdown.
  JoinJob noisy = *ParseJoinJob(s.job);
  noisy.epsilon_micro = 500'000;
  auto refused = ParseJoinJob(JoinJobJson(noisy));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("epsilon"));
  a.job = b.job = s.job;
  a.contribution.dimensions.push_back({"age_band", {"18-34"}, {}});
  a.contribution.dimensions[0].codes.assign(a.contribution.in_audience.size(), 1);
  EXPECT_FALSE(RunJoinJob(a, b, *simulated, random).ok());
}

TEST(JoinWorker, PositionBitsRoundTripAndRefuseWhatIsNotHex) {
  const std::vector<uint32_t> positions = {0, 7, 8, 9, 63, 64};
  const std::string hex = EncodePositionBits(positions, 65);
  EXPECT_EQ(hex,
            "8103000000000080"
            "01");
  EXPECT_EQ(*DecodePositionBits(hex), positions);
  EXPECT_TRUE(DecodePositionBits("")->empty());
  for (const char* bad : {"8", "8G", "AB", "0x"}) EXPECT_FALSE(DecodePositionBits(bad).ok()) << bad;
}

TEST(JoinJob, NamesTheResultsRecipientByItsKey) {
  JoinJob job;
  job.session = *NewPsiSessionId();
  EXPECT_EQ(JoinJobJson(job).find("result_key"), std::string::npos);  // absent: none
  EXPECT_FALSE(ParseJoinJob(JoinJobJson(job))->result_key.has_value());
  const ResultKeyPair recipient = *ResultKeyPair::Generate();
  job.result_key = recipient.public_key();
  const std::string json = JoinJobJson(job);
  EXPECT_NE(json.find(R"("result_key":")" + PublicKeyHex(recipient.public_key()) + "\""),
            std::string::npos);
  auto parsed = ParseJoinJob(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->result_key, recipient.public_key());
  const std::string hex = PublicKeyHex(recipient.public_key());
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad :
       {std::string("null"), std::string("12"), "\"" + hex.substr(1) + "\"", "\"" + upper + "\""}) {
    std::string text = json;
    text.replace(text.find("\"" + hex + "\""), hex.size() + 2, bad);
    auto refused = ParseJoinJob(text);
    ASSERT_FALSE(refused.ok()) << text;
    EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("result_key")) << text;
  }
}

TEST(JoinWorker, ReadsTheSameStreamSealedAsInPlainFrames) {
  const Session s = Shared(JoinJob::Kind::kCounts);
  const std::string plain = Stream(s.a, s.b, s.job, s.id, "age_band");
  const WorkerKeyPair worker = *WorkerKeyPair::Generate();
  const std::string sealed = SealStream(plain, worker.public_key());
  EXPECT_EQ(sealed.find(s.job), std::string::npos);  // the relay does not even see the job
  auto reader = SealedStreamReader::Open(FromString(sealed), worker);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  auto through = ReadOwnerStream(FrameSource([&reader] { return reader->Next(); }), "a");
  ASSERT_TRUE(through.ok()) << through.status().message();
  const OwnerStream direct = *ReadOwnerStream(FromString(plain), "a");
  EXPECT_EQ(through->job, direct.job);
  EXPECT_EQ(through->of_partner, direct.of_partner);
  EXPECT_EQ(through->contribution.in_audience, direct.contribution.in_audience);
  // A sealed stream whose final frame is not the contribution: something follows it.
  auto writer = *SealedStreamWriter::Create(worker.public_key());
  std::string extra = writer.header();
  const ReadFn read = FromString(plain);
  for (auto frame = ReadFrame(read); frame.ok() && *frame; frame = ReadFrame(read)) {
    extra += *writer.Seal(**frame, false);
  }
  extra += *writer.Seal("", true);
  auto more = *SealedStreamReader::Open(FromString(extra), worker);
  auto refused = ReadOwnerStream(FrameSource([&more] { return more.Next(); }), "a");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("owner a: frames after"));
  // The errors of the channel come through with the owner's name.
  std::string damaged = sealed;
  damaged[damaged.size() / 2] ^= 1;
  auto broken = *SealedStreamReader::Open(FromString(damaged), worker);
  auto bad = ReadOwnerStream(FrameSource([&broken] { return broken.Next(); }), "b");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("owner b: sealed frame"));
}

#ifdef TESSERA_WORKER_BINARY
// The worker binary running with two pipes in and one out: the ends this process keeps.
struct WorkerProcess {
  pid_t pid = -1;
  int a = -1, b = -1, out = -1;
  int err = -1;  // its standard error, when captured
};

WorkerProcess SpawnWorker(std::vector<std::string> extra, std::vector<std::string> prefix,
                          bool capture_stderr = false) {
  int pa[2], pb[2], po[2], pe[2] = {-1, -1};
  EXPECT_EQ(::pipe(pa), 0);
  EXPECT_EQ(::pipe(pb), 0);
  EXPECT_EQ(::pipe(po), 0);
  if (capture_stderr) {
    EXPECT_EQ(::pipe(pe), 0);
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pa[0], 3);
    ::dup2(pb[0], 4);
    ::dup2(po[1], 5);
    if (capture_stderr) ::dup2(pe[1], 2);
    std::vector<std::string> args = prefix;
    if (args.empty()) args.push_back(TESSERA_WORKER_BINARY);
    for (const char* arg : {"--a", "fd:3", "--b", "fd:4", "--out", "fd:5"}) args.push_back(arg);
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (int fd = 6; fd < 64; ++fd) ::close(fd);
    // LeakSanitizer (in the sanitizer builds) traces the process at exit, which the worker's
    // seccomp filter rightly forbids.
    ::setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pa[0]);
  ::close(pb[0]);
  ::close(po[1]);
  if (capture_stderr) ::close(pe[1]);
  return {pid, pa[1], pb[1], po[0], pe[0]};
}

// Feeds the owners' streams (each from a thread of its own: the worker reads them in turn),
// reads the rest of the output, and waits; returns the exit status and that output, and puts
// what it wrote to its standard error, when captured, into `err`.
std::pair<int, std::string> FinishWorker(const WorkerProcess& w, const std::string& a,
                                         const std::string& b, std::string* err = nullptr) {
  std::thread wa([&] {
    (void)!::write(w.a, a.data(), a.size());
    ::close(w.a);
  });
  std::thread wb([&] {
    (void)!::write(w.b, b.data(), b.size());
    ::close(w.b);
  });
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(w.out, buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(w.out);
  if (w.err >= 0) {  // a few lines at most: they fit the pipe while the worker runs
    for (ssize_t n; (n = ::read(w.err, buf, sizeof buf)) > 0;) {
      if (err != nullptr) err->append(buf, n);
    }
    ::close(w.err);
  }
  wa.join();
  wb.join();
  int status = 0;
  ::waitpid(w.pid, &status, 0);
  return {status, out};
}

// Runs the worker binary with two pipes in and one out; returns its exit status and output.
std::pair<int, std::string> RunWorker(const std::string& a, const std::string& b,
                                      std::vector<std::string> extra = {},
                                      std::vector<std::string> prefix = {}) {
  return FinishWorker(SpawnWorker(std::move(extra), std::move(prefix)), a, b);
}

ReadFn FromFd(int fd) {
  return [fd](uint8_t* out, size_t n) -> StatusOr<size_t> {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd, out + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return InternalError("read: {}", std::strerror(errno));
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  };
}

// A requester relaying a sealed run: it starts the worker with --sealed, reads its hello, lets
// `streams` seal what each owner sends to the key announced, relays them, and returns the
// worker's exit status, its hello and the frames it wrote after it.
struct SealedRun {
  int status = 0;
  std::optional<WorkerHello> hello;
  std::vector<std::string> frames;  // after the hello
  std::string error;                // the first frame that could not be read, if any
  std::string stderr_text;          // what the worker said
};
SealedRun RunSealedWorker(
    const std::function<std::pair<std::string, std::string>(const WorkerHello&)>& streams,
    std::vector<std::string> extra = {}) {
  extra.push_back("--sealed");
  const WorkerProcess w = SpawnWorker(std::move(extra), {}, /*capture_stderr=*/true);
  SealedRun run;
  // Nothing is sent before the hello: the worker announces its key first.
  auto first = ReadFrame(FromFd(w.out));
  std::pair<std::string, std::string> sent;
  if (first.ok() && *first) {
    auto hello = ParseWorkerHello(**first);
    if (hello.ok()) {
      run.hello = *hello;
      sent = streams(*hello);
    } else {
      run.error = hello.status().message();
    }
  } else {
    run.error = first.ok() ? "no hello" : first.status().message();
  }
  auto [status, rest] = FinishWorker(w, sent.first, sent.second, &run.stderr_text);
  run.status = status;
  const ReadFn read = FromString(rest);
  for (;;) {
    auto frame = ReadFrame(read);
    if (!frame.ok()) {
      run.error = frame.status().message();
      break;
    }
    if (!*frame) break;
    run.frames.push_back(std::move(**frame));
  }
  return run;
}

TEST(JoinWorkerBinary, ReleasesTheOverlapThroughItsDescriptorsConfined) {
  signal(SIGPIPE, SIG_IGN);
  const Session s = Shared(JoinJob::Kind::kOverlap);
  const auto [status, out] =
      RunWorker(Stream(s.a, s.b, s.job, s.id, "age_band"), Stream(s.b, s.a, s.job, s.id, "tariff"));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << " " << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["cells"].size(), 1u);
  EXPECT_EQ(j["cells"][0]["count"], 250);
  EXPECT_EQ(j["kind"], "overlap");
}

// The whole sandbox: bubblewrap (no network, no writable file system) around the confined worker.
TEST(JoinWorkerBinary, RunsInsideBubblewrap) {
  if (::system("command -v bwrap >/dev/null 2>&1") != 0) {
    TESSERA_SKIP_OR_FAIL("bubblewrap (bwrap) is not installed: scripts/install-deps installs it");
  }
  signal(SIGPIPE, SIG_IGN);
  const Session s = Shared(JoinJob::Kind::kOverlap);
  const std::string script = std::string(TESSERA_SOURCE_DIR) + "/scripts/tessera-worker-sandboxed";
  const auto [status, out] =
      RunWorker(Stream(s.a, s.b, s.job, s.id, "age_band"), Stream(s.b, s.a, s.job, s.id, "t"), {},
                {"/bin/bash", script, "--worker", TESSERA_WORKER_BINARY});
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << " " << out;
  EXPECT_EQ(nlohmann::json::parse(out)["cells"][0]["count"], 250);
}

TEST(JoinWorkerBinary, IsKilledWhenItTriesAnythingButReadingAndWriting) {
  const auto [status, out] = RunWorker("", "", {"--sandbox-selftest"});
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(JoinWorkerBinary, ABrokenStreamIsAClearErrorAndNoResult) {
  const Session s = Shared(JoinJob::Kind::kOverlap);
  const std::string a = Stream(s.a, s.b, s.job, s.id, "age_band");
  const auto [status, out] = RunWorker(a.substr(0, a.size() / 2), a);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_TRUE(out.empty());
}

TEST(JoinWorkerBinary, SealedReleasesTheCountsToTheRecipientOnly) {
  signal(SIGPIPE, SIG_IGN);
  Session s = Shared(JoinJob::Kind::kCounts);
  const ResultKeyPair recipient = *ResultKeyPair::Generate();
  SealResultTo(s, recipient.public_key());
  std::string relayed;  // what the relay saw of owner a's stream
  const SealedRun run = RunSealedWorker([&](const WorkerHello& hello) {
    std::pair<std::string, std::string> sealed = {
        SealStream(Stream(s.a, s.b, s.job, s.id, "age_band"), hello.public_key),
        SealStream(Stream(s.b, s.a, s.job, s.id, "tariff"), hello.public_key)};
    relayed = sealed.first;
    return sealed;
  });
  ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status;
  ASSERT_TRUE(run.hello.has_value()) << run.error;
  EXPECT_EQ(run.hello->mode, AttestationMode::kSimulated);
  EXPECT_TRUE(run.hello->evidence.empty());
  ASSERT_EQ(run.frames.size(), 1u) << run.error;
  EXPECT_EQ(run.frames[0].find("cells"), std::string::npos);  // the relay reads no result
  EXPECT_EQ(relayed.find(s.job), std::string::npos);
  auto opened = recipient.Open(run.frames[0]);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  const auto j = nlohmann::json::parse(*opened);
  EXPECT_EQ(Cells(j), Truth(s, 10));
  EXPECT_EQ(j["attestation"]["mode"], "simulated");
  // Anyone else's key opens nothing.
  auto wrong = ResultKeyPair::Generate()->Open(run.frames[0]);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
}

// A count job on the kept match of `s`: the match's session, its own id, a request hash.
std::string CountJob(const Session& s, const PsiSessionId& count, char request = 'a') {
  JoinJob job = *ParseJoinJob(s.job);
  job.kind = JoinJob::Kind::kCounts;
  job.keep = false;
  job.count = count;
  job.request = std::string(64, request);
  return JoinJobJson(job);
}

TEST(JoinWorker, AKeptMatchCountsAgainFromContributionsOnly) {
  Session s = Shared(JoinJob::Kind::kOverlap);
  JoinJob keep = *ParseJoinJob(s.job);
  keep.keep = true;
  s.job = JoinJobJson(keep);
  auto a = ReadOwnerStream(FromString(Stream(s.a, s.b, s.job, s.id, "")), "a");
  auto b = ReadOwnerStream(FromString(Stream(s.b, s.a, s.job, s.id, "")), "b");
  ASSERT_TRUE(a.ok() && b.ok());
  auto simulated = MakeAttestationProvider("simulated");
  ASSERT_TRUE(simulated.ok());
  SeededRandom random(uint64_t{5});
  KeptJoin kept;
  auto overlap = RunJoinJob(*a, *b, **simulated, random, &kept);
  ASSERT_TRUE(overlap.ok()) << overlap.status().message();
  EXPECT_EQ(nlohmann::json::parse(*overlap)["cells"][0]["count"], 250);
  EXPECT_EQ(kept.pairs.size(), 250u);

  const PsiSessionId id = *NewPsiSessionId();
  const std::string job = CountJob(s, id);
  auto count_a = ReadOwnerStream(FromString(CountStream(s.a, job, s.id, "age_band")), "a");
  auto count_b = ReadOwnerStream(FromString(CountStream(s.b, job, s.id, "tariff")), "b");
  ASSERT_TRUE(count_a.ok()) << count_a.status().message();
  ASSERT_TRUE(count_b.ok()) << count_b.status().message();
  EXPECT_TRUE(count_a->of_partner.empty());
  auto counted = RunKeptCount(kept, *count_a, *count_b, **simulated, random);
  ASSERT_TRUE(counted.ok()) << counted.status().message();
  const auto j = nlohmann::json::parse(*counted);
  EXPECT_EQ(Cells(j), Truth(s, 10));
  EXPECT_EQ(j["count"], PsiSessionIdHex(id));
  EXPECT_EQ(j["session"], PsiSessionIdHex(s.id));

  const auto refused = [&](const OwnerStream& x, const OwnerStream& y) {
    auto r = RunKeptCount(kept, x, y, **simulated, random);
    return r.ok() ? std::string("accepted") : r.status().message();
  };
  // The same count twice; owners that accepted different requests; another match; sizes.
  EXPECT_THAT(refused(*count_a, *count_b), ::testing::HasSubstr("ran on this match already"));
  const PsiSessionId other = *NewPsiSessionId();
  OwnerStream a2 = *count_a, b2 = *count_b;
  a2.job = CountJob(s, other, 'a');
  b2.job = CountJob(s, other, 'b');
  EXPECT_THAT(refused(a2, b2), ::testing::HasSubstr("different jobs"));
  JoinJob elsewhere = *ParseJoinJob(CountJob(s, other));
  elsewhere.session = *NewPsiSessionId();
  a2.job = b2.job = JoinJobJson(elsewhere);
  EXPECT_THAT(refused(a2, b2), ::testing::HasSubstr("another match"));
  a2.job = b2.job = CountJob(s, other);
  a2.contribution.in_audience.pop_back();
  EXPECT_THAT(refused(a2, b2), ::testing::HasSubstr("sizes do not fit"));
  // A count is no first job, and an activation keeps nothing.
  EXPECT_FALSE(RunJoinJob(*count_a, *count_b, **simulated, random, &kept).ok());
  JoinJob activation = *ParseJoinJob(s.job);
  activation.kind = JoinJob::Kind::kActivation;
  EXPECT_FALSE(ParseJoinJob(JoinJobJson(activation)).ok());
}

TEST(JoinWorkerBinary, SealedKeepsItsMatchForCountsUntilTheStreamsEnd) {
  signal(SIGPIPE, SIG_IGN);
  Session s = Shared(JoinJob::Kind::kOverlap);
  const ResultKeyPair recipient = *ResultKeyPair::Generate();
  SealResultTo(s, recipient.public_key());
  JoinJob keep = *ParseJoinJob(s.job);
  keep.keep = true;
  s.job = JoinJobJson(keep);
  const std::array<PsiSessionId, 2> ids = {*NewPsiSessionId(), *NewPsiSessionId()};
  const SealedRun run = RunSealedWorker([&](const WorkerHello& hello) {
    // The match, then two counts, each a sealed stream of its own on the same descriptors.
    std::pair<std::string, std::string> sealed = {
        SealStream(Stream(s.a, s.b, s.job, s.id, ""), hello.public_key),
        SealStream(Stream(s.b, s.a, s.job, s.id, ""), hello.public_key)};
    for (const PsiSessionId& id : ids) {
      sealed.first +=
          SealStream(CountStream(s.a, CountJob(s, id), s.id, "age_band"), hello.public_key);
      sealed.second +=
          SealStream(CountStream(s.b, CountJob(s, id), s.id, "tariff"), hello.public_key);
    }
    return sealed;
  });
  ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0)
      << run.status << " " << run.stderr_text;
  ASSERT_EQ(run.frames.size(), 3u) << run.error;
  EXPECT_EQ(nlohmann::json::parse(*recipient.Open(run.frames[0]))["cells"][0]["count"], 250);
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto j = nlohmann::json::parse(*recipient.Open(run.frames[i + 1]));
    EXPECT_EQ(Cells(j), Truth(s, 10));
    EXPECT_EQ(j["count"], PsiSessionIdHex(ids[i]));
  }

  // A count whose owners sent different jobs ends the worker, after the match's result.
  const SealedRun broken = RunSealedWorker([&](const WorkerHello& hello) {
    std::pair<std::string, std::string> sealed = {
        SealStream(Stream(s.a, s.b, s.job, s.id, ""), hello.public_key),
        SealStream(Stream(s.b, s.a, s.job, s.id, ""), hello.public_key)};
    sealed.first +=
        SealStream(CountStream(s.a, CountJob(s, ids[0], 'a'), s.id, ""), hello.public_key);
    sealed.second +=
        SealStream(CountStream(s.b, CountJob(s, ids[0], 'b'), s.id, ""), hello.public_key);
    return sealed;
  });
  ASSERT_TRUE(WIFEXITED(broken.status));
  EXPECT_NE(WEXITSTATUS(broken.status), 0);
  EXPECT_EQ(broken.frames.size(), 1u);
  EXPECT_THAT(broken.stderr_text, ::testing::HasSubstr("different jobs"));
}

TEST(JoinWorkerBinary, SealedAnnouncesAFreshKeyEachRun) {
  signal(SIGPIPE, SIG_IGN);
  const auto nothing = [](const WorkerHello&) { return std::pair<std::string, std::string>(); };
  const SealedRun one = RunSealedWorker(nothing);
  const SealedRun two = RunSealedWorker(nothing);
  ASSERT_TRUE(one.hello && two.hello) << one.error << two.error;
  EXPECT_NE(one.hello->public_key, two.hello->public_key);
  // Nothing arrived: a clear error, after the hello and nothing else.
  ASSERT_TRUE(WIFEXITED(one.status));
  EXPECT_EQ(WEXITSTATUS(one.status), 2);
  EXPECT_THAT(one.stderr_text,
              ::testing::HasSubstr("owner a: the sealed stream ends before its header"));
  EXPECT_TRUE(one.frames.empty());
}

// What a relay may do to an owner's stream, each refused by the worker (exit 2, no result).
TEST(JoinWorkerBinary, SealedRefusesWhatARelayChanges) {
  signal(SIGPIPE, SIG_IGN);
  Session s = Shared(JoinJob::Kind::kOverlap);
  const ResultKeyPair recipient = *ResultKeyPair::Generate();
  SealResultTo(s, recipient.public_key());
  const std::string plain_a = Stream(s.a, s.b, s.job, s.id, "age_band");
  const std::string plain_b = Stream(s.b, s.a, s.job, s.id, "tariff");
  // Splits a sealed stream into its frames and joins them back.
  const auto frames_of = [](const std::string& bytes) {
    std::vector<std::string> out;
    const ReadFn read = FromString(bytes);
    for (auto f = ReadFrame(read); f.ok() && *f; f = ReadFrame(read)) out.push_back(Frame(**f));
    return out;
  };
  const auto join = [](const std::vector<std::string>& frames) {
    std::string out;
    for (const auto& f : frames) out += f;
    return out;
  };
  using Change = std::function<std::string(const std::string& a, const X25519PublicKey& key)>;
  struct Case {
    std::string what;
    Change change;
    std::string says;  // in the worker's error
  };
  const std::vector<Case> cases = {
      {"a tampered byte",
       [](const std::string& a, const X25519PublicKey&) {
         std::string d = a;
         d[d.size() - 20] ^= 1;
         return d;
       },
       "owner a: sealed frame 4 does not open"},
      {"a dropped frame",
       [&](const std::string& a, const X25519PublicKey&) {
         auto f = frames_of(a);
         f.erase(f.begin() + 2);
         return join(f);
       },
       "owner a: sealed frame 2 does not open"},
      {"swapped frames",
       [&](const std::string& a, const X25519PublicKey&) {
         auto f = frames_of(a);
         std::swap(f[2], f[3]);
         return join(f);
       },
       "owner a: sealed frame 2 does not open"},
      {"a truncated stream",
       [&](const std::string& a, const X25519PublicKey&) {
         auto f = frames_of(a);
         f.pop_back();
         return join(f);
       },
       "without its final frame"},
      {"a frame replayed from another stream",
       [&](const std::string& a, const X25519PublicKey& key) {
         auto f = frames_of(a);
         f[2] = frames_of(SealStream(plain_a, key))[2];
         return join(f);
       },
       "owner a: sealed frame 2 does not open"},
      {"a stream sealed to another worker's key",
       [&](const std::string&, const X25519PublicKey&) {
         return SealStream(plain_a, WorkerKeyPair::Generate()->public_key());
       },
       "owner a: sealed frame 1 does not open"},
      {"a plain stream", [&](const std::string&, const X25519PublicKey&) { return plain_a; },
       "owner a: not a sealed worker stream"},
  };
  for (const Case& c : cases) {
    const SealedRun run = RunSealedWorker([&](const WorkerHello& hello) {
      return std::pair(c.change(SealStream(plain_a, hello.public_key), hello.public_key),
                       SealStream(plain_b, hello.public_key));
    });
    ASSERT_TRUE(run.hello.has_value()) << c.what << ": " << run.error;
    ASSERT_TRUE(WIFEXITED(run.status)) << c.what << ": " << run.status;
    EXPECT_EQ(WEXITSTATUS(run.status), 2) << c.what;
    EXPECT_THAT(run.stderr_text, ::testing::HasSubstr(c.says)) << c.what;
    EXPECT_TRUE(run.frames.empty()) << c.what << ": a result was released";
  }
}

TEST(JoinWorkerBinary, SealedRefusesAJobWithoutARecipient) {
  signal(SIGPIPE, SIG_IGN);
  const Session s = Shared(JoinJob::Kind::kOverlap);  // no result_key
  const SealedRun run = RunSealedWorker([&](const WorkerHello& hello) {
    return std::pair(SealStream(Stream(s.a, s.b, s.job, s.id, "x"), hello.public_key),
                     SealStream(Stream(s.b, s.a, s.job, s.id, "y"), hello.public_key));
  });
  ASSERT_TRUE(WIFEXITED(run.status));
  EXPECT_EQ(WEXITSTATUS(run.status), 2);
  EXPECT_THAT(run.stderr_text, ::testing::HasSubstr("names no result_key"));
  EXPECT_TRUE(run.frames.empty());
}

// A job that names a recipient has its result sealed in plain mode too.
TEST(JoinWorkerBinary, PlainModeSealsAResultThatNamesARecipient) {
  signal(SIGPIPE, SIG_IGN);
  Session s = Shared(JoinJob::Kind::kOverlap);
  const ResultKeyPair recipient = *ResultKeyPair::Generate();
  SealResultTo(s, recipient.public_key());
  const auto [status, out] =
      RunWorker(Stream(s.a, s.b, s.job, s.id, "age_band"), Stream(s.b, s.a, s.job, s.id, "t"));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto frame = ReadFrame(FromString(out));
  ASSERT_TRUE(frame.ok() && *frame);
  auto opened = recipient.Open(**frame);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(nlohmann::json::parse(*opened)["cells"][0]["count"], 250);
}
#endif

}  // namespace
}  // namespace tessera::collab
