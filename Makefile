# Thin wrappers; the scripts do the work.
.PHONY: demo test build bench clean
demo:
	scripts/demo
test:
	scripts/test
build:
	scripts/build build
# Tessera side by side with DuckDB, PostgreSQL and pandas (BENCHMARKS.md): S and M, 3 runs.
bench:
	TESSERA_WITH_PEERS=1 scripts/install-deps
	TARGET=tessera scripts/build build-rel -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_TESTS=OFF
	bench/compare
clean:
	rm -rf build build-asan
