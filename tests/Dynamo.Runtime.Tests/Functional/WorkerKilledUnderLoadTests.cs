using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dynamo.Runtime.Tests.Infrastructure;

namespace Dynamo.Runtime.Tests.Functional;

/// <summary>
/// R1: <c>kill -9</c> of one of three <c>dynamo worker</c> processes (the real .NET engine on the tiny model) while a
/// <c>dynamo frontend</c> process streams greedy requests to them: the frontend migrates the cut streams, so every
/// client stream completes with the text an undisturbed cluster gives. A second worker is killed when the first kill
/// cut no stream the frontend had already relayed tokens of.
/// </summary>
public sealed partial class WorkerKilledUnderLoadTests(NatsServerFixture nats, ITestOutputHelper output) : IClassFixture<NatsServerFixture>
{
    private const int MaxTokens = 96;
    private const int Clients = 6;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task WorkerProcessKilledMidStream_EveryStreamCompletes_GreedyOutputsEqualUndisturbedRun()
    {
        var model = await TestModel.DirectoryAsync();
        var environment = new Dictionary<string, string>
        {
            ["DYNAMO__NATS__NAMESPACE"] = "r1" + Guid.NewGuid().ToString("N")[..10],
            ["DYNAMO__NATS__LEASETTL"] = "00:00:02",
            ["DYNAMO__NATS__HEARTBEATINTERVAL"] = "00:00:00.5",

            // Three engines and a frontend share the machine: one compute thread each, a small KV pool each.
            ["DYNAMO__ENGINE__THREADS"] = "1",
            ["DYNAMO__ENGINE__NUMKVBLOCKS"] = "2048",
        };
        var clock = Stopwatch.StartNew();
        var workers = new Dictionary<string, DynamoProcess>(StringComparer.Ordinal);
        await using var frontend = DynamoProcess.Start(
            ["frontend", "--nats", nats.Server.Url, "--port", "0", "--model", model, "--served-model-name", TestModel.Name, "--router", "round-robin", "--cluster-secret-file", TestSecret.File],
            environment);
        try
        {
            foreach (var id in new[] { "r1-w1", "r1-w2", "r1-w3" })
            {
                workers[id] = DynamoProcess.Start(
                    ["worker", "--role", "agg", "--nats", nats.Server.Url, "--model", model, "--served-model-name", TestModel.Name, "--engine", "dotnet", "--instance-id", id, "--cluster-secret-file", TestSecret.File],
                    environment);
            }

            var address = (await frontend.WaitForLineAsync(@"serving model 'tiny' at (\S+)v1", StartTimeout)).Groups[1].Value;
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
            await WaitForHealthAsync(client, instances: 3, StartTimeout);
            var started = clock.Elapsed;

            // The undisturbed run: every prompt once, on the whole cluster.
            var prompts = Enumerable.Range(0, 12)
                .Select(i => $"Stream {i}: {string.Join(' ', Enumerable.Repeat("the cluster keeps every stream whole", 1 + (i % 4)))}")
                .ToList();
            var texts = await Task.WhenAll(prompts.Select(p => LoadGenerator.GreedyTextAsync(client, p, MaxTokens)));
            var expected = prompts.Zip(texts).ToList();

            await using var load = LoadGenerator.StartGreedy(client, expected, Clients, MaxTokens);
            await load.WaitForMoreAsync(Clients, "before the kill");

            // kill -9 while the victim streams: its connections drop without a goodbye, its lease is left to run out.
            // "Streaming" is requests running and tokens coming out since the last look, but the frontend may not
            // have relayed any of them yet when the kill lands (on busy cores it cut only requests at 0 tokens, twice
            // in one run): a kill that cuts only such requests does not test resuming a stream mid-way, so then a
            // second worker is killed the same way, and the last one serves on.
            var cuts = new List<int>();
            var killedAt = TimeSpan.Zero;
            foreach (var (victimId, left) in new[] { ("r1-w1", 2), ("r1-w2", 1) })
            {
                var victimAddress = (await workers[victimId].WaitForLineAsync(@"is serving model 'tiny' at (\S+) ", StartTimeout)).Groups[1].Value;
                using var victim = TestSecret.WorkerClient(new Uri(victimAddress), TimeSpan.FromSeconds(10));
                var (since, generated) = (Stopwatch.StartNew(), await GeneratedTokensAsync(victim));
                await Wait.UntilAsync(
                    async () =>
                    {
                        if (since.ElapsedMilliseconds < 100)
                        {
                            return false;
                        }

                        var before = generated;
                        generated = await GeneratedTokensAsync(victim);
                        since.Restart();
                        var running = JsonNode.Parse(await victim.GetStringAsync("load"))!["running_requests"]!.GetValue<int>();
                        return running > 0 && generated >= before + 2;
                    },
                    () => $"{victimId} to be streaming",
                    TimeSpan.FromSeconds(20));
                workers[victimId].Kill();
                killedAt = clock.Elapsed;

                await load.WaitForMoreAsync(2 * Clients, $"after the kill of {victimId}");
                await WaitForHealthAsync(client, instances: left, TimeSpan.FromSeconds(20));
                await load.WaitForMoreAsync(Clients, $"once {victimId} left discovery");

                // The frontend logs each stream it moves, with the tokens it had streamed before the cut.
                cuts = WorkerFailedLine().Matches(frontend.Output).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
                output.WriteLine($"kill -9 {victimId} at {killedAt.TotalSeconds:F1} s; tokens streamed before each cut so far: [{string.Join(", ", cuts)}]");
                if (cuts.Any(tokens => tokens > 0))
                {
                    break;
                }
            }

            await load.StopAsync();
            var migrations = await MigrationsAsync(client);
            output.WriteLine(
                $"Streams: {load.Succeeded} whole and equal to the undisturbed run, {load.Failures.Count} lost, broken or different; " +
                $"{migrations} migrations, tokens streamed before each cut: [{string.Join(", ", cuts)}]. " +
                $"Processes up after {started.TotalSeconds:F1} s, last kill at {killedAt.TotalSeconds:F1} s, load stopped at {clock.Elapsed.TotalSeconds:F1} s.");
            Assert.True(load.Failures.Count == 0, $"{load.Failures.Count} streams failed:\n{string.Join("\n", load.Failures.Take(5))}");
            Assert.Contains(cuts, tokens => tokens > 0);
            Assert.Equal((double)cuts.Count, migrations);
        }
        finally
        {
            foreach (var worker in workers.Values)
            {
                await worker.DisposeAsync();
            }
        }
    }

