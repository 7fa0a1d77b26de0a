// `tessera serve` and `tessera keys api create|list|revoke`.

#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

#include "cli_common.h"
#include "tessera/server/api_keys.h"
#include "tessera/server/server.h"

namespace tessera {
namespace {

// "127.0.0.1:8080", "0.0.0.0:0", ":8080" or "8080".
Status ParseListen(const std::string& text, server::ServerOptions* o) {
  const size_t colon = text.rfind(':');
  const std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
  const std::string port = colon == std::string::npos ? text : text.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return InvalidArgumentError("--listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got '{}'",
                                text);
  }
  if (!host.empty()) o->host = host;
  o->port = static_cast<int>(p);
  return OkStatus();
}

struct ServeArgs {
  StoreArgs store;
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> cors;
  std::string collaboration;
  int threads = 128;
  uint64_t max_upload_mb = 4096;
  int max_connections_per_address = 256;
  int max_busy_per_client = 32;
  int request_timeout = 30;
  std::string tls_cert, tls_key;
  std::string access_log;
  std::string schedule, schedule_zone, schedule_window = "24m";
  int max_key_failures = 20;
  int key_failure_window = 60;
  bool with_key = false;
  bool reuse_port = false;
};

Status RunServe(const ServeArgs& a) {
  server::ServerOptions o;
  TESSERA_RETURN_IF_ERROR(ParseListen(a.listen, &o));
  o.store = a.store.store;
  o.key_path = a.with_key ? a.store.key : "";
  o.cors_origins = a.cors;
  o.threads = a.threads;
  o.max_upload_bytes = a.max_upload_mb << 20;
  o.max_connections_per_address = a.max_connections_per_address;
  o.max_busy_per_client = a.max_busy_per_client;
  o.read_timeout_seconds = a.request_timeout;
  o.reuse_port = a.reuse_port;
  o.collaboration_path = a.collaboration;
  o.tls_cert_path = a.tls_cert;
  o.tls_key_path = a.tls_key;
  o.access_log_path = a.access_log;
  o.schedule = a.schedule;
  o.schedule_zone = a.schedule_zone;
  o.schedule_window = a.schedule_window;
  o.max_key_failures = a.max_key_failures;
  o.key_failure_window_seconds = a.key_failure_window;
  if (a.tls_cert.empty() != a.tls_key.empty()) {
    return InvalidArgumentError("--tls-cert and --tls-key go together: give both, or neither");
  }
  // SIGINT and SIGTERM stop the server cleanly, SIGHUP reloads the TLS certificate and key and
  // reopens the access log file: blocked here (and so in every thread started later) and
  // awaited by one thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  TESSERA_ASSIGN_OR_RETURN(auto srv, server::Server::Start(o));
  const char* scheme = srv->tls() ? "https" : "http";
  std::printf("Listening on %s://%s:%d\n", scheme, o.host.c_str(), srv->port());
  std::fflush(stdout);
  std::fprintf(stderr,
               "tessera: serving %s; dashboard at %s://%s:%d/ , API at /api/v1 (docs/api.md)%s\n",
               a.store.store.c_str(), scheme, o.host.c_str(), srv->port(),
               o.key_path.empty() ? "; uploads off (start with --with-key to accept them)" : "");
  if (const std::string schedule = srv->ScheduleSummary(); !schedule.empty()) {
    std::fprintf(stderr, "tessera: %s\n", schedule.c_str());
  }
  if (!srv->tls() && server::ListensBeyondLoopback(o.host)) {
    std::fprintf(stderr,
                 "tessera: warning: listening on %s without TLS: API keys and results cross the "
                 "network readable by anyone on the way. Give --tls-cert and --tls-key, or keep "
                 "--listen on 127.0.0.1 behind a reverse proxy that speaks HTTPS "
                 "(docs/api.md, \"Running with TLS\").\n",
                 o.host.c_str());
  }
  std::thread waiter([&] {
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      if (const Status reopened = srv->ReopenAccessLog(); !reopened.ok()) {
        std::fprintf(stderr, "tessera: SIGHUP: the access log goes on in the old file: %s\n",
                     reopened.message().c_str());
      }
      if (!srv->tls()) continue;
      const Status reloaded = srv->ReloadTls();
      if (reloaded.ok()) {
        std::fprintf(stderr, "tessera: reloaded the TLS certificate and key (new connections)\n");
      } else {
        std::fprintf(stderr, "tessera: SIGHUP: kept the TLS certificate in use: %s\n",
                     reloaded.message().c_str());
      }
    }
    srv->Stop();
  });
  const Status s = srv->Run();
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return s;
}

