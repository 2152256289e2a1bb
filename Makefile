# sorterd — build, fetch what it needs, test.
#
#   make run    install deps, build, fetch the default model, classify a photo
#   make test   install deps, fetch models, go test ./...
#
# Nothing from ../shared is committed: models are copied from there when it is
# present and downloaded from their official location otherwise, and every file
# is checked against its sha256.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
SHARED    ?= $(abspath $(CURDIR)/../shared)
DEPS      := $(CURDIR)/.deps
MODELS    := $(CURDIR)/models
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PREFIX    ?= /usr/local
DESTDIR   ?=

# Root installs packages directly; everyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] && echo "" || echo sudo)

# --- TensorFlow Lite C library -------------------------------------------
# From the npm package tfjs-tflite-node@0.0.2 (TFLite 2.9 C API for linux
# amd64/arm64). Set TFLITE_DIR to your own build (with include/ and lib/) to
# skip the download.
TFLITE_NPM     := tfjs-tflite-node@0.0.2
TFLITE_SHA256  := 3be1632328a76a2475e5b6833253763c802c859433becb4d879ee1860e3b5284
TFLITE_DIR     ?= $(DEPS)/tflite
UNAME_M        := $(shell uname -m)
TFLITE_ARCH    := $(if $(filter x86_64,$(UNAME_M)),linux_amd64,$(if $(filter aarch64 arm64,$(UNAME_M)),linux_arm64,unsupported))
TFLITE_STAMP   := $(TFLITE_DIR)/lib/libtensorflowlite_c.so

# --- OpenCV: only the modules sorterd calls ---------------------------------
# gocv's package wraps eleven OpenCV modules (dnn, highgui, objdetect, ...);
# sorterd calls core, imgproc, imgcodecs and videoio. With gocv's customenv
# tag the flags are ours: every function in its own section, and the linker
# drops the wrappers nothing calls (--gc-sections), then every library
# nothing needs (--as-needed). Highgui (Qt5, OpenGL), dnn and five more go
# out of the binary and of the package's Depends (docs/packaging.md, with
# the figures). A plain `go build` without the tag still works (gocv's
# pkg-config flags: the eleven modules).
GOTAGS          := customenv
OPENCV_MODULES  := videoio imgcodecs imgproc core
SECTIONS        := -ffunction-sections -fdata-sections
OPENCV_LDFLAGS  := -Wl,--gc-sections -Wl,--as-needed $(addprefix -lopencv_,$(OPENCV_MODULES))
export CGO_CPPFLAGS = $(shell pkg-config --cflags-only-I opencv4 2>/dev/null)
export CGO_CXXFLAGS := -O2 -g --std=c++11 $(SECTIONS)
export CGO_CFLAGS  := -O2 -g $(SECTIONS) -I$(TFLITE_DIR)/include -I$(CURDIR)/infer/include
export CGO_LDFLAGS := -L$(TFLITE_DIR)/lib -Wl,-rpath,$(TFLITE_DIR)/lib $(OPENCV_LDFLAGS)
export SORTERD_SHARED := $(SHARED)

# --- Models ----------------------------------------------------------------
# name  sha256  official URL (google-coral/test_data, pinned commit)
CORAL := https://raw.githubusercontent.com/google-coral/test_data
MODEL_PTQ     := tf2_mobilenet_v2_1.0_224_ptq.tflite
MODEL_PTQ_SHA := 5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c
MODEL_PTQ_URL := $(CORAL)/104342d2d3480b3e66203073dac24f4e2dbb4c41/$(MODEL_PTQ)
MODEL_U8      := mobilenet_v2_1.0_224_quant.tflite
MODEL_U8_SHA  := 7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776
MODEL_U8_URL  := $(CORAL)/104342d2d3480b3e66203073dac24f4e2dbb4c41/$(MODEL_U8)
MODEL_TPU     := mobilenet_v2_1.0_224_quant_edgetpu.tflite
MODEL_TPU_SHA := 93f21e950980fe452c7e9e108744d1a2e423a2cfd166235078400f88c758ea67
MODEL_TPU_URL := $(CORAL)/086adea69a1db79d3693fcdb0349a89471536107/$(MODEL_TPU)
LABELS        := imagenet_labels.txt
LABELS_SHA    := b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1
LABELS_URL    := $(CORAL)/104342d2d3480b3e66203073dac24f4e2dbb4c41/$(LABELS)

