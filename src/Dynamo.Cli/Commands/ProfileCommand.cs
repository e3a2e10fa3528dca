using System.CommandLine;
using Dynamo.Cli.Profiling;
using Dynamo.Engine.Mocker.Profiles;
using Dynamo.Planner.Profiles;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo profile (--profile NAME | --url URL) --out DIR</c>: writes DIR/profile.json, the performance profile the
/// planner sizes pools with (format: <see cref="DeploymentProfile"/>). <c>--profile</c> runs the simulator's model
/// over the grid (<see cref="SimulatedProfiler"/>); <c>--url</c> measures a running OpenAI-compatible endpoint
/// (<see cref="MeasuredProfiler"/>). Exit codes as <c>dynamo bench</c>: 0 written, 1 bad arguments, 3 the server
/// could not be reached, 4 every request of a grid point failed.
/// </summary>
internal static class ProfileCommand
{
    public static Command Create()
    {
        var profile = new Option<string?>("--profile") { Description = $"Simulated: a preset of the simulator ({string.Join(", ", PerformanceProfiles.Names)}) or fit:FILE." };
        var url = new Option<string?>("--url") { Description = "Measured: base address of a running OpenAI-compatible server (http://host:port or .../v1)." };
        var output = new Option<string>("--out") { Description = "Folder to write profile.json into (created if missing).", Required = true };
        var isl = new Option<string?>("--isl") { Description = "Prefill grid: prompt lengths, comma-separated, increasing (simulated default 128..32768 by doubling; measured default 128,512,1024)." };
        var concurrency = new Option<string?>("--concurrency") { Description = "Decode grid: sequences in flight per worker, comma-separated, increasing, from 1 (simulated default 1..256 by doubling; measured default 1,4,16)." };
        var context = new Option<string?>("--context") { Description = "Decode grid: prompt (context) lengths, comma-separated, increasing (simulated default 512..16384 by doubling; measured default 128,512)." };
        var osl = new Option<int?>("--osl") { Description = "Measured: output tokens of each decode request (default 64, at least 2)." };
        var requests = new Option<int?>("--requests-per-point") { Description = "Measured: requests at each grid point (default 8; at least the concurrency)." };
        var duration = new Option<double?>("--duration") { Description = "Measured: seconds at each grid point instead of a request count." };
        var workers = new Option<int?>("--workers") { Description = "Measured: workers behind the endpoint; load and throughput are per worker (default 1)." };
        var gpus = new Option<int?>("--gpus-per-worker") { Description = "Measured: GPUs one worker takes; throughputs are per GPU (default 1)." };
        var kvBlocks = new Option<long?>("--kv-blocks") { Description = "Measured (required): KV blocks of one worker (its /metrics dynamo_component_kv_total_blocks, or Dynamo:Engine:NumKvBlocks / Dynamo:Mocker:TotalKvBlocks)." };
        var blockSize = new Option<int?>("--block-size") { Description = "Measured: tokens per KV block (default 16)." };
        var model = new Option<string?>("--model") { Description = "Measured: model name to send (default: the first one /v1/models lists)." };
        var timeout = new Option<double?>("--timeout") { Description = "Measured: per-request limit, seconds (default 600)." };
        var seed = new Option<int?>("--seed") { Description = "Measured: first seed of the synthetic prompts (default: drawn, so a rerun does not hit the prefix cache of the last)." };
        var hardware = new Option<string?>("--hardware") { Description = "Label for the hardware (default: from the preset, or this machine's cores)." };

        var command = new Command("profile", "Write a performance profile (profile.json) for the planner: simulated from a preset, or measured against a running server.")
        {
            profile, url, output, isl, concurrency, context, osl, requests, duration, workers, gpus, kvBlocks, blockSize, model, timeout, seed, hardware,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string? preset = parse.GetValue(profile), address = parse.GetValue(url), dir = parse.GetValue(output)!;
            if ((preset is null) == (address is null))
            {
                return Fail("give either --profile NAME (simulated) or --url URL (measured), not both or neither.");
            }

            try
            {
                if (preset is not null)
                {
                    string[] measuredOnly = [.. new (string Flag, bool Set)[]
                    {
                        ("--osl", parse.GetValue(osl) is not null), ("--requests-per-point", parse.GetValue(requests) is not null),
                        ("--duration", parse.GetValue(duration) is not null), ("--workers", parse.GetValue(workers) is not null),
                        ("--gpus-per-worker", parse.GetValue(gpus) is not null), ("--kv-blocks", parse.GetValue(kvBlocks) is not null),
                        ("--block-size", parse.GetValue(blockSize) is not null), ("--model", parse.GetValue(model) is not null),
                        ("--timeout", parse.GetValue(timeout) is not null), ("--seed", parse.GetValue(seed) is not null),
                    }.Where(f => f.Set).Select(f => f.Flag)];
                    if (measuredOnly.Length > 0)
                    {
                        return Fail($"{string.Join(", ", measuredOnly)} appl{(measuredOnly.Length == 1 ? "ies" : "y")} to --url (measured) only; the simulated profile takes its batch, KV and GPU figures from the preset.");
                    }

                    return await SimulatedAsync(preset, dir, parse.GetValue(isl), parse.GetValue(concurrency), parse.GetValue(context), parse.GetValue(hardware), cancellationToken);
                }

                return await MeasuredAsync(parse, address!, dir, cancellationToken);
            }
            catch (FormatException bad)
            {
                return Fail(bad.Message);
            }
        });

