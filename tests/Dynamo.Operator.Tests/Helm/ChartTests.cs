using System.Text.Json.Nodes;
using Dynamo.DevCluster.Tests.Infrastructure;
using Dynamo.Operator.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests.Helm;

/// <summary>
/// The charts under <c>charts/</c>, checked with the real helm binaries (Helm 4 and Helm 3): lint, rendering against
/// golden files for the defaults and variants, the values schemas refusing bad values with a message naming the
/// value, and every rendered object accepted by the one-machine API server (the CRD schema enforced).
/// </summary>
public sealed class ChartTests(ITestOutputHelper output)
{
    /// <summary>Release, chart, variant name and --set values: the defaults and three variants of each chart.</summary>
    public static readonly (string Release, string Chart, string Variant, string[] Sets)[] Variants =
    [
        ("dynamo", "dynamo-platform", "defaults", []),
        ("dynamo", "dynamo-platform", "namespaced-ha", ["operator.watchNamespace=inference", "operator.replicas=2", "operator.workers=4"]),
        ("dynamo", "dynamo-platform", "no-nats-no-dashboard", ["nats.enabled=false", "dashboard.enabled=false", "rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=ops"]),
        ("dynamo", "dynamo-platform", "monitors", ["metrics.serviceMonitor.enabled=true", "metrics.podMonitor.enabled=true", "image.repository=registry.example/dynamo", "image.tag=0.1.0-rc1"]),
        ("g", "dynamo-graph", "defaults", ["engine=mocker"]),
        ("g", "dynamo-graph", "agg", ["mode=agg", "worker.replicas=3", "frontend.service.nodePort=30123", "config.mocker.maxNumSeqs=8"]),
        ("g", "dynamo-graph", "planner-shared-nats", ["planner.enabled=true", "planner.policy=threshold", "planner.profile=configs/profiles/h100-70b/profile.json", "planner.gpuBudget=8", "nats.url=nats://dynamo-nats.default.svc:4222", "decode.replicas=2"]),
        ("llama", "dynamo-graph", "dotnet-sla-gpu", ["engine=dotnet", "model.preset=", "model.path=/models/llama-3-8b", "model.servedModelName=llama-3-8b", "frontend.service.type=ClusterIP",
            "decode.resources.limits.nvidia\\.com/gpu=1", "prefill.resources.limits.nvidia\\.com/gpu=1", "planner.enabled=true", "planner.profile=/profiles/h100/profile.json", "planner.sla.ttftMs=300"]),
    ];

    public static TheoryData<string> Majors => new() { HelmCli.V4, HelmCli.V3 };

    public static TheoryData<string, string> VariantKeys()
    {
        var data = new TheoryData<string, string>();
        foreach (var v in Variants) data.Add(v.Chart, v.Variant);
        return data;
    }

