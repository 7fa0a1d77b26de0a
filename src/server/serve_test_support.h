#pragma once

// Test support for the HTTP API tests: the real tessera binary (TESSERA_BINARY) run as a
// command, and `tessera serve` as a child process on a random loopback port.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace tessera::server::test_support {

// Runs the tessera binary with `args` on `store_location`; returns its stdout. Fails the test
// on a non-zero exit. stderr goes to `stderr_file` when given, else nowhere.
inline std::string Tessera(const std::vector<std::string>& args, const std::string& store_location,
                           const std::string& stderr_file = "") {
  std::string cmd = std::string("TESSERA_STORE='") + store_location + "' '" TESSERA_BINARY "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>" + (stderr_file.empty() ? std::string("/dev/null") : "'" + stderr_file + "'");
  std::FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  EXPECT_EQ(rc, 0) << cmd;
  return out;
}

inline std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A `tessera serve` process: started with `serve --listen 127.0.0.1:0 ARGS...`, its stderr in
// `log_path`, stopped (SIGTERM, expected to exit 0) when the object goes away.
class ServeProcess {
 public:
  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess() { Stop(); }

  void Start(const std::vector<std::string>& serve_args, const std::string& log_path) {
    // A client writing to a connection the server closed must not kill the test process.
    ::signal(SIGPIPE, SIG_IGN);
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    const std::string binary = TESSERA_BINARY;
    std::vector<std::string> args = {binary, "serve", "--listen", "127.0.0.1:0"};
    args.insert(args.end(), serve_args.begin(), serve_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      // The server dies with the test process and holds none of the test runner's pipes.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(out[1], STDOUT_FILENO);
      const int err = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (err >= 0) ::dup2(err, STDERR_FILENO);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(out[0]);
    // "Listening on http://127.0.0.1:PORT"
    const size_t colon = line.rfind(':');
    ASSERT_NE(colon, std::string::npos) << "serve printed: " << line;
    port_ = std::stoi(line.substr(colon + 1));
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "serve did not stop cleanly";
    pid_ = 0;
  }

  int port() const { return port_; }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
};

}  // namespace tessera::server::test_support
