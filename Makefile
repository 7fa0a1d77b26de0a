# Thin wrappers; the scripts do the work.
.PHONY: demo test build bench clean
demo:
	scripts/demo
test:
	scripts/test
build:
	scripts/build build
clean:
	rm -rf build build-asan
