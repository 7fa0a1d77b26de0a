# Every libFuzzer target (fuzz/<name>_fuzzer.cc, corpus in fuzz/corpus/<name>) and the module
# it needs. fuzz/CMakeLists.txt builds them for libFuzzer (clang); tests/CMakeLists.txt
# replays each corpus through the same entry point in every test build, so an input that once
# crashed stays a regression test under ASan + UBSan.
set(TESSERA_FUZZ_TARGETS
  row_source:io
  mapping:io
  value_parse:io
  people_reader:io
  phone:privacy
  segment_rules:analytics
  audience_expression:audience
  psi_message:collab_protocol
  worker_stream:collab_protocol
  grant:collab
  http_framing:http
  csv_escape:io
  upload:ingest
  shop_orders:sources_orders)
