# Front door for people: every target installs what it needs first (idempotent, quick when done).
.PHONY: fuzz all build deps run test unit e2e asan tsan bench fmt fmt-check clean

BUILD := build
ASAN_BUILD := build-asan
TSAN_BUILD := build-tsan
JOBS := $(shell nproc)

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTESSERA_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTESSERA_TSAN=ON >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)

run: build
	@scripts/run

# Unit and end-to-end suites, then both again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then under ThreadSanitizer (scripts/test tells that build by its CMake cache).
test: build asan tsan
	@scripts/test $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

bench: build
	@scripts/bench

# Every libFuzzer target in fuzz/ (clang), one after another: FUZZ_SECONDS each (default 60),
# TARGETS="policy router" for some (fuzz/README.md); then Schemathesis against the ASan build,
# SCHEMATHESIS_EXAMPLES per operation (default 300; 0 skips it).
fuzz: deps asan
	@scripts/fuzz
	@if [ "$${SCHEMATHESIS_EXAMPLES:-300}" != 0 ]; then cd tests && TESSERA_BIN=../$(ASAN_BUILD)/tessera \
	  SCHEMATHESIS_EXAMPLES=$${SCHEMATHESIS_EXAMPLES:-300} node --test compat/schemathesis.test.mjs; fi

fmt: deps
	@clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

fmt-check: deps
	@clang-format --dry-run --Werror $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
