using System.Diagnostics;
using Dynamo.Runtime.Tracing;

namespace Dynamo.Runtime.Tests.Events;

public sealed class TraceContextTests
{
    [Fact]
    public void InjectThenExtract_RoundTripsW3CContext()
    {
        using var activity = new Activity("op").SetIdFormat(ActivityIdFormat.W3C).Start();
        activity.TraceStateString = "k=v";
        var headers = new Dictionary<string, string>();

        TraceContext.Inject(activity, headers, static (h, name, value) => h[name] = value);
        var context = TraceContext.Extract(headers, static (h, name) => h.GetValueOrDefault(name));

        Assert.StartsWith("00-" + activity.TraceId, headers[TraceContext.TraceParent], StringComparison.Ordinal);
        Assert.Equal(activity.TraceId, context.TraceId);
        Assert.Equal(activity.SpanId, context.SpanId);
        Assert.Equal("k=v", context.TraceState);
        Assert.True(context.IsRemote);
    }

    [Fact]
    public void Extract_WithoutOrWithBadHeaders_IsDefault()
    {
        Assert.Equal(default, TraceContext.Extract(new Dictionary<string, string>(), static (h, name) => h.GetValueOrDefault(name)));
        Assert.Equal(default, TraceContext.Extract(
            new Dictionary<string, string> { [TraceContext.TraceParent] = "garbage" },
            static (h, name) => h.GetValueOrDefault(name)));
    }

    [Fact]
    public void Inject_WithoutActivity_WritesNothing()
    {
        var headers = new Dictionary<string, string>();

        TraceContext.Inject<Dictionary<string, string>>(null, headers, static (h, name, value) => h[name] = value);

        Assert.Empty(headers);
    }
}
