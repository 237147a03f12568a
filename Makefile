# A thin wrapper over scripts/ and CMake. `make demo` and `make test` are all a fresh Debian 12
# machine needs: both install missing packages first (scripts/deps.sh).
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
export FUZZ_SECONDS
# Warnings are errors for the suite and CI (and whatever they build first), not for `make build`.
WERROR ?= OFF

.PHONY: deps build test release demo fuzz bench package clean

deps:
	bash scripts/deps.sh

build: deps
	cmake -S . -B build -DREDPAIR_WERROR=$(WERROR)
	cmake --build build -j$(JOBS)

# The whole suite: unit + integration tests, again under ASan/UBSan, the fuzzers, and the Release
# build once (CI runs exactly this, via .ci/run).
test: WERROR = ON
test: build
	ctest --test-dir build --output-on-failure -j2
	cmake -S . -B build-asan -DREDPAIR_SANITIZE=ON -DREDPAIR_WERROR=ON
	cmake --build build-asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j2
	bash tests/fuzz/run.sh
	$(MAKE) release

# The optimised build users and packagers get (-O3), warnings as errors: the suite builds it once.
release: deps
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DREDPAIR_WERROR=ON
	cmake --build build-release -j$(JOBS)

# CLUSTER=1: two side-car redpairs and a witness instead of one redpair.
demo: build
	bash scripts/demo.sh $(if $(CLUSTER),--cluster)

fuzz: deps
	bash tests/fuzz/run.sh

bench: build
	bash bench/run.sh

# The .deb and the .rpm into dist/, linted (packaging/build.sh).
package: deps
	bash packaging/build.sh

clean:
	rm -rf build build-*/ dist/
