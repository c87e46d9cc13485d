# coldstart — plain make.
#   make                      build ./coldstart
#   make DEVELOPER=1          strict warnings, -Werror
#   make SANITIZE=address,undefined   sanitized build (objects under build/san)
#   make test                 install deps, build, run every test (unit, unit under ASan/UBSan and TSan, CLI)
#   make demo                 the main job: build and run the demo experiment
#   make fuzz                 libFuzzer targets (clang), FUZZ_TIME seconds each (not in CI)
#   make check-layers         the engine (src/core) neither prints, exits nor uses src/cmd
#   make docs                 regenerate docs/coldstart.1 and docs/commands.md from the option tables
#   make install PREFIX=/usr/local DESTDIR=   (uninstall: the same, removed)
#   make STATIC_FUSE=1        link libfuse3 statically (to carry the binary to machines without it)
#   make deps                 install missing Debian packages (root)

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=
PROVE   ?= prove
FUZZ_TIME ?= 60

VERSION := 0.1.0
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null)
FULL_VERSION := $(VERSION)$(if $(GIT_REV), ($(GIT_REV)))

ifdef SANITIZE
O ?= build/san
SAN_CFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
O ?= build/default
endif

ifeq ($(DEVELOPER),1)
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wwrite-strings -Wvla -Wformat=2 -Wno-format-nonliteral
else
WARN := -Wall
endif

FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null || echo -I/usr/include/fuse3)
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SAN_CFLAGS) -D_FILE_OFFSET_BITS=64 $(FUSE_CFLAGS) \
	-DCS_VERSION='"$(FULL_VERSION)"' -Isrc -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) $(SAN_CFLAGS)
ifeq ($(STATIC_FUSE),1)
FUSE_LIBS := -Wl,-Bstatic -lfuse3 -Wl,-Bdynamic
else
FUSE_LIBS := -lfuse3
endif
LIBS := -ljansson -lxxhash -lcurl -lcrypto -lmicrohttpd $(FUSE_LIBS) -ldl -lpthread -lm

