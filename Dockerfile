# The image the charts and the operator run: the dynamo CLI (frontend, worker, planner, operator, devcluster, bench)
# on the .NET 10 runtime, with the native libraries the engine and the KV transfer load at run time.
# No container engine exists on the machines this project is developed on, so this file has not been built there;
# build it where one exists:   docker build -t dynamo:0.1.0 .
# and set image.repository / image.tag in charts/dynamo-platform and charts/dynamo-graph to where you push it.

# --- build: restore and publish the CLI (framework-dependent, linux-x64) ---
FROM mcr.microsoft.com/dotnet/sdk:10.0-bookworm-slim AS build
WORKDIR /src
# Restore first, from the project files alone, so the layer is reused while only sources change.
COPY global.json Directory.Build.props Directory.Packages.props Dynamo.sln ./
COPY src/ src/
COPY operators/ operators/
RUN dotnet restore src/Dynamo.Cli/Dynamo.Cli.csproj -r linux-x64
RUN dotnet publish src/Dynamo.Cli/Dynamo.Cli.csproj -c Release -r linux-x64 --self-contained false --no-restore -o /app

# --- runtime: ASP.NET Core runtime (the gateway is ASP.NET Core), OpenBLAS, UCX, nats-server for local use ---
FROM mcr.microsoft.com/dotnet/aspnet:10.0-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread libucx0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root user (the charts run as 10001 with a read-only root filesystem).
RUN groupadd --system --gid 10001 dynamo && useradd --system --uid 10001 --gid dynamo --home-dir /home/dynamo --create-home dynamo
COPY --from=build /app /opt/dynamo
COPY configs/ /opt/dynamo/configs/
RUN ln -s /opt/dynamo/dynamo /usr/local/bin/dynamo
# Generated models and other caches go to the user's home (an emptyDir or volume in the charts when the root is read-only).
ENV DYNAMO_CACHE_DIR=/home/dynamo/.cache/dynamo \
    DOTNET_gcServer=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
USER 10001:10001
WORKDIR /opt/dynamo
EXPOSE 8000 9000 9100 8080
ENTRYPOINT ["dynamo"]
CMD ["--help"]
