# The two commands a newcomer needs: `make run` and `make test`.
# Everything else here serves them (or benchmarking and fuzzing).
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: all bootstrap build web build-asan build-fuzz run test test-fast fuzz-smoke bench fuzz format clean

all: build

bootstrap:
	@tools/bootstrap.sh all

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: bootstrap $(BUILD)/build.ninja web
	cmake --build $(BUILD) -j $(JOBS)

# The dashboard (web/dist), served by the server; its npm packages come from
# the bootstrap.
web: bootstrap
	npm --prefix web run build --silent

$(BUILD_ASAN)/build.ninja:
	cmake -S . -B $(BUILD_ASAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOOTFALL_SANITIZE=ON

build-asan: bootstrap $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS)

# Starts the whole product on this machine (server + worker + demo camera).
run: build
	@tools/run.sh $(BUILD)

# The whole suite: the normal build, the sanitizer build, and a short run
# of every fuzz target. Each ctest prints its own closing line; the last one
# covers the sanitizer build.
test: build build-asan build-fuzz
	cd $(BUILD_FUZZ) && ctest --output-on-failure -j $(JOBS) -L fuzz
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS) --timeout 1800 -LE 'no-sanitizer|fuzz'

# Only the normal build (quicker while developing).
test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: build
	@tools/bench.sh $(BUILD)

$(BUILD_FUZZ)/build.ninja:
	cmake -S . -B $(BUILD_FUZZ) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOOTFALL_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++

# Only the fuzz targets (clang, libFuzzer, ASan + UBSan).
build-fuzz: bootstrap $(BUILD_FUZZ)/build.ninja
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers

fuzz: build-fuzz
	@tools/fuzz.sh $(BUILD_FUZZ) $${FUZZ_SECONDS:-60}

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
