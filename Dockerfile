# The image the Helm chart runs: a static rotatord on distroless, as UID 65532 (the chart's runAsUser).
#   docker build --build-arg VERSION=v0.1.0 -t rotatord/rotatord:0.1.0 .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
COPY internal internal
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X github.com/rotatord/rotatord/internal/cli.Version=${VERSION}" \
	-o /out/rotatord ./cmd/rotatord

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rotatord /usr/local/bin/rotatord
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/rotatord"]
CMD ["run", "--config", "/etc/rotatord/config.yaml"]
