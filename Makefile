.PHONY: test run build fuzz

# Run the server with embedded defaults.
run:
	go run ./cmd/minirtc serve

# Install what the tests need (when missing) and run every test.
test:
	./scripts/test.sh

build:
	CGO_ENABLED=0 go build -o bin/minirtc ./cmd/minirtc

# Fuzz the token parser for a minute.
fuzz:
	go test -run XXX -fuzz FuzzParse -fuzztime 60s ./internal/token
