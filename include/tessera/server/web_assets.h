#pragma once

// The dashboard's files (built from web/ with npm at build time, embedded in the binary).

#include <string_view>

namespace tessera::server {

struct WebAsset {
  std::string_view path;          // "/index.html", "/assets/app-1a2b3c.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
  std::string_view etag;  // a hash of the body, quoted
};

// The asset at `path` ("/" means "/index.html"), or nullptr.
const WebAsset* FindWebAsset(std::string_view path);

}  // namespace tessera::server