    private static async Task<double> GeneratedTokensAsync(HttpClient worker)
    {
        var match = GeneratedTokensLine().Match(await worker.GetStringAsync("metrics"));
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    private static async Task<double> MigrationsAsync(HttpClient client)
    {
        var metrics = await client.GetStringAsync("metrics");
        var match = MigrationsLine().Match(metrics);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    private static async Task WaitForHealthAsync(HttpClient client, int instances, TimeSpan timeout)
    {
        var expected = $"\"instances\":{instances}";
        var last = "";
        await Wait.UntilAsync(
            async () =>
            {
                using var response = await client.GetAsync("health");
                last = await response.Content.ReadAsStringAsync();
                return last.Contains(expected, StringComparison.Ordinal);
            },
            () => $"the frontend's /health to report {instances} instances (last: {last})",
            timeout);
    }

    [GeneratedRegex(@"Worker r1-w\d failed request \S+ after (\d+) tokens")]
    private static partial Regex WorkerFailedLine();

    [GeneratedRegex(@"^dynamo_component_generated_tokens_total(?:\{[^}]*\})? (\S+)", RegexOptions.Multiline)]
    private static partial Regex GeneratedTokensLine();

    [GeneratedRegex(@"^dynamo_frontend_migrations_total\{[^}]*\} (\S+)", RegexOptions.Multiline)]
    private static partial Regex MigrationsLine();
}
