# Build the Fluent Bit input plugin and run its tests.

GO ?= go
BUILD := build
SO := $(BUILD)/in_okta.so

.PHONY: all so host test demo bench clean

all: so

so: $(SO)

$(SO): $(shell find plugin internal -name '*.go' -o -name '*.h') go.mod go.sum
	mkdir -p $(BUILD)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -trimpath -o $@ ./plugin
	rm -f $(BUILD)/in_okta.h

host:
	$(MAKE) -C tests/host

test: so host
	$(GO) vet ./...
	$(GO) test -count=1 ./...

clean:
	rm -rf $(BUILD)

demo:
	@tests/demo/demo.sh

# Benchmarks, not part of test: about 20 minutes, or about 3 with BENCH_QUICK=1. Writes
# docs/benchmarks.md and the charts in docs/benchmarks/.
bench:
	tests/bench/run.sh
