using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Dynamo.Runtime.Observability;
using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

public sealed class TelemetryTests
{
    [Fact]
    public async Task Request_StartsAWorkerActivityInTheCallersTrace()
    {
        var traceId = ActivityTraceId.CreateRandom();
        var parentSpanId = ActivitySpanId.CreateRandom();
        var seen = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == Telemetry.WorkerSourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == traceId)
                {
                    seen.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var w = await TestWorker.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent("""{"model":"test-model","prompt":[1,2,3],"max_tokens":2}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{parentSpanId}-01");
        request.Headers.Add("x-request-id", "traced-1");

        using var response = await w.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();

        await Wait.UntilAsync(() => !seen.IsEmpty, "the worker's activity to stop");
        var activity = Assert.Single(seen);
        Assert.Equal(traceId, activity.TraceId);
        Assert.Equal("traced-1", activity.GetTagItem("dynamo.request_id"));
        Assert.Equal(3, activity.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(2, activity.GetTagItem("gen_ai.usage.output_tokens"));
    }
}
