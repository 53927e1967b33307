# gauntlet's container image: the one binary (`gauntlet run`, `mock`, `merge`,
# ...) on a slim Debian. Built from this repository:
#   docker build -t gauntlet:latest .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gauntlet

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/gauntlet /usr/local/bin/gauntlet
COPY scenarios /scenarios
# Load goes only where a plan or --target names it; nothing listens by default.
ENTRYPOINT ["gauntlet"]
CMD ["run", "/scenarios/nightly.toml"]