BASE_MODEL    := $(MODELS)/$(MODEL_U8)
DEFAULT_MODEL := $(MODELS)/garbage.tflite
HEAD          := heads/garbage.head.json
DATA          ?= $(SHARED)/data/trashnet
# The shipped head: train.DefaultRecipe (sorterd train's defaults), fine-
# tuned and trained on every photo outside validation (the recipe was
# measured with a test split: see docs/training.md and docs/station.md).
TRAIN_FLAGS   ?= --finetune --test-fraction 0
IMG ?= $(firstword $(wildcard $(SHARED)/data/trashnet/cardboard/cardboard1.jpg) $(CURDIR)/testdata/images/red.png)

# fetch NAME SHA URL: copy from ../shared/models when present, else download;
# either way the sha256 must match before the file takes its final name.
define fetch
	@mkdir -p $(MODELS)
	@if [ -f "$(MODELS)/$(1)" ] && echo "$(2)  $(MODELS)/$(1)" | sha256sum -c --status; then :; else \
	  if [ -f "$(SHARED)/models/$(1)" ]; then echo "model: copy $(1) from $(SHARED)/models"; cp "$(SHARED)/models/$(1)" "$(MODELS)/$(1).part"; \
	  else echo "model: download $(3)"; curl -fsSL --retry 3 -o "$(MODELS)/$(1).part" "$(3)"; fi; \
	  echo "$(2)  $(MODELS)/$(1).part" | sha256sum -c --status || { echo "model: sha256 mismatch for $(1)" >&2; rm -f "$(MODELS)/$(1).part"; exit 1; }; \
	  chmod 644 "$(MODELS)/$(1).part"; mv "$(MODELS)/$(1).part" "$(MODELS)/$(1)"; fi
endef

.PHONY: chaos soak deb deb-check deb-qemu-test debs deb-tools repo gstreamer all install install-bin verify-unit build run test deps opencv tflite mosquitto chromium screenshots model base-model models train bench fmt vet race fuzz clean version

build: deps
	$(GO) build -tags $(GOTAGS) -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/sorterd ./cmd/sorterd

run: build model
	bin/sorterd --once --model $(DEFAULT_MODEL) $(IMG)

# Tests need every model (the Edge TPU one only to check it is refused),
# and Chromium for the web page's browser test. LICENSE_CHECK_BINARY
# (bin/sorterd, built by models) lets TestModuleLicenses check
# docs/licenses.md against the modules the binary records (go version -m).
test: deps chromium gstreamer models
	$(GO) vet -tags $(GOTAGS),matprofile ./...
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); [ -z "$$bad" ] || { echo "gofmt: $$bad" >&2; exit 1; }
	LICENSE_CHECK_BINARY=$(CURDIR)/bin/sorterd $(GO) test -tags $(GOTAGS),matprofile -count=1 -timeout 30m -skip '$(CHAOS)' ./...
	$(MAKE) chaos
	@if command -v systemd-analyze >/dev/null; then $(MAKE) -s verify-unit && echo "systemd-analyze verify: ok"; fi

# The fast tier: every package's logic without the broker, Chromium, the
# full daemon, training or long recordings (go test -short: those tests
# skip, testenv.Slow and StartBroker); make test runs them all.
test-short: deps models
	$(GO) test -tags $(GOTAGS),matprofile -short -count=1 ./...

# The fault campaign (docs/reliability.md): every test the document cites
# as evidence (TestChaosCoversTheDoc keeps this list true to it), e.g. disk
# full and read-only state dir (a tmpfs mounted by the tests: run as root),
# broker outages, the real binary under SIGHUP and SIGTERM, upload and
# command floods, reloads with bad files, two daemons, a silent camera URL,
# a model truncated while running, DNS rebinding, values the daemon cannot
# use, start errors (exit 2), broker login and reach failures, test flaps
# in hold mode, the outbox's fsyncs. The daemon's tests watch it through a
# live camera (internal/testenv/livecam). make test runs the other tests
# (-skip) and then this target, so CI runs it, each test once.
CHAOS := ChaosCoversTheDoc|BrokerOutage|BinarySignals|StationEvalDefaultModel|Outbox|Upload|SlowCommands|CommandFlood|HugeCommand|Reload|SilentURL|SilentCamera|CancelledRead|SecondDaemon|ModelFileTruncated|HostAllowList|OpenListenNeedsToken|OpenListenWithoutTokenRefused|HealthzDegraded|ReadOnlyStateDir|ReconnectsCountLosses|ConfigCheck|UnusableValues|InvalidFields|StartErrorsExit2|BrokerLoginOrReach|TestFlapOneAtATime|HoldFlapsOneAtATime|StopKeepsOrCounts|SIGTERMCounts|SIGHUPKeepsEventsInMemory|StopAbandonsStalledItem|StalledItemNotBusy|StoppedBrokerNoRedelivery|ItemAbandonedWhenFramesStop|SlowClassifyIsNoStall|StopWaitsForTheItemsFrames|MQTTPassword|DecodeImage|DefaultClientID|RestartIsNoConflict|StuckTrayRecovers|LargeItemNeverBlinds|CropCorrectsToReference|ReferenceDrifted|LightDriftedSaid|HealthzLightDrifted|HealthzTrayOccupied|Calibrate
chaos: deps gstreamer models
	$(GO) test -tags $(GOTAGS),matprofile -count=1 -timeout 30m -run '$(CHAOS)' ./...