        return command;

        async Task<int> MeasuredAsync(ParseResult parse, string address, string dir, CancellationToken cancellationToken)
        {
            if (!Uri.TryCreate(address, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https"))
            {
                return Fail($"--url '{address}' is not an http or https address (e.g. http://127.0.0.1:8000).");
            }

            if (parse.GetValue(requests) is not null && parse.GetValue(duration) is not null)
            {
                return Fail("--requests-per-point and --duration are alternatives: give one.");
            }

            if (parse.GetValue(kvBlocks) is not { } blocks)
            {
                return Fail("--kv-blocks is required with --url: give one worker's KV blocks (its /metrics dynamo_component_kv_total_blocks, or Dynamo:Engine:NumKvBlocks / Dynamo:Mocker:TotalKvBlocks).");
            }

            (string Flag, double Value, double Min)[] checks =
            [
                ("--kv-blocks", blocks, 1), ("--osl", parse.GetValue(osl) ?? 64, 2), ("--requests-per-point", parse.GetValue(requests) ?? 8, 1),
                ("--workers", parse.GetValue(workers) ?? 1, 1), ("--gpus-per-worker", parse.GetValue(gpus) ?? 1, 1), ("--block-size", parse.GetValue(blockSize) ?? 16, 1),
            ];
            foreach ((string flag, double value, double min) in checks)
            {
                if (value < min)
                {
                    return Fail($"{flag} must be at least {min} (got {value}).");
                }
            }

            foreach ((string flag, double? value) in new[] { ("--duration", parse.GetValue(duration)), ("--timeout", parse.GetValue(timeout)) })
            {
                if (value is { } v && !(v > 0 && double.IsFinite(v)))
                {
                    return Fail($"{flag} must be a number of seconds > 0 (got {v}).");
                }
            }

            var grid = new ProfileGrid(
                ProfileGrid.ParseList(parse.GetValue(isl) ?? "128,512,1024", "--isl", 1),
                ProfileGrid.ParseList(parse.GetValue(concurrency) ?? "1,4,16", "--concurrency", 1),
                ProfileGrid.ParseList(parse.GetValue(context) ?? "128,512", "--context", 1));
            var args = new MeasuredProfileArguments
            {
                Url = uri,
                Model = parse.GetValue(model),
                Grid = grid,
                Osl = parse.GetValue(osl) ?? 64,
                RequestsPerPoint = parse.GetValue(duration) is null ? parse.GetValue(requests) ?? 8 : null,
                DurationPerPoint = parse.GetValue(duration),
                Workers = parse.GetValue(workers) ?? 1,
                GpusPerWorker = parse.GetValue(gpus) ?? 1,
                KvBlocks = blocks,
                BlockSize = parse.GetValue(blockSize) ?? 16,
                TimeoutS = parse.GetValue(timeout) ?? 600,
                Hardware = parse.GetValue(hardware),
                Seed = parse.GetValue(seed),
            };
            try
            {
                DeploymentProfile measured = await MeasuredProfiler.RunAsync(args, Console.Out, cancellationToken);
                string file = await measured.SaveAsync(dir, cancellationToken);
                Console.WriteLine($"wrote {file} (measured, {measured.Model})");
                return 0;
            }
            catch (HttpRequestException unreachable)
            {
                Console.Error.WriteLine($"dynamo profile: cannot reach {uri}: {unreachable.Message}");
                return 3;
            }
            catch (ProfilePointFailedException failed)
            {
                Console.Error.WriteLine($"dynamo profile: {failed.Message}");
                return 4;
            }
        }
    }

    private static async Task<int> SimulatedAsync(string name, string dir, string? isl, string? concurrency, string? context, string? hardware, CancellationToken cancellationToken)
    {
        PerformanceProfile preset;
        try
        {
            preset = PerformanceProfiles.Get(name);
        }
        catch (ArgumentException unknown)
        {
            return Fail($"--profile: {unknown.Message}");
        }

        ProfileGrid defaults = SimulatedProfiler.DefaultGrid(preset);
        var grid = new ProfileGrid(
            isl is null ? defaults.Isl : ProfileGrid.ParseList(isl, "--isl", 1),
            concurrency is null ? defaults.Concurrency : ProfileGrid.ParseList(concurrency, "--concurrency", 1),
            context is null ? defaults.Context : ProfileGrid.ParseList(context, "--context", 1));
        if (SimulatedProfiler.Check(preset, grid) is { } problem)
        {
            return Fail(problem);
        }

        DeploymentProfile simulated = SimulatedProfiler.Run(preset, grid, hardware, cancellationToken);
        string file = await simulated.SaveAsync(dir, cancellationToken);
        Console.WriteLine($"wrote {file} (simulated {preset.Name}: {grid.Isl.Length} prefill points, {grid.Concurrency.Length} x {grid.Context.Length} decode points)");
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"dynamo profile: {message}");
        return 1;
    }
}
