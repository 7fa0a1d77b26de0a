// Placeholder until the dashboard build (web/, cmake/embed_web.cmake) generates the table of
// embedded files: no assets, so `tessera serve` serves the API only.

#include "tessera/server/web_assets.h"

namespace tessera::server {

const WebAsset* FindWebAsset(std::string_view) { return nullptr; }

}  // namespace tessera::server
