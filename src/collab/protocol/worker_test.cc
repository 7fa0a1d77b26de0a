// The join worker (worker.h, apps/tessera-worker): two simulated owners with their own keys run
// a session through it, in process and through the real binary, confined by seccomp.

#include "tessera/collab/worker.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/test_support.h"
#include "tessera/collab/match_token.h"
#include "tessera/collab/psi.h"

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

// What `self` sends the worker: the job, `other`'s round-1 values under its own r·k (in two
// chunks), and its contribution (audience: people whose e-mail starts with `audience_prefix`).
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
  c.dimensions.push_back(std::move(d));
  out += Frame(*EncodeContribution(c));
  return out;
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

struct Session {
  Owner a, b;
  PsiSessionId id;
  std::string job;
};

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
  EXPECT_FALSE(MakeAttestationProvider("sgx-dcap").ok());  // no SGX here, and no fake quote
  EXPECT_FALSE(MakeAttestationProvider("trust-me").ok());
}

#ifdef TESSERA_WORKER_BINARY
// Runs the worker binary with two pipes in and one out; returns its exit status and output.
std::pair<int, std::string> RunWorker(const std::string& a, const std::string& b,
                                      std::vector<std::string> extra = {},
                                      std::vector<std::string> prefix = {}) {
  int pa[2], pb[2], po[2];
  EXPECT_EQ(::pipe(pa), 0);
  EXPECT_EQ(::pipe(pb), 0);
  EXPECT_EQ(::pipe(po), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pa[0], 3);
    ::dup2(pb[0], 4);
    ::dup2(po[1], 5);
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
  // Small streams: they fit the pipes' buffers or are drained as the worker reads in turn.
  std::thread wa([&] {
    (void)!::write(pa[1], a.data(), a.size());
    ::close(pa[1]);
  });
  std::thread wb([&] {
    (void)!::write(pb[1], b.data(), b.size());
    ::close(pb[1]);
  });
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(po[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(po[0]);
  wa.join();
  wb.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {status, out};
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
#endif

}  // namespace
}  // namespace tessera::collab
