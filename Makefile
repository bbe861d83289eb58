# SPDX-License-Identifier: GPL-2.0
# Build: BPF C -> build/*.bpf.o (clang -target bpf) -> build/*.skel.h (bpftool) -> userspace
# (gcc). Every product lands in build/. V=1 shows the commands.

BUILD    ?= build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Werror -Wno-unused-parameter -I$(BUILD) \
	    $(addprefix -I,src/include src/lib src/agent src/post src/store src/api src/export)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Werror -Isrc/include -I$(ARCH_INC)
LDLIBS   := -lpcap -lbpf -lelf -lz -lcurl -lmicrohttpd -lpthread
POST_LDLIBS := -lmicrohttpd -lsqlite3 -lcurl -lpthread

# One version for --version, the man pages, the agent's batches (agent_version), User-Agent
# and metrics.
VERSION  ?= 0.1.0
CFLAGS   += -DSV_VERSION='"$(VERSION)"'

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_OBJS   := $(patsubst src/%.c,$(BUILD)/%.o,$(wildcard src/lib/*.c))
AGENT_OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(wildcard src/agent/*.c src/export/*.c)) $(LIB_OBJS)
POST_OBJS  := $(patsubst src/%.c,$(BUILD)/%.o,$(wildcard src/post/*.c src/store/*.c \
						  src/store/sqlite/*.c src/api/*.c src/export/*.c)) \
	      $(LIB_OBJS) $(BUILD)/post/web_assets.o
WEB_SRCS   := $(shell find web/src -type f 2>/dev/null)
BPF_OBJS   := $(BUILD)/flow.bpf.o $(BUILD)/tap.bpf.o
SKELS      := $(BUILD)/flow.skel.h $(BUILD)/tap.skel.h
TEST_TOOLS := $(BUILD)/fuzz/fuzz_ingest $(BUILD)/fuzz/fuzz_ipfix $(BUILD)/tests/parser_test \
	      $(BUILD)/tests/udpsend $(BUILD)/tests/udpmsg $(BUILD)/tests/tcpxfer $(BUILD)/tests/ipfix_test \
	      $(BUILD)/tests/store_test $(BUILD)/tests/sendq_test $(BUILD)/tests/record_test \
	      $(BUILD)/tests/tcxquery $(BUILD)/tests/tcxattach $(BUILD)/tests/notifywait $(BUILD)/tests/fixture.bpf.o \
	      $(BUILD)/tests/dropper.bpf.o $(BUILD)/tests/cbpf_test $(BUILD)/bench/udpsink
BENCH_TOOLS := $(BUILD)/bench/udpsink $(BUILD)/bench/bpfcost $(BUILD)/bench/udprate \
	       $(BUILD)/bench/bpfstats

.DELETE_ON_ERROR:
# Keep the BPF objects: make would delete them as intermediates of the skeletons.
.SECONDARY: $(BPF_OBJS)
.PHONY: all deps check test bench demo clean format lint fuzz fuzz-build

all: $(BUILD)/sitevisor-agent $(BUILD)/sitevisor-post

deps:
	$(Q)bash scripts/deps.sh

$(BUILD)/%.bpf.o: src/bpf/%.bpf.c src/bpf/parse.bpf.h src/include/sitevisor.h | $(BUILD)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,_bpf,$(notdir $<)) > $@

HEADERS := $(wildcard src/*/*.h src/*/*/*.h)

$(BUILD)/%.o: src/%.c $(SKELS) $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/sitevisor-agent: $(AGENT_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/sitevisor-post: $(POST_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(POST_LDLIBS)

# The dashboard: npm ci (from the lock file) and our files, embedded into the post.
$(BUILD)/web/.stamp: $(WEB_SRCS) web/build.sh web/package-lock.json
	@echo "  WEB     $(BUILD)/web"
	$(Q)bash web/build.sh $(abspath $(BUILD))/web
	@touch $@

$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

# Its directory may not exist yet under make -j; a failed embed leaves no half file.
$(BUILD)/post/web_assets.c: $(BUILD)/web/.stamp $(BUILD)/tools/embed
	@mkdir -p $(dir $@)
	@echo "  EMBED   $@"
	$(Q)$(BUILD)/tools/embed $(BUILD)/web $$(find $(BUILD)/web -type f ! -name .stamp | sort) > $@.tmp
	$(Q)mv $@.tmp $@

$(BUILD)/post/web_assets.o: $(BUILD)/post/web_assets.c
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Wno-overlength-strings -c $< -o $@

$(BUILD)/tests/parser_test: tests/parser_test.c $(SKELS) src/include/sitevisor.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/tests/store_test: tests/store_test.c $(filter $(BUILD)/store/%,$(POST_OBJS)) \
			   $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Isrc/store/sqlite $^ -o $@ $(POST_LDLIBS)

$(BUILD)/tests/record_test: tests/record_test.c $(filter $(BUILD)/store/%,$(POST_OBJS)) \
			    $(BUILD)/export/lineproto.o $(BUILD)/export/ipfix_msg.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(POST_LDLIBS)

$(BUILD)/tests/sendq_test: tests/sendq_test.c $(BUILD)/lib/sendq.o $(BUILD)/lib/sender.o \
			   $(BUILD)/lib/thread.o $(BUILD)/lib/log.o
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ -lcurl -lpthread

$(BUILD)/tests/ipfix_test: tests/ipfix_test.c $(BUILD)/export/ipfix.o $(BUILD)/export/ipfix_msg.o \
			   $(BUILD)/lib/log.o $(BUILD)/lib/flowrec.o $(BUILD)/lib/sb.o
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(BUILD)/tests/cbpf_test: tests/cbpf_test.c $(BUILD)/agent/cbpf.o $(BUILD)/agent/pcapfilt.o \
			  src/include/sitevisor.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(filter %.c %.o,$^) -o $@ $(LDLIBS)

$(BUILD)/tests/%.bpf.o: tests/bpf/%.bpf.c
	@mkdir -p $(dir $@)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/bench/%: bench/tools/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(BUILD)/bench/bpfstats: bench/tools/bpfstats.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lbpf

$(BUILD):
	@mkdir -p $@

# The objects that use SV_VERSION are rebuilt when VERSION changes.
$(BUILD)/version: FORCE | $(BUILD)
	$(Q)echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
$(BUILD)/lib/params.o $(BUILD)/agent/main.o $(BUILD)/post/main.o: $(BUILD)/version
FORCE:

# The man pages: the prose in docs/man/ with each program's option table (--help-roff).
MAN_PAGES := $(BUILD)/man/sitevisor-agent.8 $(BUILD)/man/sitevisor-post.8
.PHONY: man
man: $(MAN_PAGES)

$(BUILD)/man/%.8: docs/man/%.8.in $(BUILD)/% scripts/man.sh
	@mkdir -p $(dir $@)
	@echo "  MAN     $@"
	$(Q)bash scripts/man.sh $< $(BUILD)/$* $(VERSION) > $@

# Builds everything and runs every test; the last line reads "N passed, N failed, N skipped".
check: deps all man $(TEST_TOOLS)
	$(Q)bash tests/run.sh

test: check

bench: deps all $(BENCH_TOOLS) $(BUILD)/bench/ingest_load $(TEST_TOOLS)
	$(Q)bash bench/run.sh
	$(Q)bash bench/post.sh
	$(Q)bash bench/capture.sh
	$(Q)bash bench/tap.sh

$(BUILD)/bench/ingest_load: bench/tools/ingest_load.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lcurl

demo: deps all
	$(Q)bash scripts/demo.sh

# Fuzzing (clang's libFuzzer with ASan and UBSan): FUZZ_SECONDS per target, default 60.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	       -Isrc/lib -Isrc/post -Isrc/store -Isrc/api
$(BUILD)/fuzz/fuzz_ingest: tests/fuzz/fuzz_ingest.c src/lib/ingest.c src/lib/flowrec.c \
			   src/lib/jsonr.c src/lib/sb.c src/lib/timeparse.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

$(BUILD)/fuzz/fuzz_ipfix: tests/fuzz/fuzz_ipfix.c src/post/ipfix_parse.c src/lib/ingest.c \
			  src/lib/flowrec.c src/lib/jsonr.c src/lib/sb.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

fuzz-build: $(BUILD)/fuzz/fuzz_ingest $(BUILD)/fuzz/fuzz_ipfix

fuzz: deps fuzz-build
	$(Q)bash tests/fuzz/run.sh $(FUZZ_SECONDS)

format:
	clang-format -i src/*/*.c src/*/*.h src/*/*/*.c src/*/*/*.h tests/*.c tests/tools/*.c

lint: all
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem --include=tools/cppcheck.h \
		$(addprefix -I,src/include src/lib src/agent src/post src/store src/api src/export) \
		src/agent src/post src/store src/api src/export src/lib tools

clean:
	rm -rf $(BUILD)
