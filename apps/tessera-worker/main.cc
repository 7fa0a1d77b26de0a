// tessera-worker: the join worker of a collaboration (include/tessera/collab/worker.h). It holds
// no store, no owner key and no identifier, opens nothing itself once running, and talks only
// through the file descriptors it is handed: each owner's stream in, the result out. Before it
// reads a byte it confines itself with seccomp (read, write and memory only; anything else kills
// it); scripts/tessera-worker-sandboxed adds bubblewrap (no network, no file system but what it
// runs from), and apps/tessera-worker/tessera-worker.manifest.template runs it under Gramine.
//
//   tessera-worker --a fd:3 --b fd:4 [--out fd:5] [--attestation simulated] [--sealed]
//
// Plain: the owners' streams come in as worker.h frames; the result goes out as one line of
// JSON. Sealed (--sealed, include/tessera/collab/worker_channel.h): the worker first writes one
// frame, its hello (a public key of this run and how it is attested), then reads each owner's
// stream sealed to that key, and writes the result as one frame sealed to the job's result_key,
// which the job must name. A job that names a result_key has its result sealed in plain mode
// too (one frame): a result meant for one recipient never leaves in the clear.

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <seccomp.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "tessera/collab/worker.h"
#include "tessera/collab/worker_channel.h"

namespace {

using tessera::Status;
using tessera::StatusOr;

// "fd:N" (a descriptor the caller handed over) or a path (for tests and manual runs).
StatusOr<int> OpenSource(const std::string& source, bool write) {
  if (source.rfind("fd:", 0) == 0) {
    char* end = nullptr;
    const long fd = std::strtol(source.c_str() + 3, &end, 10);
    if (end == source.c_str() + 3 || *end != '\0' || fd < 0 || fd > 1 << 20 ||
        ::fcntl(static_cast<int>(fd), F_GETFD) < 0) {
      return tessera::InvalidArgumentError("{}: not an open file descriptor", source);
    }
    return static_cast<int>(fd);
  }
  if (source == "-") return write ? 1 : 0;
  const int fd = write ? ::open(source.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
                       : ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tessera::InvalidArgumentError("{}: {}", source, std::strerror(errno));
  return fd;
}

tessera::collab::ReadFn Reader(int fd) {
  return [fd](uint8_t* out, size_t n) -> StatusOr<size_t> {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd, out + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return tessera::InternalError("read: {}", std::strerror(errno));
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  };
}

// Straight to the descriptor (no stdio buffer): whoever reads the other end has each write as
// soon as it returns, the hello before anything is sent to the worker.
Status WriteAll(int fd, const std::string& s) {
  size_t at = 0;
  while (at < s.size()) {
    const ssize_t w = ::write(fd, s.data() + at, s.size() - at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return tessera::InternalError("write: {}", std::strerror(errno));
    at += static_cast<size_t>(w);
  }
  return tessera::OkStatus();
}

// Reading, writing, memory and leaving: everything else (opening files, sockets, processes)
// kills the process. A sanitizer build (tests) runs a runtime that needs more system calls than
// the worker does; there the filter kills on what matters (files, sockets, processes, tracing)
// and lets the rest through.
Status Confine() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr bool kSanitized = true;
#else
  constexpr bool kSanitized = false;
#endif
  scmp_filter_ctx ctx = seccomp_init(kSanitized ? SCMP_ACT_ALLOW : SCMP_ACT_KILL_PROCESS);
  if (ctx == nullptr) return tessera::InternalError("seccomp_init failed");
  int rc = 0;
  if (kSanitized) {
    for (int call :
         {SCMP_SYS(open),       SCMP_SYS(openat),   SCMP_SYS(creat),    SCMP_SYS(socket),
          SCMP_SYS(socketpair), SCMP_SYS(connect),  SCMP_SYS(bind),     SCMP_SYS(listen),
          SCMP_SYS(accept),     SCMP_SYS(accept4),  SCMP_SYS(sendto),   SCMP_SYS(sendmsg),
          SCMP_SYS(execve),     SCMP_SYS(execveat), SCMP_SYS(fork),     SCMP_SYS(vfork),
          SCMP_SYS(ptrace),     SCMP_SYS(unlink),   SCMP_SYS(unlinkat), SCMP_SYS(rename),
          SCMP_SYS(renameat),   SCMP_SYS(mkdir),    SCMP_SYS(chmod)}) {
      rc = rc != 0 ? rc : seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, call, 0);
    }
  } else {
    for (int call : {SCMP_SYS(read),          SCMP_SYS(write),        SCMP_SYS(writev),
                     SCMP_SYS(close),         SCMP_SYS(fstat),        SCMP_SYS(newfstatat),
                     SCMP_SYS(lseek),         SCMP_SYS(mmap),         SCMP_SYS(munmap),
                     SCMP_SYS(mremap),        SCMP_SYS(mprotect),     SCMP_SYS(madvise),
                     SCMP_SYS(brk),           SCMP_SYS(futex),        SCMP_SYS(getrandom),
                     SCMP_SYS(clock_gettime), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
                     SCMP_SYS(sched_yield),   SCMP_SYS(exit),         SCMP_SYS(exit_group)}) {
      rc = rc != 0 ? rc : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, call, 0);
    }
  }
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) return tessera::InternalError("seccomp: {}", std::strerror(-rc));
  return tessera::OkStatus();
}