CORE_SRC := $(sort $(wildcard src/core/*/*.c))
CMD_SRC  := $(sort $(wildcard src/cmd/*.c))
APP_SRC  := src/main.c src/cli.c src/opts.c src/complete.c $(CMD_SRC)
CORE_OBJ := $(CORE_SRC:%.c=$(O)/%.o)
CORE_LIB := $(O)/libcoldstart.a
APP_OBJ  := $(APP_SRC:%.c=$(O)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:%.c=$(O)/%)
FIXTURE_SRC := $(sort $(wildcard tests/fixtures/*.c))
FIXTURE_BIN := $(FIXTURE_SRC:%.c=$(O)/%)

# Rebuild when the flags change (each configuration has its own object dir).
BUILD_ID := $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)
$(shell mkdir -p $(O) && (echo '$(BUILD_ID)' | cmp -s - $(O)/.build-id || echo '$(BUILD_ID)' > $(O)/.build-id))
$(shell mkdir -p build && (echo '$(O) $(BUILD_ID)' | cmp -s - build/.binary-id || echo '$(O) $(BUILD_ID)' > build/.binary-id))

.PHONY: all test check check-layers docs completion unit unit-bins unit-san unit-tsan cli cli-tsan deps demo fuzz install uninstall clean

all: coldstart $(FIXTURE_BIN)

# The engine is a static library: core never depends on the command side.
$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $(CORE_OBJ)

coldstart: $(APP_OBJ) $(CORE_LIB) build/.binary-id
	$(CC) $(ALL_LDFLAGS) -o $@ $(APP_OBJ) $(CORE_LIB) $(LIBS)

$(O)/%.o: %.c $(O)/.build-id
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/tests/unit/%: tests/unit/%.c $(CORE_LIB) tests/unit/tap.h $(O)/.build-id
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(CORE_LIB) $(LIBS)

# The option parser lives on the command side: its test links it.
$(O)/tests/unit/test_opts: tests/unit/test_opts.c $(O)/src/opts.o $(O)/src/cli.o $(O)/src/complete.o $(CORE_LIB) tests/unit/tap.h $(O)/.build-id
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/src/opts.o $(O)/src/cli.o $(O)/src/complete.o $(CORE_LIB) $(LIBS)

$(O)/tests/fixtures/%: tests/fixtures/%.c $(CORE_LIB) $(O)/.build-id
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(CORE_LIB) $(LIBS)

unit-bins: $(UNIT_BIN)

unit: $(UNIT_BIN)
	$(PROVE) -e '' $(UNIT_BIN)

unit-san:
	$(MAKE) SANITIZE=address,undefined unit

# The threaded modules (copy engine, checkpoint writer, loader, log reader)
# under ThreadSanitizer; any report fails the test.
unit-tsan:
	$(MAKE) SANITIZE=thread O=build/tsan unit

# The staging tests (stage, cache, bench's staged mode, HTTP sources) run by a
# ThreadSanitizer build of coldstart; any report (log file) fails.
cli-tsan:
	$(MAKE) SANITIZE=thread O=build/tsan build/tsan/coldstart build/tsan/tests/fixtures/fakeserver
	rm -f build/tsan/report.*
	TSAN_OPTIONS='log_path=$(CURDIR)/build/tsan/report' COLDSTART='$(CURDIR)/build/tsan/coldstart' \
		FIXTURES='$(CURDIR)/build/tsan/tests/fixtures' $(PROVE) -e bash tests/cli/t0080-stage.sh tests/cli/t0110-stage-http.sh \
		tests/cli/t0119-stage-hub.sh
	@if ls build/tsan/report.* >/dev/null 2>&1; then cat build/tsan/report.*; echo 'ThreadSanitizer reports above'; exit 1; fi

$(O)/coldstart: $(APP_OBJ) $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(APP_OBJ) $(CORE_LIB) $(LIBS)

cli: all
	COLDSTART='$(CURDIR)/coldstart' FIXTURES='$(CURDIR)/$(O)/tests/fixtures' \
		$(PROVE) -e bash tests/cli/t*.sh

# What CI and the README call: dependencies, build, every test.
test: deps
	$(MAKE) check

# The engine never prints to stdout/stderr, never exits, never reaches into
# the command side (the objects' undefined symbols and the sources' includes).
check-layers: $(CORE_LIB)
	@sh scripts/check-layers.sh docs/ARCHITECTURE.md $(CORE_LIB) $(CORE_SRC) $(wildcard src/core/*/*.h)

check: all
	$(MAKE) check-layers
	$(MAKE) unit
	$(MAKE) unit-san
	$(MAKE) unit-tsan
	$(MAKE) cli
	$(MAKE) cli-tsan

deps:
	@sh scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh

FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
build/fuzz/%: tests/fuzz/%.c $(CORE_SRC)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -Isrc -D_FILE_OFFSET_BITS=64 $(FUSE_CFLAGS) -DCS_VERSION='"$(FULL_VERSION)"' -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(CORE_SRC) $(LIBS)

fuzz: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
		name=$$(basename $$t); mkdir -p build/fuzz/corpus-$$name; \
		echo "fuzzing $$name for $(FUZZ_TIME)s"; \
		$$t -max_total_time=$(FUZZ_TIME) -max_len=65536 build/fuzz/corpus-$$name tests/fuzz/seeds/$$name || exit 1; \
	done

# The command reference, man page and Markdown, generated from the commands'
# option tables and help texts (t0003-docs checks they are up to date).
docs: coldstart
	./coldstart help --all --format=man > docs/coldstart.1+
	./coldstart help --all --format=markdown > docs/commands.md+
	mv docs/coldstart.1+ docs/coldstart.1
	mv docs/commands.md+ docs/commands.md

# make install: the binary, the man page, bash and zsh completion (generated
# from the option tables), and what --server llama.cpp needs where the
# installed binary looks: $(PREFIX)/share/coldstart/servers (llama_serve.mjs
# and, when make deps installed it, node-llama-cpp). uninstall removes it all.
BINDIR   := $(PREFIX)/bin
MAN1DIR  := $(PREFIX)/share/man/man1
BASHCOMP := $(PREFIX)/share/bash-completion/completions
ZSHCOMP  := $(PREFIX)/share/zsh/site-functions
CSSHARE  := $(PREFIX)/share/coldstart

$(O)/completion/coldstart: coldstart
	@mkdir -p $(dir $@)
	./coldstart help --all --format=bash > $@+
	mv $@+ $@

$(O)/completion/_coldstart: coldstart
	@mkdir -p $(dir $@)
	./coldstart help --all --format=zsh > $@+
	mv $@+ $@

completion: $(O)/completion/coldstart $(O)/completion/_coldstart

install: coldstart completion
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(MAN1DIR)' '$(DESTDIR)$(BASHCOMP)' '$(DESTDIR)$(ZSHCOMP)'
	install -m 755 coldstart '$(DESTDIR)$(BINDIR)/coldstart'
	install -m 644 docs/coldstart.1 '$(DESTDIR)$(MAN1DIR)/coldstart.1'
	install -m 644 $(O)/completion/coldstart '$(DESTDIR)$(BASHCOMP)/coldstart'
	install -m 644 $(O)/completion/_coldstart '$(DESTDIR)$(ZSHCOMP)/_coldstart'
	sh scripts/install-servers.sh bench/servers '$(DESTDIR)$(CSSHARE)/servers'

uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/coldstart' '$(DESTDIR)$(MAN1DIR)/coldstart.1' \
		'$(DESTDIR)$(BASHCOMP)/coldstart' '$(DESTDIR)$(ZSHCOMP)/_coldstart'
	rm -rf '$(DESTDIR)$(CSSHARE)'

clean:
	rm -rf build coldstart

-include $(shell find build -name '*.d' 2>/dev/null)
