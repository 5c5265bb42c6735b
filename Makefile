# Two commands set Mandate up on a fresh Debian/Ubuntu machine with Go installed:
#   make run    start `mandate serve` on the example config against local PostgreSQL
#   make test   run every test (race detector on) plus a short fuzzing pass
# Both first make sure PostgreSQL is installed and running (scripts/ensure-postgres.sh).

export GOTOOLCHAIN := local
GO ?= go
BIN := bin/mandate
CONFIG ?= examples/quickstart/mandate.yaml
FUZZTIME ?= 10s

.PHONY: run test build postgres vet fuzz bench-ingest bench clean

build:
	$(GO) build -o $(BIN) ./cmd/mandate

postgres:
	@./scripts/ensure-postgres.sh

run: postgres build
	MANDATE_CONFIG=$${MANDATE_CONFIG:-$(CONFIG)} ./$(BIN) serve

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

test: postgres vet
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) --no-print-directory fuzz

# Short fuzzing passes over the parsers that face the outside world.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeAction$$' -fuzztime $(FUZZTIME) ./ingest/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./ownership/codeowners/
	$(GO) test -run '^$$' -fuzz '^FuzzParseFile$$' -fuzztime $(FUZZTIME) ./ownership/catalog/

# The ingest benchmark of the README's Performance section.
bench-ingest: postgres build
	./$(BIN) bench ingest --rate 6000 --duration 30s --concurrency 64
	./$(BIN) bench ingest --rate 1000 --duration 30s --concurrency 16

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
