# syntax=docker/dockerfile:1
# The connector and the Dsco sandbox, as static binaries on a distroless base
# (no shell, no package manager), running as an unprivileged user.
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t dsco-kafka-connector .
#   docker run --rm dsco-kafka-connector version
# The compose stack (docker-compose.yml) builds this image for both services.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO_ENABLED=0: static binaries that need no libc in the final image.
# -buildvcs=false: the build context carries no .git (see .dockerignore); the
# REVISION build argument, when given, is what `connector version` reports.
ARG REVISION=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags="-s -w -X main.stampedRevision=${REVISION}" -o /out/connector ./cmd/connector && \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/dsco-sandbox ./cmd/dsco-sandbox

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/connector /out/dsco-sandbox /usr/local/bin/
USER nonroot:nonroot
# 8080: the connector's ops port (status page, /healthz, /readyz, /metrics).
# 8089: the Dsco sandbox, when the image runs /usr/local/bin/dsco-sandbox.
EXPOSE 8080 8089
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/connector", "probe", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/connector"]
