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

        for (var i = 0; i < 5; i++)
        {
            // Repeated, as a heartbeat would be: one log line per key, every attempt counted.
            await bucket.PutAsync("backend.fake-unsigned", System.Text.Encoding.UTF8.GetBytes(unsigned.ToJsonString()), NatsRawSerializer<byte[]>.Default);
        }

        await bucket.PutAsync("backend.fake-copied", System.Text.Encoding.UTF8.GetBytes(withOwnAddress.ToJsonString().Replace("\"w1\"", "\"fake-copied\"", StringComparison.Ordinal)), NatsRawSerializer<byte[]>.Default);
        await bucket.PutAsync("backend.w1", System.Text.Encoding.UTF8.GetBytes(withOwnAddress.ToJsonString()), NatsRawSerializer<byte[]>.Default);
        await bucket.PutAsync("backend.fake-signed", wrongSecret, NatsRawSerializer<byte[]>.Default);
        var rejections = cluster.GatewayRuntime.Rejections;
        await Wait.UntilAsync(() => rejections.Count(SignatureRejections.Discovery) >= 8, "the gateway to reject the 8 forged puts");

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
