# berth: the two commands are `make run` and `make test`.
BUILD ?= build
LISTEN ?= 127.0.0.1:7071
DATA_DIR ?= .berth
JOBS ?= 2

.PHONY: deps build run test unit e2e bench format clean package

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/berth serve --listen $(LISTEN) --data-dir $(DATA_DIR)

# Every test: unit tests of each layer, then end-to-end tests against real crun (needs root).
# Unit tests run in parallel; end-to-end tests one at a time (some measure latency or CPU
# shares and must not compete with each other for the two cores).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600 -LE e2e
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -L e2e

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE e2e

e2e: build
	cd $(BUILD) && ctest --output-on-failure -L e2e

# A .deb (CPack): binaries, the systemd unit, /etc/berth/settings.json. Lands in $(BUILD)/.
package: build
	cd $(BUILD) && cpack -G DEB

# Benchmarks against their baselines (see bench/README.md); SCENARIO=P1 runs one.
bench: build
	bash bench/run.sh $(SCENARIO)

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h')

clean:
	rm -rf $(BUILD)
