# Targets for people and CI. `make` alone runs the tests.
GO       ?= go
PKGS     ?= ./...
BENCH    ?= .
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

.PHONY: test test-race lint bench kafka-up kafka-down test-kafka generate

test:
	$(GO) test $(PKGS)

test-race:
	$(GO) test -race $(PKGS)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: run gofmt -w on the files above'; exit 1; }
	$(GO) vet $(PKGS)
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@2026.2.2
	$(STATICCHECK) $(PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKGS)

generate:
	$(GO) generate $(PKGS)
