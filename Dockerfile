# syntax=docker/dockerfile:1
#
# minirtc in a container: a static binary (no cgo) in a distroless image, run
# as an unprivileged user, with its data in the /data volume.
#
#   docker build -t minirtc .
#   docker run -d --name minirtc -p 8080:8080 -p 1935:1935 -p 8443:8443/udp \
#     -v minirtc-data:/data -e MINIRTC_WEBRTC_PUBLIC_IPS=203.0.113.7 minirtc
#
# Settings come from MINIRTC_* variables or a mounted file (--config); see
# docs/deployment.md. The exposed ports are the defaults of
# internal/config/minirtc.yml: HTTP 8080/tcp, RTMP 1935/tcp, WebRTC 8443/udp.

ARG GO_VERSION=1.26

# --- build: one static binary -------------------------------------------------
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ENV CGO_ENABLED=0 GOOS=linux
RUN ldflags="-s -w"; \
    if [ -n "$VERSION" ]; then ldflags="$ldflags -X github.com/minirtc/minirtc/internal/node.Version=$VERSION"; fi; \
    go build -trimpath -ldflags="$ldflags" -o /out/minirtc ./cmd/minirtc \
 && /out/minirtc version \
 && mkdir -p /out/data

# --- probe: a static wget for the health check (the final image has no shell) --
FROM busybox:1.37.0-musl AS probe

# --- run ------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/minirtc /usr/local/bin/minirtc
COPY --from=probe /bin/busybox /usr/local/bin/wget
COPY --from=build --chown=65532:65532 /out/data /data
ENV MINIRTC_DATA_DIR=/data
# nonroot (65532) from the distroless image: no root, no capabilities needed
# for the default ports.
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080/tcp 1935/tcp 8443/udp
# Plain HTTP on the default port. With TLS on http.addr, or another port,
# override it (docker run --health-cmd ...) or check through your proxy.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/wget", "-q", "-T", "2", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/minirtc"]
CMD ["serve"]
