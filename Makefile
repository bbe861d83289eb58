# SPDX-License-Identifier: GPL-2.0
# Build: BPF C -> build/*.bpf.o (clang -target bpf) -> build/*.skel.h (bpftool) -> userspace
# (gcc). Every product lands in build/. V=1 shows the commands.

BUILD    ?= build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Werror -Wno-unused-parameter
# Hardening (issue 15): stack canaries, checked libc calls, position-independent executables
# with the GOT read-only after start (full RELRO). The programs link with $(CFLAGS), so the
# linker's part rides along; gcc ignores it when it only compiles.
HARDEN   := -fstack-protector-strong -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fPIE -pie \
	    -Wl,-z,relro -Wl,-z,now
CFLAGS   += $(HARDEN)
# Each object's headers, written next to it (x.d) and read back below.
DEPFLAGS := -MMD -MP
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Werror -Isrc/include -I$(ARCH_INC)
LDLIBS   := -lpcap -lbpf -lelf -lz -lcurl -lmicrohttpd -lpthread
POST_LDLIBS := -lmicrohttpd -lsqlite3 -lcurl -lpthread

# One version for --version, the man pages, the agent's batches (agent_version), User-Agent
# and metrics.
VERSION  ?= 0.1.0
CFLAGS   += -DSV_VERSION='"$(VERSION)"'

