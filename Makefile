# Targets for people and CI. `make` alone runs the tests.
GO       ?= go
PKGS     ?= ./...
BENCH    ?= .
KAFKA_PKGS ?= ./pkg/kafka/... ./pkg/inbound/... ./pkg/outbound/... ./pkg/router/... ./cmd/connector/...
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

.PHONY: test test-race lint bench test-kafka generate

test:
	$(GO) test $(PKGS)

test-race:
	$(GO) test -race $(PKGS)

lint:
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo 'go.mod/go.sum: run go mod tidy'; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: run gofmt -w on the files above'; exit 1; }
	$(GO) vet $(PKGS)
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) $(PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKGS)

generate:
	$(GO) generate $(PKGS)

# The real Apache Kafka tier: the same tests, against the brokers in KAFKA_BROKERS.
# Start them first: eval "$$(scripts/kafka.sh start)" (or just scripts/kafka.sh start:
# without KAFKA_BROKERS this target asks scripts/kafka.sh status for them).
test-kafka:
	@brokers="$${KAFKA_BROKERS:-$$(scripts/kafka.sh status 2>/dev/null | sed -n 's/^KAFKA_BROKERS=//p')}"; \
	if [ -z "$$brokers" ]; then echo 'test-kafka: no Kafka: run scripts/kafka.sh start first, or set KAFKA_BROKERS' >&2; exit 1; fi; \
	echo "KAFKA_BROKERS=$$brokers $(GO) test -race -count=1 -p 1 -timeout 25m $(KAFKA_PKGS)"; \
	KAFKA_BROKERS="$$brokers" $(GO) test -race -count=1 -p 1 -timeout 25m $(KAFKA_PKGS)
