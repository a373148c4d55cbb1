# gftp: the two commands of the quick start are `make demo` and `make test`.
GO            ?= go
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOBIN         ?= $(shell $(GO) env GOPATH)/bin
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
TEST_TIMEOUT  ?= 35m

# A count, not a duration: a duration's deadline races the fuzz coordinator's
# shutdown in Go 1.26 (golang/go#75804) and fails a target with a bare
# "context deadline exceeded" and no crasher.
FUZZTIME      ?= 40000x
# package:FuzzTarget for every parser that reads input from outside.
FUZZ_TARGETS  = ./deploy:FuzzParseMarker ./deploy:FuzzIgnore ./deploy:FuzzInclude ./deploy/manifest:FuzzParse \
                ./remote:FuzzParseURL ./remote:FuzzCheckName ./dumbhttp:FuzzParseInfoRefs ./dumbhttp:FuzzParsePacks \
                ./diag:FuzzFeatures ./internal/ftpconn:FuzzPassiveAddress ./remote/ftp:FuzzParseMLSD \
                ./remote/ftp:FuzzParseDigestReply ./remote/ftp:FuzzHashWayFrom

.PHONY: all build demo test test-short lint fuzz bench man soak release image clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/gftp ./cmd/gftp
	$(GO) build -o bin/gftp-demo ./cmd/gftp-demo

# The main job end to end against an embedded FTPES server.
demo: build
	./bin/gftp-demo -gftp bin/gftp

# Unit tests, CLI scripts, and the tests against real servers. Without the
# servers installed, real-server tests skip and say how to run them; with
# GFTP_REAL_SERVERS=1 (as .ci/run sets) they fail instead.
# Packages run one at a time (-p 1): the real-server tests start servers,
# proxies and git processes, and on a 2-core machine packages running side
# by side starve each other's timeouts.
test:
	$(GO) test -p 1 -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(GOBIN)/staticcheck -version 2>/dev/null | grep -q '(0.8.2)' || $(GO) install $(STATICCHECK)
	$(GOBIN)/staticcheck ./...

# Each fuzz target for FUZZTIME, starting from its committed seed corpus
# (testdata/fuzz/<Target>/ in each package).
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# The comparison with its peers, at loopback and across a simulated 50 ms
# WAN (network namespaces, as root): FTPES on vsftpd at TLS 1.2 and 1.3
# against lftp and git-ftp, SFTP on OpenSSH against rclone and lftp, S3 on
# versitygw against rclone and aws s3 sync; writes BENCHMARKS.md. About 45
# minutes; never part of `make test`, which runs only its smoke version.
# BENCH_RUNS runs per cell; GFTP_BENCH_TARGETS=ftpes12,ftpes13,sftp,s3 and
# GFTP_BENCH_NET=loopback|wan narrow it (BENCHMARKS.md then holds only those);
# GFTP_BENCH_STORAGE=disk keeps the servers' files off the tmpfs.
BENCH_RUNS    ?= 3
bench:
	GFTP_BENCH=1 GFTP_BENCH_RUNS=$(BENCH_RUNS) GFTP_BENCH_OUT=$(CURDIR)/BENCHMARKS.md \
		$(GO) test -count=1 -timeout 120m -run '^TestBenchmark$$' -v ./integration/bench/

# The man page, made from the command definitions (gftp man); a test fails
# when the checked-in one differs.
man:
	$(GO) run ./cmd/gftp man > docs/gftp.1

# The kill-anywhere test at full length: 50 kills per target (vsftpd FTPES,
# proftpd, OpenSSH, versitygw), each followed by the same command again.
# A failure prints GFTP_CRASH_SEED=N to replay it. About 20 minutes.
CRASH_ROUNDS  ?= 50
soak:
	GFTP_REAL_SERVERS=1 GFTP_CRASH_ROUNDS=$(CRASH_ROUNDS) \
		$(GO) test -count=1 -timeout 120m -run '^TestCrash' -v ./integration/

# Static binaries for every platform a CI runner has, named
# gftp-<GOOS>-<GOARCH>[.exe] (the names .github/action/install.sh asks
# the release for), and their SHA256SUMS.
RELEASE_TARGETS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
RELEASE_FLAGS    = -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$(VERSION)"
release:
	rm -rf dist && mkdir -p dist
	@set -e; for t in $(RELEASE_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; \
		case $$os in windows) ext=.exe;; esac; \
		echo "build dist/gftp-$$os-$$arch$$ext"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(RELEASE_FLAGS) -o dist/gftp-$$os-$$arch$$ext ./cmd/gftp; \
	done
	cd dist && sha256sum gftp-* > SHA256SUMS && cat SHA256SUMS

# The container image, built without a container daemon (README, "The
# container image"): dist/image (an OCI image layout) and dist/gftp-image.tar
# (for docker load). git and sh come from this machine (Debian 12), so the
# image is for this machine's architecture.
IMAGE_ARCH    ?= $(shell $(GO) env GOARCH)
image:
	mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build $(RELEASE_FLAGS) -o dist/gftp-linux-$(IMAGE_ARCH) ./cmd/gftp
	$(GO) run ./internal/cmd/mkimage -gftp dist/gftp-linux-$(IMAGE_ARCH) -arch $(IMAGE_ARCH) \
		-version $(VERSION) -oci dist/image -docker dist/gftp-image.tar

clean:
	rm -rf bin dist