    [Theory]
    [MemberData(nameof(Majors))]
    public async Task Lint_BothCharts_Pass(string major)
    {
        foreach (var chart in new[] { "dynamo-platform", "dynamo-graph" })
        {
            var result = await HelmCli.RunAsync(major, null, Home(), "lint", "--strict", HelmCli.Chart(chart));
            Assert.True(result.ExitCode == 0, $"helm {major} lint --strict {chart}: {result.All}");
            Assert.Contains("0 chart(s) failed", result.All, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(VariantKeys))]
    public async Task Template_MatchesTheGoldenFile_WithHelm4_AndHelm3RendersTheSame(string chart, string variant)
    {
        var v = Variants.Single(x => x.Chart == chart && x.Variant == variant);
        var rendered = await RenderAsync(HelmCli.V4, v);
        var golden = RepoFiles.Path("tests", "Dynamo.Operator.Tests", "Golden", "helm", $"{chart}-{variant}.yaml");
        if (RepoFiles.Update)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(golden)!);
            await File.WriteAllTextAsync(golden, rendered);
        }
        Assert.True(File.Exists(golden), $"no golden file {golden}: write it with {RepoFiles.UpdateVariable}=1");
        Assert.Equal(await File.ReadAllTextAsync(golden), rendered);
        Assert.Equal(rendered, await RenderAsync(HelmCli.V3, v));
    }

    [Theory]
    [InlineData("dynamo-platform", "operator.replicas=0", "operator", "replicas")]
    [InlineData("dynamo-platform", "operator.watchNamespace=Not_A_Namespace", "operator", "watchNamespace")]
    [InlineData("dynamo-platform", "nats.jetstream.maxFile=lots", "jetstream", "maxFile")]
    [InlineData("dynamo-platform", "operator.colour=blue", "operator", "colour")]
    [InlineData("dynamo-graph", "mode=both", "mode", "agg")]
    [InlineData("dynamo-graph", "engine=vllm", "engine", "mocker")]
    [InlineData("dynamo-graph", "decode.replicas=-1", "decode", "replicas")]
    [InlineData("dynamo-graph", "frontend.service.nodePort=80", "frontend", "nodePort")]
    [InlineData("dynamo-graph", "planner.loadInterval=10s", "planner", "loadInterval")]
    [InlineData("dynamo-graph", "nats.url=localhost:4222", "nats", "url")]
    public async Task Schema_RefusesBadValues_NamingTheValue(string chart, string set, string part, string field)
    {
        foreach (var major in new[] { HelmCli.V4, HelmCli.V3 })
        {
            var result = await HelmCli.RunAsync(major, null, Home(), "template", "x", HelmCli.Chart(chart), "--set", set);
            Assert.True(result.ExitCode != 0, $"helm {major} template {chart} --set {set} succeeded: {result.Stdout}");
            Assert.Contains("schema", result.Stderr, StringComparison.Ordinal);
            Assert.Contains(part, result.Stderr, StringComparison.Ordinal);
            Assert.Contains(field, result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("kind:", result.Stdout, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("model.path=/models/m", "both set")]
    [InlineData("model.preset=", "set model.preset")]
    [InlineData("planner.enabled=true", "planner.enabled needs planner.profile")]
    public async Task GraphChart_RefusesContradictoryValues_WithTheFix(string set, string message)
    {
        foreach (var major in new[] { HelmCli.V4, HelmCli.V3 })
        {
            var result = await HelmCli.RunAsync(major, null, Home(), "template", "g", HelmCli.Chart("dynamo-graph"), "--set", set);
            Assert.True(result.ExitCode != 0, $"helm {major} template --set {set} succeeded");
            Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task EveryRenderedObject_OfEveryVariant_IsAcceptedByTheApiServer()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        var dir = Path.GetDirectoryName(cluster.Kubeconfig)!;
        // What a cluster with the Prometheus Operator serves, for the monitors variant.
        await File.WriteAllTextAsync(Path.Combine(dir, "monitoring-crds.yaml"), MonitoringCrds);
        await KubectlOk(cluster.Kubeconfig, dir, "apply", "-f", Path.Combine(dir, "monitoring-crds.yaml"));
        await KubectlOk(cluster.Kubeconfig, dir, "create", "namespace", "inference");
        foreach (var v in Variants)
        {
            var file = Path.Combine(dir, $"{v.Chart}-{v.Variant}.yaml");
            await File.WriteAllTextAsync(file, await RenderAsync(HelmCli.V4, v));
            var applied = await KubectlOk(cluster.Kubeconfig, dir, "apply", "--server-side", "--field-manager", "helm-test", "-f", file);
            Assert.DoesNotContain("error", applied.All, StringComparison.OrdinalIgnoreCase);
            await KubectlOk(cluster.Kubeconfig, dir, "delete", "-f", file, "--wait=false");
        }
    }

    private async Task<string> RenderAsync(string major, (string Release, string Chart, string Variant, string[] Sets) v)
    {
        var args = new List<string> { "template", v.Release, HelmCli.Chart(v.Chart), "--namespace", "default" };
        foreach (var s in v.Sets) args.AddRange(["--set", s]);
        var result = await HelmCli.RunAsync(major, null, Home(), [.. args]);
        Assert.True(result.ExitCode == 0, $"helm {major} template {v.Chart} ({v.Variant}): {result.All}");
        return result.Stdout;
    }

    private static string Home() => Path.Combine(Path.GetTempPath(), "dynamo-helm-tests", Guid.NewGuid().ToString("N"));

    private static async Task<Kubectl.Result> KubectlOk(string kubeconfig, string dir, params string[] args)
    {
        var result = await Kubectl.RunAsync(kubeconfig, dir, args);
        Assert.True(result.ExitCode == 0, $"kubectl {string.Join(' ', args)}: {result.All}");
        return result;
    }

    private const string MonitoringCrds = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: servicemonitors.monitoring.coreos.com}
        spec:
          group: monitoring.coreos.com
          scope: Namespaced
          names: {kind: ServiceMonitor, plural: servicemonitors, singular: servicemonitor, listKind: ServiceMonitorList}
          versions:
          - name: v1
            served: true
            storage: true
            schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
        ---
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: podmonitors.monitoring.coreos.com}
        spec:
          group: monitoring.coreos.com
          scope: Namespaced
          names: {kind: PodMonitor, plural: podmonitors, singular: podmonitor, listKind: PodMonitorList}
          versions:
          - name: v1
            served: true
            storage: true
            schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
        """;
}
