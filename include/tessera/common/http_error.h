#pragma once

// What went wrong with an HTTP request that got no answer, in words for people: cpp-httplib's
// own names ("Connection", "Read") say little in a log. Header-only, for the modules that use
// cpp-httplib as a client (sources, destinations, the collaboration node client).

#include <httplib.h>

#include <string>

namespace tessera {

inline std::string HttpErrorText(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "the connection failed (refused, or no route to the host)";
    case httplib::Error::BindIPAddress:
      return "cannot bind the local address";
    case httplib::Error::Read:
      return "reading the answer failed (closed or timed out)";
    case httplib::Error::Write:
      return "sending the request failed (closed or timed out)";
    case httplib::Error::ExceedRedirectCount:
      return "too many redirects";
    case httplib::Error::Canceled:
      return "cancelled (the request's deadline passed)";
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the TLS certificates";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate did not verify";
    case httplib::Error::ConnectionTimeout:
      return "connecting timed out";
    default:
      return "the request failed (" + httplib::to_string(error) + ")";
  }
}

}  // namespace tessera
