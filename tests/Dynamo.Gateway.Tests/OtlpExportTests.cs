using System.Net;
using System.Text;
using Dynamo.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// <c>Dynamo:Gateway:OtlpEndpoint</c>: the gateway's spans reach a real OTLP receiver (gRPC over HTTP/2, the exporter's
/// default protocol), here a Kestrel endpoint in the test that keeps what it is sent and answers as a collector does.
/// </summary>
public sealed class OtlpExportTests
{
    private const string TraceExportPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

    [Fact]
    public async Task OtlpEndpoint_TheRequestSpansArriveAtTheReceiver()
    {
        var received = new List<byte[]>();
        await using var receiver = await StartReceiverAsync(received);
        var endpoint = receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        await using (var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Gateway:OtlpEndpoint"] = endpoint }))
        {
            using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "trace me", max_tokens = 2 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Stopping the gateway flushes the batch exporter: by now the spans have been exported (or never will be).
        byte[][] exports;
        lock (received)
        {
            exports = [.. received];
        }

        Assert.NotEmpty(exports);
        var text = Encoding.UTF8.GetString([.. exports.SelectMany(e => e)]);
        Assert.Contains("Dynamo.Gateway", text); // the instrumentation scope of the gateway's own spans
        Assert.Contains("dynamo.request", text); // the span every completion gets
        Assert.Contains("/v1/completions", text); // the server span of the HTTP request
    }

    /// <summary>An OTLP/gRPC trace receiver on 127.0.0.1:0 (HTTP/2 without TLS): keeps each request body, answers OK.</summary>
    private static async Task<WebApplication> StartReceiverAsync(List<byte[]> received)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapPost(TraceExportPath, async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            lock (received)
            {
                received.Add(body.ToArray());
            }

            // An empty ExportTraceServiceResponse in one uncompressed gRPC frame, then status OK in the trailers.
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.WriteAsync(new byte[5]);
            context.Response.AppendTrailer("grpc-status", "0");
        });
        await app.StartAsync();
        return app;
    }
}
