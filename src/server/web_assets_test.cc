#include "tessera/server/web_assets.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "common/test_support.h"

namespace tessera::server {
namespace {

const WebAsset* IndexOrSkip() { return FindWebAsset("/"); }

TEST(WebAssets, RootIsTheIndexPage) {
  const WebAsset* index = IndexOrSkip();
  if (index == nullptr) TESSERA_SKIP_OR_FAIL("built without the dashboard (TESSERA_BUILD_WEB=OFF)");
  EXPECT_EQ(index, FindWebAsset("/index.html"));
  EXPECT_EQ(index->path, "/index.html");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<div id=\"app\">"), std::string_view::npos);
}

TEST(WebAssets, EveryFileTheIndexNamesIsEmbeddedWithItsType) {
  const WebAsset* index = IndexOrSkip();
  if (index == nullptr) TESSERA_SKIP_OR_FAIL("built without the dashboard (TESSERA_BUILD_WEB=OFF)");
  const std::string html(index->body);
  const std::regex ref(R"re((?:src|href)="([^"]+)")re");
  int scripts = 0, styles = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator();
       ++it) {
    const std::string path = "/" + (*it)[1].str();  // the page names them relative to /
    const WebAsset* asset = FindWebAsset(path);
    ASSERT_NE(asset, nullptr) << path;
    EXPECT_FALSE(asset->body.empty()) << path;
    if (path.ends_with(".js")) {
      ++scripts;
      EXPECT_EQ(asset->content_type, "text/javascript; charset=utf-8");
    } else if (path.ends_with(".css")) {
      ++styles;
      EXPECT_EQ(asset->content_type, "text/css; charset=utf-8");
    }
  }
  EXPECT_EQ(scripts, 1);
  EXPECT_EQ(styles, 1);
}

TEST(WebAssets, EtagsAreQuotedAndDifferPerFile) {
  const WebAsset* index = IndexOrSkip();
  if (index == nullptr) TESSERA_SKIP_OR_FAIL("built without the dashboard (TESSERA_BUILD_WEB=OFF)");
  std::set<std::string_view> seen;
  for (const char* path : {"/index.html", "/favicon.svg"}) {
    const WebAsset* asset = FindWebAsset(path);
    ASSERT_NE(asset, nullptr) << path;
    ASSERT_GE(asset->etag.size(), 3u);
    EXPECT_EQ(asset->etag.front(), '"');
    EXPECT_EQ(asset->etag.back(), '"');
    EXPECT_TRUE(seen.insert(asset->etag).second) << path;
  }
}

TEST(WebAssets, UnknownPathsAreNotFound) {
  EXPECT_EQ(FindWebAsset("/no-such-file.js"), nullptr);
  EXPECT_EQ(FindWebAsset("index.html"), nullptr);  // paths start with a slash
  EXPECT_EQ(FindWebAsset("/assets/"), nullptr);
  EXPECT_EQ(FindWebAsset(""), nullptr);
}

}  // namespace
}  // namespace tessera::server
