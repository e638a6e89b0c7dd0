# The `troupe` binary in a small image. Not built or run in this repository's CI (no container
# runtime there); see README "Deployment".
#   docker build -t troupe .
#   docker run --rm troupe run examples/text_stats.yaml
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin troupe

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates coreutils \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 troupe
COPY --from=build /src/target/release/troupe /usr/local/bin/troupe
COPY --from=build /src/examples /opt/troupe/examples
WORKDIR /opt/troupe
USER troupe
# 7000/tcp transport, 7001/udp membership (gossip), 9464/tcp GET /metrics, /health, /ready.
EXPOSE 7000 7001/udp 9464
ENTRYPOINT ["troupe"]
CMD ["--help"]
