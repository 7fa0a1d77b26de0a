// tessera-worker: the join worker of a collaboration (include/tessera/collab/worker.h). It holds
// no store, no owner key and no identifier, opens nothing itself once running, and talks only
// through the file descriptors it is handed: each owner's stream in, the result out. Before it
// reads a byte it confines itself with seccomp (read, write and memory only; anything else kills
// it); scripts/tessera-worker-sandboxed adds bubblewrap (no network, no file system but what it
// runs from), and apps/tessera-worker/tessera-worker.manifest.template runs it under Gramine.
//
//   tessera-worker --a fd:3 --b fd:4 [--out fd:5] [--attestation simulated]

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <seccomp.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "tessera/collab/worker.h"

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

int main(int argc, char** argv) {
  CLI::App app{"tessera-worker: joins two owners' PSI sessions and releases aggregates only"};
  std::string a, b, out = "-", mode = "simulated";
  bool no_seccomp = false, selftest = false;
  app.add_option("--a", a, "Owner A's stream: fd:N or a path")->required();
  app.add_option("--b", b, "Owner B's stream: fd:N or a path")->required();
  app.add_option("--out", out, "Where the result goes: fd:N, a path or - (stdout)")
      ->capture_default_str();
  app.add_option("--attestation", mode, "simulated or sgx-dcap")->capture_default_str();
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
  auto sa = tessera::collab::ReadOwnerStream(Reader(*fa), "a");
  if (!sa.ok()) return Fail(sa.status());
  auto sb = tessera::collab::ReadOwnerStream(Reader(*fb), "b");
  if (!sb.ok()) return Fail(sb.status());
  auto result = tessera::collab::RunJoinJob(*sa, *sb, **attestation, **random);
  if (!result.ok()) return Fail(result.status());
  if (Status written = WriteAll(*fo, *result + "\n"); !written.ok()) return Fail(written);
  return 0;
}
