# halld: `make run` starts the daemon with simulated devices, `make test` runs
# every test. Both install the system packages they need first.

SWIFT ?= swift
CONFIG ?= Config/simulated.toml
RUN_DIR ?= $(CURDIR)/.run
SOCKET ?= $(RUN_DIR)/halld.sock
STATE_DIR ?= $(RUN_DIR)/state

# Build: SQLite for GRDB, zlib for PNG pages, libcups, SANE, libusb, libturbojpeg,
# ALSA (speakers) and libespeak-ng (Mandarin speech, with its data).
BUILD_PACKAGES = libsqlite3-dev zlib1g-dev pkg-config libcups2-dev libsane-dev libusb-1.0-0-dev libturbojpeg0-dev libasound2-dev libespeak-ng-dev
# Tests also check openapi.yaml with openapi-spec-validator, run the Modbus
# drivers against pymodbus (PyPI) on a pty pair made by socat, start a private
# cupsd (cups, cups-ipp-utils' ippeveprinter on a D-Bus bus), use the SANE test
# backend (scanimage, for the benchmark), pdfinfo (poppler-utils) and udevadm (udev,
# which reads the generated rules), a private PostgreSQL server (postgresql), and
# headless Chromium with a CJK font for the bridge's pages, the espeak-ng program
# (hallctl voice make), sox (measures what a speaker played) and aplay (the voice
# benchmark's baseline).
TEST_PACKAGES = $(BUILD_PACKAGES) socat cups cups-daemon cups-client cups-ipp-utils dbus sane-utils poppler-utils udev python3 postgresql chromium fonts-wqy-microhei espeak-ng sox alsa-utils
PYTHON_TEST_PACKAGES = openapi-spec-validator pymodbus pyserial schemathesis

.PHONY: all build run run-serial test deps test-deps check-openapi bench fuzz soak install clean screenshots layout

# make install [DESTDIR=…] [PREFIX=/usr/local]: binaries, systemd unit, udev rules,
# sysusers.d/tmpfiles.d, the example configuration, shell completions, man pages.
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_BUILD ?= release
# Installed and benchmarked binaries carry the Swift runtime and Foundation in them
# (--static-swift-stdlib): they run on a PC without a Swift toolchain, start in about
# two thirds of the time and answer requests faster (no calls through the PLT into
# libswiftCore), and map only the parts they use. `make bench` measures what
# `make install` installs.
# They are linked by lld, which packs the program's 140 000 relative relocations
# (DT_RELR) from 3.4 MB into 28 KB the loader reads at every start; DT_RELR needs
# glibc 2.36 (Debian 12) where the binary runs, so it is asked for only when the
# building PC has that glibc.
RELR := $(shell getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ split($$2, v, "."); if (v[1] > 2 || v[2] >= 36) print "-Xlinker -z -Xlinker pack-relative-relocs" }')
# The Swift toolchain's static link exports every symbol of the program (53 000), which
# the loader then searches first for each symbol a shared library needs (3 MB of
# symbol table resident); halld looks up none of its own by name, so none are exported.
# Not exporting also keeps a library halld opens later (libcups…) from binding its own
# calls to CLazyLibrary's same-named functions.
# Code layout: each function in a section of its own, the functions halld runs from
# start-up through idle and a day's requests first and together (scripts/halld.order),
# the compiler's unnamed ones with them (scripts/halld-text.ld). The kernel maps code in
# blocks around each page run (64 KiB, or a whole large folio): laid out module by module,
# an idle halld kept 19–21 MB of its code resident, laid out so 7 MB.
# scripts/order-file.sh makes the order file again after much code changed.
ORDER := -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
	-Xlinker --symbol-ordering-file=$(CURDIR)/scripts/halld.order -Xlinker --no-warn-symbol-ordering \
	-Xlinker -T$(CURDIR)/scripts/halld-text.ld
# A build folder of their own (.build-static): SwiftPM does not compile a module again
# when only its -Xfrontend flags change, so objects from a plain release build in .build
# would keep their old layout.
STATIC ?= --scratch-path .build-static --static-swift-stdlib -Xswiftc -use-ld=lld $(RELR) -Xlinker --no-export-dynamic $(ORDER)

