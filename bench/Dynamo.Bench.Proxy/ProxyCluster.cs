using Dynamo.Cli.Configuration;

namespace Dynamo.Bench.Proxy;

/// <summary>The cluster P1, P2 and the allocation benchmark measure: one zero-delay mocker worker behind the gateway.</summary>
internal static class ProxyCluster
{
    public static ClusterSettings Settings() => ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?>
    {
        ["Dynamo:Gateway:Port"] = "0",
        ["Dynamo:Gateway:MaxConcurrentRequests"] = "100000",
        ["Dynamo:Serve:Engine"] = "mocker",
        ["Dynamo:Serve:Mode"] = "agg",
        ["Dynamo:Serve:Workers"] = "1",
        ["Dynamo:Mocker:ZeroDelay"] = "true",
    }));
}
