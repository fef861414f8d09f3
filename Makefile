# One gate, locally and in CI: `make check` (format, lint, types, import contracts, tests).
# Every target installs what it needs into .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# A command each, or command:package where Debian's package is named otherwise.
TOOLS := rclone s3cmd restic chromium nginx skopeo podman buildah docker-registry \
	busybox:busybox-static htpasswd:apache2-utils dockerd:docker.io pgbackrest mkfs.ext4:e2fsprogs \
	systemd-analyze:systemd haproxy patroni \
	qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils dropbearkey:dropbear-bin ssh-keygen:openssh-client \
	debootstrap xorriso

.PHONY: run check test test-postgresql test-cluster unit lint types imports tools bytecode bench \
	compat-doc clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## run: start Nexq on its embedded defaults (data in ./nexq-data, S3 on :9000, API on :8080)
run: $(STAMP)
	$(BIN)/nexq serve

## check: the whole gate that CI runs
check: lint types imports test test-postgresql test-cluster

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

types: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# Two workers, a file at a time each (a file's tests share its server), handed out in the
# order tests/conftest.py puts the files in (fewest tests first: the long end-to-end stories
# start early and the unit suites fill the end), not in xdist's (most tests first).
# Not three: a whole run at three was 2 min faster (11 % idle CPU with two, 3 % with three),
# but in one gate of three the highly available databases' fail-overs, run beside a Debian
# guest and the authorization matrix, missed their 90 s deadlines.
XDIST := -n 2 --dist loadfile --no-loadscope-reorder

## bytecode: src compiled once, before the suites start `nexq serve` hundreds of times (and
##   each test process its forked command line, tests/forked_cli.py): where
##   PYTHONDONTWRITEBYTECODE is set (as on CI's machine) Python caches nothing it compiles,
##   and every start compiled its ~380 modules again (0.3 s)
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src

## test: the test suite (installs the command-line S3 tools the compatibility tests drive)
test: $(STAMP) tools bytecode
	$(BIN)/python -m pytest $(XDIST) -q --durations=25

## test-postgresql: the REST suites, the registry's protocol suites that store things, and
##   the command line's end-to-end story, again, each live server keeping its metadata in a
##   PostgreSQL database of its own (Debian's postgresql, started by the tests). The rest of
##   the command-line suites run once, in `test`: dcp speaks only REST, and what the stores do
##   on PostgreSQL is the contract suites' (tests/contract, both engines) and the REST
##   suites' here. For Databases, its API suite: what its dcp suites add is PostgreSQL
##   clusters and pgBackRest, the same whatever holds the metadata.
REGISTRY_STATE_SUITES := $(addprefix tests/registry/test_protocol_,$(addsuffix .py,	push manifests management discovery))
test-postgresql: $(STAMP) tools bytecode
	NEXQ_TEST_DATABASE=postgresql $(BIN)/python -m pytest $(XDIST) -q --durations=10 \
		tests/api tests/cli/test_story.py $(REGISTRY_STATE_SUITES) tests/databases/test_databases.py

## test-cluster: the S3-client suites whose outcome depends on where state lives (objects and
##   their bytes, versions, locks, keys and their revocation, counters and quotas, KMS keys, a
##   killed node; boto3, aws-cli, rclone, s3cmd, restic) again, against three nodes on
##   PostgreSQL and a single-node Ceph behind nginx (docs/scale-out.md). Suites of request and
##   XML semantics alone (ACL, CORS, POST forms, tagging...) run once, in `test`: a node answers
##   them from the same code whatever its stores, and running them thrice cost the gate 4 min.
##   The registry's push and manifest suites too: uploads resumed on whichever node, layers
##   in RADOS.
CLUSTER_SUITES := $(addprefix tests/compat/test_,$(addsuffix .py,\
	objects buckets listing part_reads multipart multipart_retries bulk_delete versioning \
	object_lock kms access_keys auth quotas metering crash awscli tools)) \
	tests/registry/test_protocol_push.py tests/registry/test_protocol_manifests.py
test-cluster: $(STAMP) tools bytecode
	NEXQ_TEST_CLUSTER=1 $(BIN)/python -m pytest $(XDIST) -q --durations=10 $(CLUSTER_SUITES)

## unit: the unit and contract tests: use cases on in-memory stores, the stores' contracts
##   (memory, SQLite, PostgreSQL; blobs on files and RADOS), the kernel; no live server, no browser,
##   no S3 tools (PostgreSQL and a single-node Ceph are started). About 40 s on this 2-core
##   machine. Selected by path: tests/conftest.py refuses a server in these folders.
unit: $(STAMP) tools
	$(BIN)/python -m pytest tests/unit tests/contract -n 2 -q

## tools: rclone, s3cmd, restic, chromium (for the console tests), the OCI clients and registry
##   (skopeo, podman, buildah, docker.io, docker-registry, busybox-static, apache2-utils),
##   pgBackRest (the databases' backups), Patroni with its Raft (python3-pysyncobj) and
##   HAProxy (highly available databases), QEMU, Debian's cloud kernel and dropbear (Compute's
##   tiny image), debootstrap and xorriso (its Debian image and the NoCloud seed disks),
##   PostgreSQL and Ceph (with `import rados` in the venv) from Debian (needs root or sudo)
tools: $(STAMP)
	@missing=""; for t in $(TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || missing="$$missing linux-image-cloud-amd64"; \
	/usr/bin/python3 -c "import pysyncobj" 2>/dev/null || missing="$$missing python3-pysyncobj"; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi
	scripts/install-ceph $(VENV)

## bench: Nexq side by side with s3rver, moto and nginx, three rounds (about half an hour)
bench: $(STAMP)
	$(BIN)/python bench/run.py

## compat-doc: regenerate docs/s3-compatibility.md from the routing table
compat-doc: $(STAMP)
	$(BIN)/python -m nexq.storage.s3.compat > docs/s3-compatibility.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: soak fuzz

## soak: the long soak (10 min, 64 clients, objects up to 64 MiB); figures in bench/soak-results.json
soak: $(STAMP)
	NEXQ_RELIABILITY=long NEXQ_SOAK_REPORT=bench/soak-results.json $(BIN)/python -m pytest tests/reliability/test_soak.py -q -s

## fuzz: the long forms of the fault and bad-input suites (100,000 fuzzed requests, 20 kill -9 rounds)
##   and 20,000 fuzzed console form requests (figures: bench/console-fuzz-results.json)
fuzz: $(STAMP)
	NEXQ_RELIABILITY=long NEXQ_FUZZ_REPORT=bench/fuzz-results.json NEXQ_CRASH_REPORT=bench/crash-results.json \
		$(BIN)/python -m pytest tests/reliability -q -s --deselect tests/reliability/test_soak.py::test_soak