all: build

# SwiftPM does not know the order file and the linker script are inputs of the link:
# a binary of .build-static older than either is removed, so that it is linked again.
layout:
	@for f in .build-static/release/*; do \
	  if [ -f "$$f" ] && [ -x "$$f" ] && { [ scripts/halld.order -nt "$$f" ] || [ scripts/halld-text.ld -nt "$$f" ]; }; then rm -f "$$f"; fi; \
	done

deps:
	@command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH (Swift 6.1 or later is needed)"; exit 1; }
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)

test-deps: deps
	@scripts/ensure-packages.sh $(TEST_PACKAGES)
	@python3 -c 'import openapi_spec_validator, pymodbus, serial, schemathesis' 2>/dev/null || python3 -m pip install -q $(PYTHON_TEST_PACKAGES)

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

# Fuzzing with libFuzzer: every decoder of outside bytes, FUZZ_SECONDS each
# (make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="hallbus modbus"). The corpus grows in
# .build-fuzz/corpus; an input that crashes or breaks an invariant is written to
# Fuzz/regressions/TARGET/, which the tests replay: commit it with the fix.
# Reproduce one without the fuzzer: .build/debug/hall-fuzz TARGET FILE
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= hallbus profile modbus escpos config api wav
fuzz: deps
	$(SWIFT) build -c release --scratch-path .build-fuzz --product hall-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -parse-as-library
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t Fuzz/regressions/$$t; cp Fuzz/corpus/$$t/* .build-fuzz/corpus/$$t/; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  SWIFT_BACKTRACE=enable=no HALL_FUZZ_TARGET=$$t .build-fuzz/release/hall-fuzz .build-fuzz/corpus/$$t -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=4096 -timeout=5 -rss_limit_mb=2048 -artifact_prefix=Fuzz/regressions/$$t/ -print_final_stats=1 > .build-fuzz/$$t.log 2>&1 || failed="$$failed $$t"; \
	  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus)|ERROR|Test unit written|Assertion|Fatal error" .build-fuzz/$$t.log; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in$$failed (inputs in Fuzz/regressions; logs in .build-fuzz/TARGET.log)"; exit 1; fi

# Load and crash durability against a release halld (RELIABILITY.md has the figures):
# 200 clients for SOAK_SECONDS, then SIGKILL under load CRASH_KILLS times.
SOAK_SECONDS ?= 60
CRASH_KILLS ?= 30
soak: deps layout
	$(SWIFT) build -c release $(STATIC) --product halld
	$(SWIFT) build -c release $(STATIC) --product hall-bench
	$$($(SWIFT) build -c release $(STATIC) --show-bin-path)/hall-bench soak --clients 200 --seconds $(SOAK_SECONDS)
	$$($(SWIFT) build -c release $(STATIC) --show-bin-path)/hall-bench crash --kills $(CRASH_KILLS)

# Benchmarks: ratios against baselines measured in the same run, on a release build.
bench: deps layout
	@scripts/ensure-packages.sh $(TEST_PACKAGES)
	$(SWIFT) build -c release $(STATIC) --product halld
	$(SWIFT) build -c release $(STATIC) --product hall-bench
	pgdir=$$(mktemp -d /tmp/halld-bench-pg.XXXXXX); \
	trap 'bash Tests/peers/postgres_peer.sh stop '"$$pgdir" EXIT; \
	url=$$(bash Tests/peers/postgres_peer.sh start "$$pgdir") || exit 1; \
	HALLD_BENCH_POSTGRES=$$url $$($(SWIFT) build -c release $(STATIC) --show-bin-path)/hall-bench --out BENCHMARKS.md --command "make bench"

install: deps layout
	$(SWIFT) build -c $(INSTALL_BUILD) $(STATIC)
	$(SWIFT) build -c $(INSTALL_BUILD) $(STATIC) --product generate-manual
	@bin=$$($(SWIFT) build -c $(INSTALL_BUILD) $(STATIC) --show-bin-path); set -e; \
	for tool in halld hallctl hall-sim; do install -Dm755 $$bin/$$tool $(DESTDIR)$(PREFIX)/bin/$$tool; done; \
	sed 's|/usr/local|$(PREFIX)|g' systemd/halld.service > $$bin/halld.service; \
	install -Dm644 $$bin/halld.service $(DESTDIR)/lib/systemd/system/halld.service; \
	install -Dm644 systemd/halld.socket $(DESTDIR)/lib/systemd/system/halld.socket; \
	install -Dm644 udev/70-halld.rules $(DESTDIR)/lib/udev/rules.d/70-halld.rules; \
	install -Dm644 systemd/halld.sysusers.conf $(DESTDIR)/usr/lib/sysusers.d/halld.conf; \
	install -Dm644 systemd/halld.tmpfiles.conf $(DESTDIR)/usr/lib/tmpfiles.d/halld.conf; \
	install -Dm644 Config/halld.toml $(DESTDIR)/etc/halld/halld.toml.example; \
	mkdir -p $$bin/completions $$bin/man; \
	$$bin/hallctl --generate-completion-script bash > $$bin/completions/hallctl.bash; \
	$$bin/hallctl --generate-completion-script zsh > $$bin/completions/_hallctl; \
	$$bin/hallctl --generate-completion-script fish > $$bin/completions/hallctl.fish; \
	install -Dm644 $$bin/completions/hallctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/hallctl; \
	install -Dm644 $$bin/completions/_hallctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_hallctl; \
	install -Dm644 $$bin/completions/hallctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/hallctl.fish; \
	$$bin/generate-manual $$bin/hallctl --section 1 -o $$bin/man; \
	$$bin/generate-manual $$bin/halld --section 8 -o $$bin/man; \
	$$bin/generate-manual $$bin/hall-sim --section 1 -o $$bin/man; \
	install -Dm644 $$bin/man/hallctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/hallctl.1; \
	install -Dm644 $$bin/man/hall-sim.1 $(DESTDIR)$(PREFIX)/share/man/man1/hall-sim.1; \
	install -Dm644 $$bin/man/halld.8 $(DESTDIR)$(PREFIX)/share/man/man8/halld.8; \
	echo "installed under $(DESTDIR)$(PREFIX); then: systemd-sysusers; systemd-tmpfiles --create; udevadm control --reload; cp /etc/halld/halld.toml.example /etc/halld/halld.toml; systemctl enable --now halld.socket halld"

check-openapi: test-deps
	python3 -m openapi_spec_validator openapi.yaml

# SANE_CONFIG_DIR is set before the tests start: the SANE tests write their private
# configuration there (setting the variable while tests run in parallel would race).
# Suites run in parallel; each has a time limit, and nothing in the tests blocks a
# thread of the cooperative pool (child processes go through swift-subprocess).
# The whole run takes under two minutes here; a run that has not ended in thirty has
# hung (a test, or the test process at exit), and fails instead of waiting for CI's limit.
TEST_TIMEOUT ?= 30m

# A private PostgreSQL server (Tests/peers/postgres_peer.sh) serves the hall-store
# tests for the whole run, each test in a hall of its own; it stops when the tests end.
test: test-deps check-openapi
	$(SWIFT) build --build-tests
	mkdir -p .build/test-sane
	pgdir=$$(mktemp -d /tmp/halld-test-pg.XXXXXX); \
	trap 'bash Tests/peers/postgres_peer.sh stop '"$$pgdir" EXIT; \
	url=$$(bash Tests/peers/postgres_peer.sh start "$$pgdir") || exit 1; \
	SANE_CONFIG_DIR=$(CURDIR)/.build/test-sane HALLD_TEST_POSTGRES=$$url timeout --kill-after=30 $(TEST_TIMEOUT) $(SWIFT) test \
		|| { rc=$$?; [ $$rc -ge 124 ] && echo "make test: swift test did not end within $(TEST_TIMEOUT) (exit $$rc)" >&2; exit $$rc; }

# The pages' pictures in docs/ (README): halld with the simulated devices, a few
# calls, and headless Chromium.
screenshots: deps
	@scripts/ensure-packages.sh chromium fonts-wqy-microhei
	$(SWIFT) build --product halld --product hallctl
	scripts/screenshots.sh $$($(SWIFT) build --show-bin-path) docs

clean:
	rm -rf .build $(RUN_DIR)