struct KeyArgs {
  StoreArgs store;
  std::string role = "viewer", label, id;
  bool allow_query = false;
  std::string format = "table";
};

Status RunKeyCreate(const KeyArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto role, server::ParseRole(a.role));
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto key, server::MakeApiKey(role, a.allow_query, a.label));
  TESSERA_RETURN_IF_ERROR(server::ApiKeyStore(store->db()).Add(key.record));
  std::printf("%s\n", key.key.c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "tessera: created %s key %s%s; this is the only time it is shown. Send it as "
               "`Authorization: Bearer <key>`%s.\n",
               a.role.c_str(), key.record.id.c_str(),
               a.label.empty() ? "" : (" (" + a.label + ")").c_str(),
               a.allow_query ? " or as ?key=<key> (e.g. in IMPORTDATA)" : "");
  return OkStatus();
}

Status RunKeyList(const KeyArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(auto keys, server::ApiKeyStore(store->db()).List());
  if (keys.empty()) {
    std::printf("No API keys yet; create one with `tessera keys api create --role viewer`.\n");
    return OkStatus();
  }
  std::printf("%-16s  %-7s  %-5s  %-20s  %-20s  %s\n", "id", "role", "?key", "created", "revoked",
              "label");
  for (const auto& k : keys) {
    std::printf("%-16s  %-7s  %-5s  %-20s  %-20s  %s\n", k.id.c_str(), k.role.c_str(),
                k.allow_query_key ? "yes" : "no", k.created_at.c_str(),
                k.revoked_at.empty() ? "-" : k.revoked_at.c_str(), k.label.c_str());
  }
  return OkStatus();
}

Status RunKeyRevoke(const KeyArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
  TESSERA_ASSIGN_OR_RETURN(const bool revoked, server::ApiKeyStore(store->db()).Revoke(a.id));
  if (!revoked) return NotFoundError("no valid API key {} (`tessera keys api list`)", a.id);
  std::printf("Revoked API key %s; servers refuse it within 2 seconds.\n", a.id.c_str());
  return OkStatus();
}

}  // namespace

