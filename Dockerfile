# syntax=docker/dockerfile:1
# trialog's images, built from this repository alone.
#
#   docker build -t trialog/trialogd:dev .                      # trialogd and the trialog CLI
#   docker build -t trialog/trillian:dev --target trillian .    # Trillian's log server, signer and
#                                                               # createtree at go.mod's version
#
# Both final stages are static binaries on distroless "static" (no shell, no package manager),
# running as the unprivileged user 65532. VERSION is stamped into the binaries' --version and the
# trialog_build_info metric.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# go generate ./web builds the pages' verifier (WebAssembly), which trialogd embeds.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go generate ./web && \
    go build -ldflags "-s -w -X github.com/trialog/trialog/internal/buildinfo.version=${VERSION}" \
      -o /out/ ./cmd/trialogd ./cmd/trialog

FROM build AS build-trillian
# The Trillian version is the one go.mod pins, so the cluster runs what the tests ran.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w" -o /out/ \
      github.com/google/trillian/cmd/trillian_log_server \
      github.com/google/trillian/cmd/trillian_log_signer \
      github.com/google/trillian/cmd/createtree

FROM gcr.io/distroless/static-debian12:nonroot AS trillian
COPY --from=build-trillian /out/trillian_log_server /out/trillian_log_signer /out/createtree /usr/local/bin/
USER 65532:65532
EXPOSE 8090 8091
ENTRYPOINT ["/usr/local/bin/trillian_log_server"]

FROM gcr.io/distroless/static-debian12:nonroot AS trialogd
COPY --from=build /out/trialogd /out/trialog /usr/local/bin/
# The data directory (keys, admin token, the checkpoint anchor) is a volume owned by 65532.
WORKDIR /var/lib/trialog
USER 65532:65532
ENV TRIALOG_LISTEN=0.0.0.0:8080 TRIALOG_DATA_DIR=/var/lib/trialog
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/trialogd"]
