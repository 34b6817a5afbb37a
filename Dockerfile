# lagship's image: a static binary on distroless, run as a non-root user,
# the spool on a volume, healthy while /healthz answers 200.
#
#   docker build -t lagship \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run -v "$PWD/lagship.yaml:/etc/lagship/lagship.yaml:ro" \
#     -v lagship-spool:/var/lib/lagship/spool -p 127.0.0.1:9839:9839 lagship
#
# The config must set http.listen to ":9839" for -p to reach the status
# page and /metrics; the HEALTHCHECK runs inside the container and works
# with the default 127.0.0.1:9839 too. cmd/lagship's TestDockerBuildStage
# runs the build command below without Docker, and TestDockerfileAndCompose
# checks that this file and examples/docker-compose agree.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" -o /out/lagship ./cmd/lagship
# The spool volume takes this directory's owner when Docker first creates it.
RUN mkdir -p /out/state/spool

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lagship /usr/local/bin/lagship
COPY --from=build --chown=65532:65532 /out/state /var/lib/lagship
USER 65532:65532
ENV LAGSHIP_CONFIG=/etc/lagship/lagship.yaml
VOLUME ["/var/lib/lagship/spool"]
EXPOSE 9839
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/lagship", "healthcheck", "-q", "-url", "http://127.0.0.1:9839/healthz"]
ENTRYPOINT ["/usr/local/bin/lagship"]
CMD ["run"]
