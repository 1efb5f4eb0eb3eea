# halld: `make run` starts the daemon with simulated devices, `make test` runs
# every test. Both install the system packages they need first.

SWIFT ?= swift
CONFIG ?= Config/simulated.toml
RUN_DIR ?= $(CURDIR)/.run
SOCKET ?= $(RUN_DIR)/halld.sock
STATE_DIR ?= $(RUN_DIR)/state

# Build: SQLite for GRDB, zlib for the simulated scanner's PNG pages.
BUILD_PACKAGES = libsqlite3-dev zlib1g-dev pkg-config libcups2-dev libsane-dev libusb-1.0-0-dev libturbojpeg0-dev
# Tests also check openapi.yaml with openapi-spec-validator, run the Modbus
# drivers against pymodbus (PyPI) on a pty pair made by socat.
TEST_PACKAGES = $(BUILD_PACKAGES) socat cups cups-daemon cups-client cups-ipp-utils dbus sane-utils poppler-utils
PYTHON_TEST_PACKAGES = openapi-spec-validator pymodbus pyserial

.PHONY: all build run run-serial test deps test-deps check-openapi bench clean

all: build

deps:
	@command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH (Swift 6.1 or later is needed)"; exit 1; }
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)

test-deps: deps
	@scripts/ensure-packages.sh $(TEST_PACKAGES)
	@python3 -c 'import openapi_spec_validator, pymodbus, serial' 2>/dev/null || python3 -m pip install -q $(PYTHON_TEST_PACKAGES)

build: deps
	$(SWIFT) build

run: build
	@mkdir -p $(RUN_DIR)
	@echo "halld with $(CONFIG)"
	@echo "  socket: $(SOCKET)"
	@echo "  try:    HALLD_SOCKET=$(SOCKET) $$($(SWIFT) build --show-bin-path)/hallctl devices"
	@echo "     or:  curl --unix-socket $(SOCKET) http://localhost/v1/devices"
	$$($(SWIFT) build --show-bin-path)/halld --config $(CONFIG) --socket $(SOCKET) --state-dir $(STATE_DIR)

# The hall-bus drivers against hall-sim on a pty: hall-sim reads commands from
# this terminal (press 1 2, silent 1, hangup, plug, show 2, quit).
run-serial: build
	@mkdir -p $(RUN_DIR)
	@bin=$$($(SWIFT) build --show-bin-path); \
	$$bin/halld --config Config/serial-demo.toml --socket $(SOCKET) --state-dir $(STATE_DIR) 2> $(RUN_DIR)/halld.log & halld=$$!; \
	echo "halld (pid $$halld) logs to $(RUN_DIR)/halld.log; try: HALLD_SOCKET=$(SOCKET) $$bin/hallctl devices"; \
	$$bin/hall-sim --link $(RUN_DIR)/bus-1 --keypad 1 --display 2; kill $$halld

# Benchmarks: ratios against baselines measured in the same run, on a release build.
bench: deps
	$(SWIFT) build -c release --product hall-bench
	$$($(SWIFT) build -c release --show-bin-path)/hall-bench --out BENCHMARKS.md --command "make bench"

check-openapi: test-deps
	python3 -m openapi_spec_validator openapi.yaml

test: test-deps check-openapi
	$(SWIFT) build --build-tests
	$(SWIFT) test

clean:
	rm -rf .build $(RUN_DIR)
