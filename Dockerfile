# One image, three binaries: schemata-api, schemata-worker, schemata (migrate, keys).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin schemata-api --bin schemata-worker --bin schemata

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/schemata-api /src/target/release/schemata-worker /src/target/release/schemata /usr/local/bin/
USER nobody
CMD ["schemata-api"]