# Include paths per folder: its own, then the layers below it, low to high: include -> lib ->
# export -> store -> api -> the programs agent and post, which nothing includes. A subfolder
# belongs to its folder's layer and sees its headers: agent/tap (the agent sees its tap.h as
# "tap/tap.h"), store/sqlite. scripts/check-layers.sh checks the sources against this order.
INC_include      := src/include
INC_lib          := src/lib $(INC_include)
INC_export       := src/export $(INC_lib)
INC_store        := src/store $(INC_export)
INC_store/sqlite := src/store/sqlite $(INC_store)
INC_store/clickhouse := src/store/clickhouse $(INC_store)
INC_api          := src/api $(INC_store)
INC_agent        := src/agent $(INC_api) $(BUILD)
INC_agent/tap    := src/agent/tap $(INC_agent)
INC_post         := src/post $(INC_api)
# The -I flags of a folder under src/: $(call inc,store).
inc = $(addprefix -I,$(INC_$(1)))
# For a program made of several sources at once, where -MMD keeps only the last one's headers.
deps_of = $(CC) -MM -MP -MT $@ $(1) $(filter %.c,$^) > $@.d

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_OBJS   := $(patsubst src/%.c,$(BUILD)/%.o,$(wildcard src/lib/*.c))
AGENT_OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(wildcard src/agent/*.c src/agent/tap/*.c \
						  src/export/*.c)) $(LIB_OBJS)
POST_OBJS  := $(patsubst src/%.c,$(BUILD)/%.o,$(wildcard src/post/*.c src/store/*.c \
						  src/store/sqlite/*.c src/store/clickhouse/*.c \
						  src/api/*.c src/export/*.c)) \
	      $(LIB_OBJS) $(BUILD)/post/web_assets.o
WEB_SRCS   := $(shell find web/src -type f 2>/dev/null)
BPF_OBJS   := $(BUILD)/flow.bpf.o $(BUILD)/tap.bpf.o $(BUILD)/drops.bpf.o
SKELS      := $(BUILD)/flow.skel.h $(BUILD)/tap.skel.h $(BUILD)/drops.skel.h
FUZZERS    := $(addprefix $(BUILD)/fuzz/fuzz_,ingest ipfix)
REPLAYS    := $(addprefix $(BUILD)/fuzz/replay_,ingest ipfix)
TEST_TOOLS := $(FUZZERS) $(BUILD)/tests/parser_test \
	      $(BUILD)/tests/udpsend $(BUILD)/tests/udpmsg $(BUILD)/tests/tcpxfer $(BUILD)/tests/ipfix_test \
	      $(BUILD)/tests/store_test $(BUILD)/tests/sendq_test $(BUILD)/tests/record_test \
	      $(BUILD)/tests/join_test $(BUILD)/tests/tcxquery $(BUILD)/tests/tcxattach $(BUILD)/tests/notifywait $(BUILD)/tests/fixture.bpf.o \
	      $(BUILD)/tests/dropper.bpf.o $(BUILD)/tests/cbpf_test $(BUILD)/bench/udpsink \
	      $(BUILD)/bench/ingest_load
BENCH_TOOLS := $(BUILD)/bench/udpsink $(BUILD)/bench/bpfcost $(BUILD)/bench/udprate \
	       $(BUILD)/bench/bpfstats

.DELETE_ON_ERROR:
# Keep the BPF objects: make would delete them as intermediates of the skeletons.
.SECONDARY: $(BPF_OBJS)
.PHONY: all deps check unit check-layers test bench demo clean format lint fuzz fuzz-build

all: $(BUILD)/sitevisor-agent $(BUILD)/sitevisor-post

deps:
	$(Q)bash scripts/deps.sh

$(BUILD)/%.bpf.o: src/bpf/%.bpf.c src/bpf/parse.bpf.h src/bpf/latency.bpf.h \
		   src/include/sitevisor.h | $(BUILD)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,_bpf,$(notdir $<)) > $@

# An object's folder under src/ (agent, agent/tap, post, ...) picks its include paths.
$(BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,$(patsubst $(BUILD)/%/,%,$(dir $@))) -c $< -o $@

# Generated headers: the dependency files name them only once they exist.
$(BUILD)/agent/main.o: $(BUILD)/flow.skel.h
$(BUILD)/agent/tap/tap.o: $(BUILD)/tap.skel.h
$(BUILD)/agent/drops.o: $(BUILD)/drops.skel.h

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d)

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
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,post) -Wno-overlength-strings -c $< -o $@

$(BUILD)/tests/parser_test: tests/parser_test.c $(BUILD)/flow.skel.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -I$(BUILD) $(call inc,include) $< -o $@ $(LDLIBS)

$(BUILD)/tests/store_test: tests/store_test.c $(filter $(BUILD)/store/%,$(POST_OBJS)) \
			   $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,store/sqlite) $(filter %.c %.o,$^) -o $@ \
		$(POST_LDLIBS)

$(BUILD)/tests/record_test: tests/record_test.c $(filter $(BUILD)/store/%,$(POST_OBJS)) \
			    $(BUILD)/export/lineproto.o $(BUILD)/export/ipfix_msg.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,store/sqlite) $(filter %.c %.o,$^) -o $@ \
		$(POST_LDLIBS)

$(BUILD)/tests/join_test: tests/join_test.c $(BUILD)/post/paths.o \
			  $(filter $(BUILD)/store/%,$(POST_OBJS)) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,post) $(filter %.c %.o,$^) -o $@ $(POST_LDLIBS)

$(BUILD)/tests/sendq_test: tests/sendq_test.c $(BUILD)/lib/sendq.o $(BUILD)/lib/sender.o \
			   $(BUILD)/lib/thread.o $(BUILD)/lib/log.o
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,lib) $(filter %.c %.o,$^) -o $@ -lcurl -lpthread

$(BUILD)/tests/ipfix_test: tests/ipfix_test.c $(BUILD)/export/ipfix.o $(BUILD)/export/ipfix_msg.o \
			   $(BUILD)/lib/log.o $(BUILD)/lib/flowrec.o $(BUILD)/lib/sb.o \
			   $(BUILD)/lib/jsonr.o
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,export) $(filter %.c %.o,$^) -o $@

$(BUILD)/tests/cbpf_test: tests/cbpf_test.c $(BUILD)/agent/cbpf.o $(BUILD)/agent/pcapfilt.o
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,agent) $(filter %.c %.o,$^) -o $@ $(LDLIBS)

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
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(call inc,include) $< -o $@

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

# The tests that need neither root nor network nor packages, for the edit-compile-test loop
# (cbpf_test loads programs into the kernel: skipped without root). The same last line as check.
unit: $(BUILD)/tests/store_test $(BUILD)/tests/sendq_test $(BUILD)/tests/record_test \
      $(BUILD)/tests/join_test \
      $(BUILD)/tests/ipfix_test $(BUILD)/tests/cbpf_test $(REPLAYS)
	$(Q)UNIT=1 bash tests/run.sh

# Every #include of src/ from the includer's own folder or a layer below (make unit runs it).
check-layers:
	$(Q)bash scripts/check-layers.sh

test: check

bench: deps all $(BENCH_TOOLS) $(BUILD)/bench/ingest_load $(TEST_TOOLS)
	$(Q)bash bench/run.sh
	$(Q)bash bench/post.sh
	$(Q)bash bench/clickhouse.sh
	$(Q)bash bench/capture.sh
	$(Q)bash bench/drops.sh
	$(Q)bash bench/tap.sh
	$(Q)bash bench/latcost.sh

$(BUILD)/bench/ingest_load: bench/tools/ingest_load.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lcurl

demo: deps all
	$(Q)bash scripts/demo.sh

# Debian packages sitevisor-agent and sitevisor-post in build/deb/ (debian/rules, with dh);
# dh_clean first, so dh's stamps never skip a build of changed sources.
.PHONY: deb
deb: deps
	$(Q)dpkg-checkbuilddeps
	$(Q)dh_clean
	$(Q)rm -rf build/deb
	$(Q)debian/rules binary

# Fuzzing (clang's libFuzzer with ASan and UBSan): FUZZ_SECONDS per target, default 60.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# Each target with the sources it fuzzes; replay_NAME is the same target run once over its
# corpus by a plain driver (gcc, no libFuzzer), for make unit.
FUZZ_ingest := tests/fuzz/fuzz_ingest.c src/lib/ingest.c src/lib/flowrec.c src/lib/jsonr.c \
	       src/lib/sb.c src/lib/timeparse.c
FUZZ_ipfix  := tests/fuzz/fuzz_ipfix.c src/post/ipfix_parse.c src/lib/ingest.c \
	       src/lib/flowrec.c src/lib/jsonr.c src/lib/sb.c
$(BUILD)/fuzz/fuzz_ingest $(BUILD)/fuzz/replay_ingest: $(FUZZ_ingest)
$(BUILD)/fuzz/fuzz_ipfix $(BUILD)/fuzz/replay_ipfix: $(FUZZ_ipfix)

$(FUZZERS): $(BUILD)/fuzz/fuzz_%:
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(call deps_of,$(call inc,post))
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(call inc,post) $(filter %.c,$^) -o $@

$(REPLAYS): $(BUILD)/fuzz/replay_%: tests/fuzz/replay.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(call deps_of,$(call inc,post))
	$(Q)$(CC) $(CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		$(call inc,post) $(filter %.c,$^) -o $@

fuzz-build: $(FUZZERS)

fuzz: deps fuzz-build
	$(Q)bash tests/fuzz/run.sh $(FUZZ_SECONDS)

format:
	clang-format -i src/*/*.c src/*/*.h src/*/*/*.c src/*/*/*.h tests/*.c tests/tools/*.c

lint: all
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem --include=tools/cppcheck.h \
		$(addprefix -I,src/include src/lib src/agent src/agent/tap src/post src/store \
			       src/api src/export) \
		src/agent src/post src/store src/api src/export src/lib tools

clean:
	rm -rf $(BUILD)
