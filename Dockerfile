# The gscale image: `docker build -t REGISTRY/gscale:0.1.0 .`, then
# `gscale install --image REGISTRY/gscale:0.1.0`. The daemon needs no shell, no package manager and
# no root: distroless with glibc (the binary links it; TLS is rustls, the time zones are built in),
# running as the image's nonroot user (65532), as the Deployment's securityContext requires.
FROM rust:1.91-bookworm AS build
WORKDIR /src
COPY . .
# The daemon's features only: no `gscale demo` sandbox (the Pub/Sub clients stay).
RUN cargo build --release --locked --no-default-features --features pubsub \
    && cp target/release/gscale /gscale

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /gscale /gscale
USER 65532:65532
ENTRYPOINT ["/gscale"]
CMD ["run"]
