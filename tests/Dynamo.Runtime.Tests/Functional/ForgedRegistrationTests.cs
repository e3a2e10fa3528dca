using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Security;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;
using NATS.Net;

namespace Dynamo.Runtime.Tests.Functional;

/// <summary>
/// Issue 12, finding 2: a plain NATS client (no cluster secret) that puts a worker registration with its own address
/// into the discovery bucket gets no traffic. The gateway and two real workers run on a real nats-server; the forged
/// registrations are a copy of a real worker's record with the address changed, a record without a signature, and
/// one signed with another secret.
/// </summary>
public sealed class ForgedRegistrationTests(NatsServerFixture nats, ITestOutputHelper output) : IClassFixture<NatsServerFixture>
{
    private const int Requests = 30;

    [Fact]
    public async Task ForgedRegistrations_GetNoTraffic_AndAreLoggedAndCounted()
    {
        var log = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b
            .AddProvider(new TestOutputLoggerProvider(output, LogLevel.Warning))
            .AddProvider(log)
            .SetMinimumLevel(LogLevel.Warning)
            .AddFilter("NATS", LogLevel.Error));
        await using var cluster = await NatsTestCluster.StartAsync(nats.Server.Url, loggerFactory);
        var w1 = await cluster.AddWorkerAsync("w1");
        var w2 = await cluster.AddWorkerAsync("w2");
        var genuine = cluster.GatewayRuntime.Discovery.GetInstances().ToDictionary(i => i.InstanceId, i => i.Address);

        // The attacker's "worker": it would answer anything; it only counts the connections it gets.
        using var fake = new TcpListener(IPAddress.Loopback, 0);
        fake.Start();
        var fakeAddress = new Uri($"http://127.0.0.1:{((IPEndPoint)fake.LocalEndpoint).Port}/");
        var fakeConnections = 0;
        using var stopFake = new CancellationTokenSource();
        var acceptLoop = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    using var connection = await fake.AcceptTcpClientAsync(stopFake.Token);
                    Interlocked.Increment(ref fakeConnections);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        // A plain client on the same server and bucket, without the secret.
        await using var attacker = new NatsConnection(new NatsOpts { Url = nats.Server.Url });
        var bucket = await attacker.CreateKeyValueStoreContext().GetStoreAsync(cluster.Options.DiscoveryBucket());
        var copied = (await bucket.GetEntryAsync<byte[]>("backend.w1", serializer: NatsRawSerializer<byte[]>.Default)).Value!;
        var w1Record = JsonNode.Parse(copied)!;
        var withOwnAddress = w1Record.DeepClone();
        withOwnAddress["instance"]!["address"] = fakeAddress.ToString();
        var unsigned = withOwnAddress.DeepClone();
        unsigned["instance"]!["instance_id"] = "fake-unsigned";
        unsigned.AsObject().Remove("signature");
        var instance = new Contracts.Discovery.WorkerInstance
        {
            InstanceId = "fake-signed",
            Model = cluster.GatewayRuntime.Discovery.GetInstances()[0].Model,
            Role = Contracts.WorkerRole.Aggregated,
            Address = fakeAddress,
        };
        var wrongSecret = new DiscoveryRecord(instance, 10_000).Encode("backend.fake-signed", ClusterSecret.Generate());

        // The bucket keeps one revision a key, so a put the gateway's watcher has not read before the next put to the
        // same key replaces it is never delivered (on a loaded machine the watcher lags): each put is awaited.
        var rejections = cluster.GatewayRuntime.Rejections;
        string Counts() => string.Join(", ", rejections.Snapshot().Select(c => $"{c.Kind}/{c.Reason} {c.Count}"));
        async Task<bool> PutAndAwaitAsync(string key, byte[] value, TimeSpan? timeout = null)
        {
            var before = rejections.Count(SignatureRejections.Discovery);
            await bucket.PutAsync(key, value, NatsRawSerializer<byte[]>.Default);
            return await Wait.TryUntilAsync(() => rejections.Count(SignatureRejections.Discovery) > before, timeout ?? TimeSpan.FromSeconds(30));
        }

        for (var i = 0; i < 5; i++)
        {
            // Repeated, as a heartbeat would be: one log line per key, every attempt counted.
            Assert.True(await PutAndAwaitAsync("backend.fake-unsigned", System.Text.Encoding.UTF8.GetBytes(unsigned.ToJsonString())), $"put {i + 1} of backend.fake-unsigned was not rejected: {Counts()}");
        }

        Assert.True(await PutAndAwaitAsync("backend.fake-copied", System.Text.Encoding.UTF8.GetBytes(withOwnAddress.ToJsonString().Replace("\"w1\"", "\"fake-copied\"", StringComparison.Ordinal))), $"backend.fake-copied was not rejected: {Counts()}");
        Assert.True(await PutAndAwaitAsync("backend.fake-signed", wrongSecret), $"backend.fake-signed was not rejected: {Counts()}");
        // w1's own heartbeat (every 500 ms here) puts its genuine record back over the forged one, so the attacker
        // keeps putting it, as a real one would, until the gateway has read one.
        var forgedW1 = System.Text.Encoding.UTF8.GetBytes(withOwnAddress.ToJsonString());
        var tries = 0;
        while (!await PutAndAwaitAsync("backend.w1", forgedW1, TimeSpan.FromSeconds(2)))
        {
            Assert.True(++tries < 30, $"no forged put of backend.w1 reached the gateway in 30 tries: {Counts()}");
        }

        // Round-robin: a forged registration in the view would get a third of these.
        for (var i = 0; i < Requests; i++)
        {
            using var response = await cluster.Client.PostAsJsonAsync("v1/completions", new { model = instance.Model, prompt = $"request {i}", max_tokens = 2 });
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(0, Volatile.Read(ref fakeConnections));
        Assert.Equal(Requests, w1.Requests + w2.Requests);
        Assert.True(w1.Requests > 0 && w2.Requests > 0, $"w1 {w1.Requests}, w2 {w2.Requests}");
        var view = cluster.GatewayRuntime.Discovery.GetInstances().ToDictionary(i => i.InstanceId, i => i.Address);
        Assert.Equal(genuine, view);

        var metrics = await cluster.Client.GetStringAsync("metrics");
        output.WriteLine(string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("dynamo_frontend_rejected", StringComparison.Ordinal))));
        Assert.Contains("dynamo_frontend_rejected_signed_records_total{kind=\"discovery\",reason=\"unsigned\"} 5", metrics, StringComparison.Ordinal);
        Assert.Matches("dynamo_frontend_rejected_signed_records_total\\{kind=\"discovery\",reason=\"bad_signature\"\\} [3-9]", metrics);
        // The gateway and both workers watch the bucket, and each logs a forged key once (5 puts of fake-unsigned included).
        const int Observers = 3;
        var lines = log.Entries.Where(e => e.Contains("Ignored discovery record", StringComparison.Ordinal)).ToList();
        Assert.Equal(Observers, lines.Count(l => l.Contains("backend.fake-unsigned", StringComparison.Ordinal) && l.Contains(": unsigned;", StringComparison.Ordinal)));
        Assert.Equal(Observers, lines.Count(l => l.Contains("backend.fake-signed", StringComparison.Ordinal) && l.Contains(": bad_signature;", StringComparison.Ordinal)));
        Assert.Equal(Observers, lines.Count(l => l.Contains("backend.fake-copied", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.Contains("backend.w1 ", StringComparison.Ordinal) && l.Contains(fakeAddress.ToString(), StringComparison.Ordinal));

        await stopFake.CancelAsync();
        await acceptLoop;
    }
}
