# SPDX-License-Identifier: GPL-2.0
# Build: BPF C -> build/*.bpf.o (clang -target bpf) -> build/*.skel.h (bpftool) -> userspace
# (gcc). Every product lands in build/. V=1 shows the commands.

BUILD    ?= build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Werror -Wno-unused-parameter -Isrc/include -I$(BUILD) -Isrc/agent
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Werror -Isrc/include -I$(ARCH_INC)
LDLIBS   := -lbpf -lelf -lz

ifeq ($(V),1)
Q :=
else
Q := @
endif

AGENT_SRCS := $(wildcard src/agent/*.c)
AGENT_OBJS := $(patsubst src/agent/%.c,$(BUILD)/agent/%.o,$(AGENT_SRCS))
BPF_OBJS   := $(BUILD)/flow.bpf.o
SKELS      := $(BUILD)/flow.skel.h
TEST_TOOLS := $(BUILD)/tests/parser_test $(BUILD)/tests/udpsend $(BUILD)/tests/tcpxfer \
	      $(BUILD)/tests/tcxquery 	      $(BUILD)/tests/fixture.bpf.o
BENCH_TOOLS :=

.DELETE_ON_ERROR:
.PHONY: all deps check test bench demo clean format lint

all: $(BUILD)/sitevisor-agent

deps:
	$(Q)bash scripts/deps.sh

$(BUILD)/%.bpf.o: src/bpf/%.bpf.c src/bpf/parse.bpf.h src/include/sitevisor.h | $(BUILD)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,_bpf,$(notdir $<)) > $@

$(BUILD)/agent/%.o: src/agent/%.c $(SKELS) $(wildcard src/agent/*.h) src/include/sitevisor.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/sitevisor-agent: $(AGENT_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/parser_test: tests/parser_test.c $(SKELS) src/include/sitevisor.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

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

$(BUILD):
	@mkdir -p $@

# Builds everything and runs every test; the last line reads "N passed, N failed, N skipped".
check: deps all $(TEST_TOOLS)
	$(Q)bash tests/run.sh

test: check

bench: deps all $(BENCH_TOOLS) $(TEST_TOOLS)
	$(Q)bash bench/run.sh

demo: deps all
	$(Q)bash scripts/demo.sh

format:
	clang-format -i src/*/*.c src/*/*.h tests/*.c tests/tools/*.c

lint: all
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem -Isrc/include -Isrc/agent src/agent

clean:
	rm -rf $(BUILD)
