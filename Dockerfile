# Tollgate's container image: a static binary on a distroless base, run as
# a non-root user. Build: docker build -t tollgate .
# docs/deploy.md explains the image, the compose file and the Kubernetes
# manifests; deploy/deploy_test.go checks this recipe builds the release
# binary (static, trimmed paths, stripped).

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=auto -ldflags="-s -w" -o /out/tollgate ./cmd/tollgate
# The data directory, owned by the image's non-root user (65532).
RUN mkdir -p /out/var/lib/tollgate && chown 65532:65532 /out/var/lib/tollgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tollgate /usr/local/bin/tollgate
COPY --from=build --chown=65532:65532 /out/var/lib/tollgate /var/lib/tollgate
USER 65532:65532
ENV TOLLGATE_DATA_DIR=/var/lib/tollgate \
    TOLLGATE_GATEWAY_ADDR=0.0.0.0:8000 \
    TOLLGATE_MANAGEMENT_ADDR=0.0.0.0:8001 \
    TOLLGATE_PORTAL_ADDR=0.0.0.0:8002 \
    TOLLGATE_IDENTITY_ADDR=0.0.0.0:8003 \
    TOLLGATE_LOG_FORMAT=json
VOLUME ["/var/lib/tollgate"]
EXPOSE 8000 8001 8002 8003
# /health is on the management listener; gateway-only nodes keep that
# listener on 127.0.0.1:8001 so that this check still works.
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/tollgate", "health", "http://127.0.0.1:8001/health"]
ENTRYPOINT ["/usr/local/bin/tollgate"]
CMD ["serve"]
