# syntax=docker/dockerfile:1
# The `gik` command line in a small image, for batch engines (Cloud Run jobs, AWS Batch,
# Kubernetes Jobs): `docker run IMAGE build --product gefs --latest --out s3://bucket/gik`.
# Credentials come from the environment (AWS_*, GOOGLE_*), as for the binary; a backfill is
# split across tasks with --task-index/--task-count or the engine's own index variable.
#
#   docker build -t gik .
#   docker run --rm -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_REGION gik \
#       build --product ecmwf --latest --out s3://my-bucket/gik
#
# The image is built without the `stream` feature: `gik stream` (and its libnetcdf link) is
# not in it, so neither stage needs libnetcdf. Build `gik stream` with the default features.

FROM rust:1-slim-bookworm AS build
# openjpeg is built from source by its crate with the image's C compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gik-builder --bin gik --no-default-features \
 && cp target/release/gik /usr/local/bin/gik

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 gik
COPY --from=build /usr/local/bin/gik /usr/local/bin/gik
USER gik
WORKDIR /home/gik
ENTRYPOINT ["gik"]
CMD ["--help"]