# A 10-minute soak (not in make test or CI): the real binary at 15 fps from
# the live camera, with a broker outage and a camera stall in it; decided =
# published, duplicates within QoS 1's bound, RSS flat after warm-up, p99
# trigger -> flap within 2x p50 outside the faults (docs/reliability.md,
# Soak). SOAK=20m for longer.
SOAK ?= 10m
soak: deps models
	SORTERD_SOAK=$(SOAK) $(GO) test -tags $(GOTAGS),matprofile -count=1 -timeout 2h -v -run '^TestSoak$$' ./cmd/sorterd/

race: deps chromium models
	$(GO) test -tags $(GOTAGS),matprofile -race -count=1 ./...

bench: build model
	bin/sorterd bench --model $(DEFAULT_MODEL) -n 200
	$(GO) test -tags $(GOTAGS) -run '^$$' -bench . -benchtime 50x ./infer/
	$(GO) test -tags $(GOTAGS),matprofile -run '^$$' -bench . -benchtime 50x ./web/

fuzz: deps
	$(GO) test -tags $(GOTAGS) -run '^$$' -fuzz FuzzParseModel -fuzztime 30s ./tfmodel/
	$(GO) test -tags $(GOTAGS) -run '^$$' -fuzz FuzzDecodeImage -fuzztime 30s ./infer/
	$(GO) test -tags $(GOTAGS) -run '^$$' -fuzz FuzzParse -fuzztime 30s ./config/
	$(GO) test -tags $(GOTAGS) -run '^$$' -fuzz FuzzCommand -fuzztime 30s ./publish/
	$(GO) test -tags $(GOTAGS),matprofile -run '^$$' -fuzz FuzzClassifyRequest -fuzztime 30s ./web/

deps: opencv tflite mosquitto