void AddServeCommands(CLI::App& app, CLI::App* keys, int* rc) {
  static ServeArgs serve_args;
  auto* serve = app.add_subcommand(
      "serve", "Serve the HTTP API (for BI tools) and the dashboard from a store");
  serve
      ->add_option("--listen", serve_args.listen,
                   "Address and port; 127.0.0.1 keeps it on this machine, port 0 picks a free "
                   "one")
      ->envname("TESSERA_LISTEN")
      ->capture_default_str();
  AddStoreOptions(serve, &serve_args.store, true);
  serve->add_flag("--with-key", serve_args.with_key,
                  "Accept order uploads (POST /api/v1/ingest): the server reads the owner's key "
                  "(--key)");
  serve->add_option("--collaboration", serve_args.collaboration,
                    "This party's collaboration file (TOML, docs/collaboration.md): its partners "
                    "for the /api/v1/collab routes and the dashboard's Partners screen");
  serve->add_option("--cors-origin", serve_args.cors,
                    "Allow browser pages from this origin (repeatable; * for any)");
  serve
      ->add_option("--threads", serve_args.threads,
                   "Worker threads: requests that read the store (uploads, exports) served at once")
      ->check(CLI::Range(4, 4096))
      ->capture_default_str();
  serve->add_option("--max-upload-mb", serve_args.max_upload_mb, "Largest order upload")
      ->capture_default_str();
  serve
      ->add_option("--request-timeout", serve_args.request_timeout,
                   "Seconds a request (head and body; uploads: between reads) may take to arrive; "
                   "then 408")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve
      ->add_option("--max-connections-per-address", serve_args.max_connections_per_address,
                   "Connections open at once from one client address (0: no limit, e.g. behind "
                   "a reverse proxy)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  serve
      ->add_option("--max-busy-per-client", serve_args.max_busy_per_client,
                   "Requests on worker threads at once per client address and per API key; more "
                   "wait their turn (0: no limit)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  serve
      ->add_option("--tls-cert", serve_args.tls_cert,
                   "Serve HTTPS only (TLS 1.2+, with HSTS): the server's certificate, PEM, with "
                   "its chain (e.g. Let's Encrypt's fullchain.pem); needs --tls-key. SIGHUP "
                   "reads both files again (after a renewal)")
      ->envname("TESSERA_TLS_CERT")
      ->check(CLI::ExistingFile);
  serve
      ->add_option("--tls-key", serve_args.tls_key,
                   "The certificate's private key, PEM, unencrypted (e.g. privkey.pem, readable "
                   "by this user only)")
      ->envname("TESSERA_TLS_KEY")
      ->check(CLI::ExistingFile);
  serve
      ->add_option("--access-log", serve_args.access_log,
                   "Log each request to this file (appended; SIGHUP reopens it after a rotation), "
                   "or - for standard output (journald under systemd): key id, time, method, "
                   "route template, status, bytes, microseconds, role; never a client address, "
                   "a query or a key (docs/deployment.md)")
      ->envname("TESSERA_ACCESS_LOG");
  serve
      ->add_option("--max-key-failures", serve_args.max_key_failures,
                   "Wrong API keys one client address may send per window; then it waits a "
                   "window (429 with Retry-After), any key refused (0: no limit, e.g. behind a "
                   "reverse proxy that limits)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  serve
      ->add_option("--key-failure-window", serve_args.key_failure_window,
                   "Seconds of the window of --max-key-failures")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  serve
      ->add_option("--schedule", serve_args.schedule,
                   "Every day at these local times (HH:MM, several comma-separated: "
                   "06:00,18:30): pull the sources, recompute the segments into a kept "
                   "snapshot, deliver to the destinations; last and next run in GET "
                   "/api/v1/schedule and on the dashboard. A time missed while the server was "
                   "down runs once at start")
      ->envname("TESSERA_SCHEDULE");
  serve
      ->add_option("--schedule-zone", serve_args.schedule_zone,
                   "The time zone of --schedule's times (an IANA name such as Europe/Berlin; "
                   "default UTC)")
      ->envname("TESSERA_SCHEDULE_ZONE");
  serve
      ->add_option("--schedule-window", serve_args.schedule_window,
                   "The window the scheduled recompute uses (12m, 24m, 36m, ...)")
      ->capture_default_str();
  serve->add_flag("--reuse-port", serve_args.reuse_port,
                  "Share the port with another server (SO_REUSEPORT); without it a port in use "
                  "is refused");
  serve->footer(
      "Examples:\n"
      "  tessera keys api create --role viewer --allow-query-key   # prints a key once\n"
      "  tessera serve                                             # http://127.0.0.1:8080/\n"
      "  curl -H 'Authorization: Bearer tsk_...' http://127.0.0.1:8080/api/v1/segments\n"
      "  =IMPORTDATA(\"https://tessera.example/api/v1/segments?format=csv&key=tsk_...\")\n"
      "  tessera serve --listen 0.0.0.0:8443 --tls-cert fullchain.pem --tls-key privkey.pem\n"
      "Results come from kept snapshots (`tessera snapshots create`). Reachable from other\n"
      "machines: give --tls-cert/--tls-key, or run behind nginx or Caddy (docs/api.md).");
  serve->callback([rc] {
    const Status s = RunServe(serve_args);
    *rc = s.ok() ? 0 : Fail(s);
  });

  static KeyArgs create_args, list_args, revoke_args;
  auto* api = keys->add_subcommand("api", "API keys for `tessera serve`");
  api->require_subcommand(1);
  auto* create = api->add_subcommand("create", "Create an API key; prints it once");
  create
      ->add_option("--role", create_args.role,
                   "viewer (results), analyst (also profiles), admin (also uploads, keys)")
      ->check(CLI::IsMember({"viewer", "analyst", "admin"}))
      ->capture_default_str();
  create->add_flag("--allow-query-key", create_args.allow_query,
                   "Also accept the key as ?key= in URLs (for IMPORTDATA; URLs end up in logs)");
  create->add_option("--label", create_args.label, "A note: who or what uses the key");
  AddStoreOptions(create, &create_args.store, false);
  create->callback([rc] {
    const Status s = RunKeyCreate(create_args);
    *rc = s.ok() ? 0 : Fail(s);
  });
  auto* list = api->add_subcommand("list", "List API keys (ids and roles; never the keys)");
  AddStoreOptions(list, &list_args.store, false);
  list->callback([rc] {
    const Status s = RunKeyList(list_args);
    *rc = s.ok() ? 0 : Fail(s);
  });
  auto* revoke = api->add_subcommand("revoke", "Revoke an API key by id");
  revoke->add_option("id", revoke_args.id, "The key's id (`tessera keys api list`)")->required();
  AddStoreOptions(revoke, &revoke_args.store, false);
  revoke->callback([rc] {
    const Status s = RunKeyRevoke(revoke_args);
    *rc = s.ok() ? 0 : Fail(s);
  });
}

}  // namespace tessera