int Fail(const Status& s) {
  std::fprintf(stderr, "tessera-worker: %s\n", s.message().c_str());
  return s.code() == tessera::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int Run(int argc, char** argv) {
  CLI::App app{"tessera-worker: joins two owners' PSI sessions and releases aggregates only"};
  std::string a, b, out = "-", mode = "simulated";
  bool no_seccomp = false, selftest = false, sealed = false;
  app.add_option("--a", a, "Owner A's stream: fd:N or a path")->required();
  app.add_option("--b", b, "Owner B's stream: fd:N or a path")->required();
  app.add_option("--out", out, "Where the result goes: fd:N, a path or - (stdout)")
      ->capture_default_str();
  app.add_option("--attestation", mode, "simulated or sgx-dcap")->capture_default_str();
  app.add_flag("--sealed", sealed,
               "Announce a public key first, read the owners' streams sealed to it and seal the "
               "result to the job's result_key");
  app.add_flag("--no-seccomp", no_seccomp, "Do not confine the process (debugging only)");
  app.add_flag("--sandbox-selftest", selftest,
               "Confine, then try to open a socket: the process must be killed (exit by SIGSYS)")
      ->group("");
  CLI11_PARSE(app, argc, argv);

  if (sodium_init() < 0) return Fail(tessera::InternalError("libsodium cannot initialize"));
  auto attestation = tessera::collab::MakeAttestationProvider(mode);
  if (!attestation.ok()) return Fail(attestation.status());
  auto random = tessera::collab::SystemRandom::Create();
  if (!random.ok()) return Fail(random.status());
  // The run's key pair, made before the process confines itself (libsodium draws it with
  // getrandom, which the filter allows anyway).
  std::optional<tessera::collab::WorkerKeyPair> keys;
  if (sealed) {
    if ((*attestation)->mode() != "simulated") {
      // Under sgx-dcap the hello must carry a quote binding the public key; this build makes
      // none, and a hello never claims what it cannot show.
      return Fail(tessera::UnavailableError(
          "--sealed with {} attestation needs a quote over the worker's public key, which this "
          "build does not produce",
          (*attestation)->mode()));
    }
    auto generated = tessera::collab::WorkerKeyPair::Generate();
    if (!generated.ok()) return Fail(generated.status());
    keys.emplace(std::move(*generated));
  }
  auto fa = OpenSource(a, false);
  if (!fa.ok()) return Fail(fa.status());
  auto fb = OpenSource(b, false);
  if (!fb.ok()) return Fail(fb.status());
  auto fo = OpenSource(out, true);
  if (!fo.ok()) return Fail(fo.status());
  // What opens files on first use (OpenSSL reads its configuration) runs once before the
  // process confines itself.
  if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr) != 1) {
    return Fail(tessera::InternalError("OpenSSL cannot initialize"));
  }
  unsigned char warm[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>("tessera"), 7, warm);
  if (!no_seccomp) {
    if (Status confined = Confine(); !confined.ok()) return Fail(confined);
  }
  if (selftest) {
    (void)::socket(AF_INET, SOCK_STREAM, 0);  // killed here when confined
    std::fprintf(stderr, "tessera-worker: not confined: a socket could be opened\n");
    return 1;
  }
  if (sealed) {
    tessera::collab::WorkerHello hello;
    hello.public_key = keys->public_key();
    hello.mode = tessera::collab::AttestationMode::kSimulated;
    const std::string frame = tessera::collab::Frame(tessera::collab::EncodeWorkerHello(hello));
    if (Status written = WriteAll(*fo, frame); !written.ok()) return Fail(written);
  }
  // One owner's stream — plain frames, or the plaintext frames of a stream sealed to this run,
  // read to its final frame (when the job keeps its match, counts follow on the same
  // descriptor) — or none when the descriptor ends before a sealed stream begins.
  using Stream = tessera::collab::OwnerStream;
  const auto next_owner = [&](int fd, const std::string& owner) -> StatusOr<std::optional<Stream>> {
    StatusOr<Stream> stream = tessera::InternalError("unread");
    if (!sealed) {
      stream = tessera::collab::ReadOwnerStream(Reader(fd), owner);
    } else {
      auto reader = tessera::collab::SealedStreamReader::OpenNext(Reader(fd), *keys);
      if (!reader.ok()) return reader.status().WithContext(fmt::format("owner {}", owner));
      if (!*reader) return std::optional<Stream>();
      stream = tessera::collab::ReadOwnerStream(
          tessera::collab::FrameSource([&reader] { return (*reader)->Next(); }), owner);
    }
    if (!stream.ok()) return stream.status();
    return std::optional<Stream>(std::move(*stream));
  };
  const auto read_owner = [&](int fd, const std::string& owner) -> StatusOr<Stream> {
    auto stream = next_owner(fd, owner);
    if (!stream.ok()) return stream.status();
    if (!*stream) {
      return tessera::InvalidArgumentError("owner {}: the sealed stream ends before its header",
                                           owner);
    }
    return std::move(**stream);
  };
  // Without a kept match, each stream ends with its final frame: anything after it is refused.
  const auto ends = [&](int fd, const std::string& owner) -> Status {
    if (!sealed) return tessera::OkStatus();
    auto extra = tessera::collab::ReadFrame(Reader(fd));
    if (!extra.ok() || *extra) {
      return tessera::InvalidArgumentError("owner {}: bytes after the sealed stream's final frame",
                                           owner);
    }
    return tessera::OkStatus();
  };
  auto sa = read_owner(*fa, "a");
  if (!sa.ok()) return Fail(sa.status());
  auto job = tessera::collab::ParseJoinJob(sa->job);
  if (!job.ok()) return Fail(job.status());
  if (sealed && !job->result_key) {
    return Fail(tessera::InvalidArgumentError(
        "--sealed: the job names no result_key, and the result goes to no one in the clear"));
  }
  auto sb = read_owner(*fb, "b");
  if (!sb.ok()) return Fail(sb.status());
  if (job->keep && !sealed) {
    return Fail(tessera::InvalidArgumentError(
        "the job asks to keep its match, which takes --sealed (the counts on it come sealed)"));
  }
  if (!job->keep) {
    if (Status end = ends(*fa, "a"); !end.ok()) return Fail(end);
    if (Status end = ends(*fb, "b"); !end.ok()) return Fail(end);
  }
  tessera::collab::KeptJoin kept;
  auto result = tessera::collab::RunJoinJob(*sa, *sb, **attestation, **random, &kept);
  if (!result.ok()) return Fail(result.status());
  sa->of_partner = {};
  sb->of_partner = {};
  // RunJoinJob refused different jobs: a's result_key is b's.
  const auto release = [&](const std::string& text,
                           const std::optional<tessera::collab::X25519PublicKey>& to) -> Status {
    if (!to) return WriteAll(*fo, text + "\n");
    auto sealed_result = tessera::collab::SealResult(text, *to);
    if (!sealed_result.ok()) return sealed_result.status();
    return WriteAll(*fo, tessera::collab::Frame(*sealed_result));
  };
  if (Status written = release(*result, job->result_key); !written.ok()) return Fail(written);
  if (!job->keep) return 0;
  // The match stays here for counts on it: each a pair of streams (owner a's, then owner b's),
  // sealed to this run's key, following each other on the same descriptors, until they end.
  // A count that fails ends the match (the requester matches again).
  for (;;) {
    auto sa_count = next_owner(*fa, "a");
    if (!sa_count.ok()) return Fail(sa_count.status());
    if (!*sa_count) return 0;  // the requester ended the match
    auto sb_count = read_owner(*fb, "b");
    if (!sb_count.ok()) return Fail(sb_count.status());
    const std::array<Stream, 2> streams = {std::move(**sa_count), std::move(*sb_count)};
    auto count_job = tessera::collab::ParseJoinJob(streams[0].job);
    if (!count_job.ok()) return Fail(count_job.status());
    if (!count_job->result_key) {
      return Fail(tessera::InvalidArgumentError("a count names no result_key"));
    }
    auto counted =
        tessera::collab::RunKeptCount(kept, streams[0], streams[1], **attestation, **random);
    if (!counted.ok()) return Fail(counted.status());
    if (Status written = release(*counted, count_job->result_key); !written.ok()) {
      return Fail(written);
    }
  }
}

// The worker leaves by _exit: it has nothing buffered (it writes with write(2)), and a sanitizer
// build's LeakSanitizer, which would check for leaks at a normal exit by tracing the process
// from a helper (ptrace), is killed by the seccomp filter and leaves the worker waiting for its
// tracer forever — whatever ASAN_OPTIONS the caller passes on.
int main(int argc, char** argv) {
  const int rc = Run(argc, argv);
  std::fflush(nullptr);
  ::_exit(rc);
}