# The browser test drives Debian's headless Chromium (not needed to run sorterd).
chromium:
	@if ! command -v chromium >/dev/null && ! [ -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null; then echo "deps: installing Debian's chromium (for the web page's browser test)"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium; \
	  else echo "deps: chromium is missing; install it for the browser test" >&2; exit 1; fi; fi

# Regenerate the screenshots of the web page (docs/screenshots, shown in docs/api.md).
screenshots: deps chromium model
	SORTERD_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -tags $(GOTAGS),matprofile -count=1 -run TestBrowser ./web/

# The camera tests open a GStreamer pipeline (videotestsrc ! ... ! appsink).
gstreamer:
	@if ! ls /usr/lib/*/gstreamer-1.0/libgstvideotestsrc.so >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null; then echo "deps: installing Debian's gstreamer1.0-plugins-base (videotestsrc, for the camera tests)"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends gstreamer1.0-plugins-base; \
	  else echo "deps: gstreamer1.0-plugins-base is missing; install it for the camera tests" >&2; exit 1; fi; fi

# Tests start their own broker on a free loopback port.
mosquitto:
	@if ! [ -x /usr/sbin/mosquitto ] && ! command -v mosquitto >/dev/null; then \
	  if command -v apt-get >/dev/null; then echo "deps: installing Debian's mosquitto (tests start their own broker)"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends mosquitto; \
	  else echo "deps: mosquitto is missing; install it for the MQTT tests" >&2; exit 1; fi; fi

opencv:
	@if ! pkg-config --exists opencv4; then \
	  if command -v apt-get >/dev/null; then echo "deps: installing Debian's OpenCV (libopencv-dev)"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends libopencv-dev pkg-config; \
	  else echo "deps: OpenCV 4 development files are missing (pkg-config opencv4); install them, e.g. libopencv-dev" >&2; exit 1; fi; fi

tflite: $(TFLITE_STAMP)

$(TFLITE_STAMP):
	@[ "$(TFLITE_ARCH)" != unsupported ] || { echo "tflite: no prebuilt TFLite for $$(uname -m); set TFLITE_DIR to your own build" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "tflite: npm is needed to fetch $(TFLITE_NPM) (apt-get install npm), or set TFLITE_DIR" >&2; exit 1; }
	rm -rf $(DEPS)/tflite.tmp && mkdir -p $(DEPS)/tflite.tmp
	cd $(DEPS)/tflite.tmp && npm pack --silent $(TFLITE_NPM) >/dev/null
	echo "$(TFLITE_SHA256)  $(DEPS)/tflite.tmp/tfjs-tflite-node-0.0.2.tgz" | sha256sum -c --status || { echo "tflite: sha256 mismatch for $(TFLITE_NPM)" >&2; exit 1; }
	tar -C $(DEPS)/tflite.tmp -xzf $(DEPS)/tflite.tmp/tfjs-tflite-node-0.0.2.tgz package/cc_deps/include package/cc_deps/$(TFLITE_ARCH)
	mkdir -p $(TFLITE_DIR)/lib $(TFLITE_DIR)/include
	cp -r $(DEPS)/tflite.tmp/package/cc_deps/include/. $(TFLITE_DIR)/include/
	cp $(DEPS)/tflite.tmp/package/cc_deps/$(TFLITE_ARCH)/*.so $(TFLITE_DIR)/lib/
	rm -rf $(DEPS)/tflite.tmp

# The default model: the official uint8 (quantization-aware trained)
# MobileNetV2 backbone, rewritten as int8 by sorterd, + the trained head
# shipped in heads/ (weights and labels only), assembled by sorterd
# (--force: export refuses to replace the default model without it).
model: base-model build
	bin/sorterd export --force --head $(HEAD) --base $(BASE_MODEL) --out $(DEFAULT_MODEL)

base-model:
	$(call fetch,$(MODEL_U8),$(MODEL_U8_SHA),$(MODEL_U8_URL))

# Retrain from a folder of photos (one subfolder per class); to ship the
# result, copy models/garbage.head.json to heads/.
train: base-model build
	bin/sorterd train --force --data $(DATA) --base $(BASE_MODEL) --out $(DEFAULT_MODEL) $(TRAIN_FLAGS)

# The small model for slow boards (docs/compute.md): the same backbone at
# 224 px, 2.9× fewer MACs per view than the default's 384 px. Its head was
# trained with train's default test split held out (TRAIN_SMALL_FLAGS), so
# the accuracy docs/compute.md gives is on photos it never saw.
SMALL_HEAD        := heads/garbage-224.head.json
SMALL_MODEL       := $(MODELS)/garbage-224.tflite
TRAIN_SMALL_FLAGS ?= --finetune --finetune-epochs 3 --size 224
.PHONY: model-small train-small
model-small: base-model build
	bin/sorterd export --head $(SMALL_HEAD) --base $(BASE_MODEL) --out $(SMALL_MODEL)

# Retrain it; to ship the result, copy models/garbage-224.head.json to heads/.
train-small: base-model build
	bin/sorterd train --data $(DATA) --base $(BASE_MODEL) --out $(SMALL_MODEL) $(TRAIN_SMALL_FLAGS)

models: model base-model
	$(call fetch,$(MODEL_PTQ),$(MODEL_PTQ_SHA),$(MODEL_PTQ_URL))
	$(call fetch,$(MODEL_TPU),$(MODEL_TPU_SHA),$(MODEL_TPU_URL))
	$(call fetch,$(LABELS),$(LABELS_SHA),$(LABELS_URL))

fmt:
	gofmt -w $$(git ls-files '*.go')

vet: deps
	$(GO) vet -tags $(GOTAGS) ./...

version: build
	bin/sorterd version

clean:
	rm -rf bin out

# Install under $(DESTDIR)$(PREFIX): binary, the TFLite libraries it
# links (rpath set to their installed place), the model, the man page and
# the bash completion (share/, rendered from cmd/sorterd/commands.go), the
# units, the udev rule giving group gpio the GPIO devices and an example
# configuration (never overwriting one that exists).
#
#   make all                 as yourself: builds bin/sorterd.install (rpath and
#                            default model under PREFIX) and the model; needs Go
#   sudo make install        as root: copies files, creates the sorterd user
#                            (systemd-sysusers), never runs Go
LIBDIR        := $(PREFIX)/lib/sorterd
INSTALL_MODEL := $(PREFIX)/share/sorterd/models/garbage.tflite
all: build model install-bin

install-bin: deps
	CGO_LDFLAGS="-L$(TFLITE_DIR)/lib -Wl,-rpath,$(LIBDIR) $(OPENCV_LDFLAGS)" $(GO) build -tags $(GOTAGS) -trimpath \
	  -ldflags "-X main.version=$(VERSION) -X github.com/sorterd/sorterd/config.DefaultModelPath=$(INSTALL_MODEL)" \
	  -o bin/sorterd.install ./cmd/sorterd
	echo "$(PREFIX)" > bin/sorterd.install.prefix

install:
	@[ -x bin/sorterd.install ] && [ -f $(DEFAULT_MODEL) ] || { echo "install: run 'make all' as your user first (it builds with Go; install only copies)" >&2; exit 1; }
	@[ "$$(cat bin/sorterd.install.prefix)" = "$(PREFIX)" ] || { echo "install: bin/sorterd.install was built for PREFIX=$$(cat bin/sorterd.install.prefix); run 'make all PREFIX=$(PREFIX)' as your user" >&2; exit 1; }
	install -D -m 0644 systemd/sysusers.conf $(DESTDIR)/usr/lib/sysusers.d/sorterd.conf
	@# The user and group first: the configuration below is group-owned by it.
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then systemd-sysusers /usr/lib/sysusers.d/sorterd.conf; fi
	install -D -m 0755 bin/sorterd.install $(DESTDIR)$(PREFIX)/bin/sorterd
	install -D -m 0644 $(TFLITE_DIR)/lib/libtensorflowlite_c.so $(DESTDIR)$(LIBDIR)/libtensorflowlite_c.so
	install -D -m 0644 $(TFLITE_DIR)/lib/libexternal_delegate_obj.so $(DESTDIR)$(LIBDIR)/libexternal_delegate_obj.so
	install -D -m 0644 $(DEFAULT_MODEL) $(DESTDIR)$(INSTALL_MODEL)
	sed 's#/usr/local/bin/sorterd#$(PREFIX)/bin/sorterd#' systemd/sorterd.service > bin/sorterd.service
	install -D -m 0644 bin/sorterd.service $(DESTDIR)/etc/systemd/system/sorterd.service
	sed 's#/usr/local/bin/sorterd#$(PREFIX)/bin/sorterd#' systemd/sorterd@.service > bin/sorterd@.service
	install -D -m 0644 bin/sorterd@.service $(DESTDIR)/etc/systemd/system/sorterd@.service
	install -D -m 0644 share/man/man1/sorterd.1 $(DESTDIR)$(PREFIX)/share/man/man1/sorterd.1
	install -D -m 0644 share/bash-completion/completions/sorterd $(DESTDIR)$(PREFIX)/share/bash-completion/completions/sorterd
	install -D -m 0644 systemd/60-sorterd-gpio.rules $(DESTDIR)/etc/udev/rules.d/60-sorterd-gpio.rules
	if [ -z "$(DESTDIR)" ] && [ -d /run/udev ] && command -v udevadm >/dev/null; then udevadm control --reload-rules && udevadm trigger --action=change --subsystem-match=gpio && udevadm trigger --action=change --sysname-match='gpiomem*' || echo "install: udevadm failed; the GPIO rule applies at the next boot"; fi
	sed 's#/usr/share/sorterd/models/garbage.tflite#$(INSTALL_MODEL)#' sorterd.example.yaml > bin/sorterd.example.yaml
	install -D -m 0644 bin/sorterd.example.yaml $(DESTDIR)$(PREFIX)/share/sorterd/sorterd.example.yaml
	[ -e $(DESTDIR)/etc/sorterd/sorterd.yaml ] || install -D -m 0640 bin/sorterd.example.yaml $(DESTDIR)/etc/sorterd/sorterd.yaml
	@# Readable by the service's group (an earlier make install left it root:root).
	if getent group sorterd >/dev/null; then chgrp sorterd $(DESTDIR)/etc/sorterd $(DESTDIR)/etc/sorterd/sorterd.yaml && chmod g+r $(DESTDIR)/etc/sorterd/sorterd.yaml; \
	  else echo "install: no group sorterd here; after systemd-sysusers: chgrp sorterd /etc/sorterd/sorterd.yaml"; fi
	@echo "installed; then: systemctl daemon-reload, edit /etc/sorterd/sorterd.yaml, sorterd config check, systemctl enable --now sorterd"

# --- Debian packages ---------------------------------------------------------
# make deb DEB_ARCH=amd64|arm64 DEB_DIST=bookworm|trixie writes
# dist/<dist>/sorterd_<version>_<arch>.deb, cross-built in a cached build root
# of the target distribution (debian/build-deb; needs root for mmdebstrap and
# chroot). make debs builds all four.
DEB_ARCH    ?= $(if $(filter aarch64 arm64,$(UNAME_M)),arm64,amd64)
DEB_DIST    ?= bookworm
DEB_VERSION ?= 0~git$(shell git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null).$(shell git rev-parse --short=7 HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo +dirty)
TFLITE_TGZ  := $(DEPS)/npm/tfjs-tflite-node-0.0.2.tgz
DEB         = dist/$(DEB_DIST)/sorterd_$(DEB_VERSION)_$(DEB_ARCH).deb

deb: model $(TFLITE_TGZ) deb-tools
	DEB_VERSION=$(DEB_VERSION) TFLITE_TGZ=$(TFLITE_TGZ) GOTAGS=$(GOTAGS) SECTIONS="$(SECTIONS)" OPENCV_LDFLAGS="$(OPENCV_LDFLAGS)" debian/build-deb $(DEB_DIST) $(DEB_ARCH) dist/$(DEB_DIST)

debs:
	for d in bookworm trixie; do for a in amd64 arm64; do $(MAKE) deb DEB_DIST=$$d DEB_ARCH=$$a || exit 1; done; done

# The packages verified without a Pi (CI runs it after make test), for each
# distribution in DEB_CHECK_DIST: the arm64 and amd64 packages built,
# lintian clean (warnings fail), then debian/check-deb: arm64 under
# qemu-aarch64-static in a root made from its Depends (version, config
# check, --once on photos against amd64, serve /healthz, the daemon on a
# station recording deciding every item as amd64's does) and the amd64
# package installed into a clean root from a signed apt repository
# (debian/make-repo, a throw-away key): tampered copies refused, the same
# package at <version>~prev (out/deb-check/, not published by make repo)
# installed, its conffile edited, then upgraded to <version> with the edit
# kept, and config check as the sorterd user;
# then debian/qemu-test: the Go tests of infer, camera and pipeline
# cross-compiled and run under qemu against the arm64 package's Depends.
# Roots are cached under .deps/roots. Times: docs/packaging.md.
DEB_CHECK_DIST ?= bookworm
deb-check: deb-tools $(TFLITE_TGZ) models
	@t0=$$(date +%s); for d in $(DEB_CHECK_DIST); do td=$$(date +%s); \
	$(MAKE) -s deb DEB_DIST=$$d DEB_ARCH=arm64 DEB_VERSION=$(DEB_VERSION) && \
	$(MAKE) -s deb DEB_DIST=$$d DEB_ARCH=amd64 DEB_VERSION=$(DEB_VERSION) && \
	DEB_VERSION=$(DEB_VERSION)~prev TFLITE_TGZ=$(TFLITE_TGZ) GOTAGS=$(GOTAGS) SECTIONS="$(SECTIONS)" OPENCV_LDFLAGS="$(OPENCV_LDFLAGS)" \
	  debian/build-deb $$d amd64 out/deb-check/$$d && \
	lintian --fail-on error,warning dist/$$d/sorterd_$(DEB_VERSION)_arm64.deb dist/$$d/sorterd_$(DEB_VERSION)_amd64.deb && \
	echo "lintian: ok" && \
	DEB_DIST=$$d debian/check-deb dist/$$d/sorterd_$(DEB_VERSION)_arm64.deb dist/$$d/sorterd_$(DEB_VERSION)_amd64.deb \
	  out/deb-check/$$d/sorterd_$(DEB_VERSION)~prev_amd64.deb && \
	TFLITE_TGZ=$(TFLITE_TGZ) GOTAGS=$(GOTAGS) SECTIONS="$(SECTIONS)" OPENCV_LDFLAGS="$(OPENCV_LDFLAGS)" debian/qemu-test $$d dist/$$d/sorterd_$(DEB_VERSION)_arm64.deb && \
	echo "deb-check ($$d): $$(( $$(date +%s) - td )) s" || exit 1; done; \
	echo "deb-check ($(DEB_CHECK_DIST)): total $$(( $$(date +%s) - t0 )) s"

# make repo: a signed apt repository in REPO_DIR (pool style; any static web
# server serves it as it is) from every package under dist/<dist>/ for
# each of REPO_DISTS, added to what REPO_DIR already holds. Signed with
# SORTERD_REPO_KEY (a key id or fingerprint in gpg's keyring); the public
# key is written beside as sorterd-archive-keyring.gpg. docs/packaging.md.
REPO_DIR   ?= dist/apt
REPO_DISTS ?= bookworm trixie
repo:
	@n=0; for d in $(REPO_DISTS); do debs=$$(ls dist/$$d/sorterd_*.deb 2>/dev/null || true); \
	  [ -z "$$debs" ] || { debian/make-repo $(REPO_DIR) $$d $$debs || exit 1; n=1; }; done; \
	  [ $$n = 1 ] || { echo "repo: no packages under dist/{$$(echo $(REPO_DISTS) | tr ' ' ,)}/ (make debs)" >&2; exit 1; }

# The Go tests of infer, camera and pipeline built for arm64 and run under
# qemu against the arm64 package of DEB_DIST (made first).
deb-qemu-test: deb-tools $(TFLITE_TGZ) models
	$(MAKE) -s deb DEB_DIST=$(DEB_DIST) DEB_ARCH=arm64 DEB_VERSION=$(DEB_VERSION)
	TFLITE_TGZ=$(TFLITE_TGZ) GOTAGS=$(GOTAGS) SECTIONS="$(SECTIONS)" OPENCV_LDFLAGS="$(OPENCV_LDFLAGS)" debian/qemu-test $(DEB_DIST) dist/$(DEB_DIST)/sorterd_$(DEB_VERSION)_arm64.deb

# The npm package, kept: make deb takes the TFLite library for each arch from it.
$(TFLITE_TGZ):
	@command -v npm >/dev/null || { echo "tflite: npm is needed to fetch $(TFLITE_NPM) (apt-get install npm)" >&2; exit 1; }
	mkdir -p $(DEPS)/npm && cd $(DEPS)/npm && npm pack --silent $(TFLITE_NPM) >/dev/null
	echo "$(TFLITE_SHA256)  $@" | sha256sum -c --status || { echo "tflite: sha256 mismatch for $(TFLITE_NPM)" >&2; rm -f $@; exit 1; }

# Host tools for packages and their checks (Debian's).
DEB_TOOLS := mmdebstrap qemu-user-static lintian dpkg-dev curl apt-utils gnupg
deb-tools:
	@missing=""; for p in $(DEB_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "deps: installing$$missing"; $(SUDO) apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; fi

# systemd-analyze verify on the unit (with a stand-in binary path), and its
# security exposure at 2.0 or better (systemd >= 250 scores a unit file
# offline; older ones skip that check).
verify-unit:
	@tmp=$$(mktemp -d); sed "s#/usr/local/bin/sorterd#$$tmp/sorterd#" systemd/sorterd.service > $$tmp/sorterd.service; \
	  printf '#!/bin/sh\n' > $$tmp/sorterd; chmod +x $$tmp/sorterd; \
	  systemd-analyze verify $$tmp/sorterd.service; rc=$$?; \
	  if [ $$rc = 0 ] && systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then \
	    systemd-analyze security --offline=true --threshold=20 $$tmp/sorterd.service >/dev/null 2>&1 || \
	      { echo "systemd-analyze security: the unit's exposure is above 2.0:" >&2; systemd-analyze security --offline=true $$tmp/sorterd.service | tail -1 >&2; rc=1; }; fi; \
	  sed "s#/usr/local/bin/sorterd#$$tmp/sorterd#" systemd/sorterd@.service > $$tmp/sorterd@.service; \
	  cp $$tmp/sorterd@.service $$tmp/sorterd@line2.service; \
	  if [ $$rc = 0 ]; then systemd-analyze verify $$tmp/sorterd@line2.service || rc=1; fi; \
	  rm -rf $$tmp; exit $$rc
