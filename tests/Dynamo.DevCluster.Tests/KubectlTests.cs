using Dynamo.DevCluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>The real kubectl v1.35 against the dev API server: apply, get (Table and YAML), describe, scale, delete.</summary>
public sealed class KubectlTests(ITestOutputHelper output)
{
    private const string Crd = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: graphs.test.dynamo.dev
        spec:
          group: test.dynamo.dev
          scope: Namespaced
          names: {plural: graphs, singular: graph, kind: Graph, shortNames: [gr]}
          versions:
          - name: v1alpha1
            served: true
            storage: true
            subresources:
              status: {}
              scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
            additionalPrinterColumns:
            - {name: Model, type: string, jsonPath: .spec.model}
            - {name: Replicas, type: integer, jsonPath: .spec.replicas}
            - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
            schema:
              openAPIV3Schema:
                type: object
                properties:
                  spec:
                    type: object
                    required: [model]
                    properties:
                      model: {type: string}
                      replicas: {type: integer, minimum: 0, default: 1}
                      components:
                        type: object
                        additionalProperties:
                          type: object
                          properties:
                            replicas: {type: integer, minimum: 0}
                  status:
                    type: object
                    properties:
                      replicas: {type: integer}
        """;

    private sealed class Session : IAsyncDisposable
    {
        private readonly ITestOutputHelper _output;

        private Session(TestApiServer server, ITestOutputHelper output, string dir)
        {
            Server = server;
            _output = output;
            Dir = dir;
        }

        public TestApiServer Server { get; }
        public string Dir { get; }

        public static async Task<Session> StartAsync(ITestOutputHelper output)
        {
            var server = await TestApiServer.StartAsync(output);
            var dir = Path.GetDirectoryName(server.Kubeconfig)!;
            return new Session(server, output, dir);
        }

        public string Write(string name, string yaml)
        {
            var path = Path.Combine(Dir, name);
            File.WriteAllText(path, yaml);
            return path;
        }

        public async Task<Kubectl.Result> RunAsync(params string[] args)
        {
            var result = await Kubectl.RunAsync(Server.Kubeconfig, Dir, args);
            _output.WriteLine($"$ kubectl {string.Join(' ', args)}  (exit {result.ExitCode})\n{result.Stdout}{result.Stderr}");
            return result;
        }

        public async Task<string> OkAsync(params string[] args)
        {
            var result = await RunAsync(args);
            Assert.True(result.ExitCode == 0, $"kubectl {string.Join(' ', args)} failed ({result.ExitCode}): {result.All}");
            return result.Stdout;
        }

        public ValueTask DisposeAsync() => Server.DisposeAsync();
    }

    private static string Graph(string spec) => $$"""
        apiVersion: test.dynamo.dev/v1alpha1
        kind: Graph
        metadata:
          name: g
          labels: {app: demo}
        spec:
        {{spec}}
        """;

    [Fact]
    public async Task Create_SendsProtobufForBuiltInKinds_WhichTheServerDecodes()
    {
        // kubectl create (client-go's typed clients, as Helm's release storage) sends application/vnd.kubernetes.protobuf.
        await using var s = await Session.StartAsync(output);
        await s.OkAsync("create", "namespace", "proto");
        await s.OkAsync("create", "configmap", "settings", "-n", "proto", "--from-literal=mode=fast", "--from-literal=level=3");
        await s.OkAsync("create", "secret", "generic", "token", "-n", "proto", "--from-literal=key=s3cret", "--type=example.com/token");
        await s.OkAsync("label", "secret", "token", "-n", "proto", "owner=helm");
        Assert.Equal("fast 3", await s.OkAsync("get", "configmap", "settings", "-n", "proto", "-o", "jsonpath={.data.mode} {.data.level}"));
        Assert.Equal(Convert.ToBase64String("s3cret"u8.ToArray()) + " example.com/token helm",
            await s.OkAsync("get", "secret", "token", "-n", "proto", "-o", "jsonpath={.data.key} {.type} {.metadata.labels.owner}"));
        await s.OkAsync("delete", "configmap", "settings", "-n", "proto");
        Assert.NotEqual(0, (await s.RunAsync("get", "configmap", "settings", "-n", "proto")).ExitCode);
    }

    [Fact]
    public async Task Apply_CrdThenCustomResource_ThenGetDescribeAndYaml()
    {
        await using var s = await Session.StartAsync(output);

        Assert.Contains("customresourcedefinition.apiextensions.k8s.io/graphs.test.dynamo.dev created", await s.OkAsync("apply", "-f", s.Write("crd.yaml", Crd)), StringComparison.Ordinal);
        Assert.Contains("graph.test.dynamo.dev/g created", await s.OkAsync("apply", "-f", s.Write("g.yaml", Graph("  model: llama\n  components:\n    decode: {replicas: 2}"))), StringComparison.Ordinal);

        var table = (await s.OkAsync("get", "graphs")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^NAME\s+MODEL\s+REPLICAS\s+AGE$", table[0]);
        Assert.Matches(@"^g\s+llama\s+1\s+\d+s$", table[1]);

        var yaml = await s.OkAsync("get", "gr", "g", "-o", "yaml");
        Assert.Contains("apiVersion: test.dynamo.dev/v1alpha1", yaml, StringComparison.Ordinal);
        Assert.Contains("replicas: 1", yaml, StringComparison.Ordinal);
        Assert.Contains("kubectl.kubernetes.io/last-applied-configuration", yaml, StringComparison.Ordinal);
        Assert.Contains("uid: ", yaml, StringComparison.Ordinal);

        var describe = await s.OkAsync("describe", "graph", "g");
        Assert.Matches(@"Name:\s+g", describe);
        Assert.Matches(@"Labels:\s+app=demo", describe);
        Assert.Matches(@"Model:\s+llama", describe);
        Assert.Matches(@"Events:\s+<none>", describe);

        var crds = await s.OkAsync("get", "crd");
        Assert.Matches(@"graphs\.test\.dynamo\.dev\s+\d{4}-\d\d-\d\dT", crds);
    }

    [Fact]
    public async Task Scale_ThroughTheScaleSubresource()
    {
        await using var s = await Session.StartAsync(output);
        await s.OkAsync("apply", "-f", s.Write("crd.yaml", Crd));
        await s.OkAsync("apply", "-f", s.Write("g.yaml", Graph("  model: llama")));

        Assert.Contains("graph.test.dynamo.dev/g scaled", await s.OkAsync("scale", "graph", "g", "--replicas=3"), StringComparison.Ordinal);

        Assert.Equal("3", await s.OkAsync("get", "graph", "g", "-o", "jsonpath={.spec.replicas}"));
    }

    [Fact]
    public async Task ApplyAgainAfterAnEdit_ThreeWayMerge_RemovesDroppedFieldsAndKeepsOthersWrites()
    {
        await using var s = await Session.StartAsync(output);
        await s.OkAsync("apply", "-f", s.Write("crd.yaml", Crd));
        var path = s.Write("g.yaml", Graph("  model: llama\n  components:\n    decode: {replicas: 2}\n    prefill: {replicas: 1}"));
        await s.OkAsync("apply", "-f", path);
        // Another writer (a scaler) changes a field the manifest never set.
        await s.OkAsync("scale", "graph", "g", "--replicas=4");

        s.Write("g.yaml", Graph("  model: mistral\n  components:\n    decode: {replicas: 3}"));
        Assert.Contains("graph.test.dynamo.dev/g configured", await s.OkAsync("apply", "-f", path), StringComparison.Ordinal);

        Assert.Equal("mistral 3 4 <none>", await s.OkAsync("get", "graph", "g", "-o",
            "jsonpath={.spec.model} {.spec.components.decode.replicas} {.spec.replicas} {.spec.components.prefill}{\"<none>\"}"));
        Assert.Contains("graph.test.dynamo.dev/g unchanged", await s.OkAsync("apply", "-f", path), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerSideApply_CreatesUpdatesAndDropsFields_AndConflictsBetweenManagers()
    {
        await using var s = await Session.StartAsync(output);
        await s.OkAsync("apply", "--server-side", "-f", s.Write("crd.yaml", Crd));
        var path = s.Write("g.yaml", Graph("  model: llama\n  components:\n    decode: {replicas: 2}\n    prefill: {replicas: 1}"));

        Assert.Contains("graph.test.dynamo.dev/g serverside-applied", await s.OkAsync("apply", "--server-side", "-f", path), StringComparison.Ordinal);
        s.Write("g.yaml", Graph("  model: llama\n  components:\n    decode: {replicas: 3}"));
        await s.OkAsync("apply", "--server-side", "-f", path);
        Assert.Equal("3 <none>", await s.OkAsync("get", "graph", "g", "-o", "jsonpath={.spec.components.decode.replicas} {.spec.components.prefill}{\"<none>\"}"));

        s.Write("other.yaml", Graph("  model: mistral"));
        var conflict = await s.RunAsync("apply", "--server-side", "--field-manager=someone-else", "-f", Path.Combine(s.Dir, "other.yaml"));
        Assert.NotEqual(0, conflict.ExitCode);
        Assert.Contains("conflict with \"kubectl\"", conflict.Stderr, StringComparison.Ordinal);
        Assert.Contains(".spec.model", conflict.Stderr, StringComparison.Ordinal);
        await s.OkAsync("apply", "--server-side", "--force-conflicts", "--field-manager=someone-else", "-f", Path.Combine(s.Dir, "other.yaml"));
        Assert.Equal("mistral", await s.OkAsync("get", "graph", "g", "-o", "jsonpath={.spec.model}"));
    }

    [Fact]
    public async Task InvalidResource_IsRejectedNamingTheField()
    {
        await using var s = await Session.StartAsync(output);
        await s.OkAsync("apply", "-f", s.Write("crd.yaml", Crd));

        var invalid = await s.RunAsync("apply", "-f", s.Write("bad.yaml", Graph("  model: llama\n  components:\n    decode: {replicas: -1}")));
        var unknown = await s.RunAsync("apply", "-f", s.Write("unknown.yaml", Graph("  model: llama\n  colour: blue")));

        Assert.NotEqual(0, invalid.ExitCode);
        Assert.Contains("spec.components.decode.replicas", invalid.Stderr, StringComparison.Ordinal);
        Assert.Contains("should be greater than or equal to 0", invalid.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("unknown field \"spec.colour\"", unknown.Stderr, StringComparison.Ordinal);
        Assert.Contains("No resources found", (await s.RunAsync("get", "graphs")).All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_RemovesTheResource_AndTheCrd()
    {
        await using var s = await Session.StartAsync(output);
        var crd = s.Write("crd.yaml", Crd);
        await s.OkAsync("apply", "-f", crd);
        await s.OkAsync("apply", "-f", s.Write("g.yaml", Graph("  model: llama")));

        Assert.Contains("graph.test.dynamo.dev \"g\" deleted", await s.OkAsync("delete", "graph", "g"), StringComparison.Ordinal);
        Assert.Contains("No resources found", (await s.RunAsync("get", "graphs")).All, StringComparison.Ordinal);
        Assert.Contains("deleted", await s.OkAsync("delete", "-f", crd), StringComparison.Ordinal);
        Assert.NotEqual(0, (await s.RunAsync("get", "graphs")).ExitCode);
    }

    [Fact]
    public async Task BuiltInKinds_ApplyGetScaleDescribeEditDelete()
    {
        await using var s = await Session.StartAsync(output);
        var manifest = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
            spec:
              replicas: 2
              selector:
                matchLabels: {app: web}
              template:
                metadata:
                  labels: {app: web}
                spec:
                  containers:
                  - name: main
                    image: dynamo:1
                    env:
                    - {name: A, value: "1"}
                    - {name: B, value: "2"}
                  - name: sidecar
                    image: side:1
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: web
            spec:
              type: NodePort
              selector: {app: web}
              ports:
              - port: 8000
            """;
        var path = s.Write("web.yaml", manifest);

        var applied = await s.OkAsync("apply", "-f", path);
        Assert.Contains("deployment.apps/web created", applied, StringComparison.Ordinal);
        Assert.Contains("service/web created", applied, StringComparison.Ordinal);

        var get = (await s.OkAsync("get", "deploy,svc")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$", get[0]);
        Assert.Matches(@"^deployment\.apps/web\s+0/2\s+0\s+0\s+\d+s$", get[1]);
        Assert.Matches(@"^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$", get[2]);
        Assert.Matches(@"^service/web\s+NodePort\s+127\.96\.\d+\.\d+\s+<none>\s+8000:3\d{4}/TCP\s+\d+s$", get[3]);

        Assert.Contains("deployment.apps/web scaled", await s.OkAsync("scale", "deployment", "web", "--replicas=4"), StringComparison.Ordinal);
        Assert.Equal("4", await s.OkAsync("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"));

        // Strategic three-way merge: the sidecar dropped, env B changed, the scaled replicas replaced by the manifest's.
        s.Write("web.yaml", manifest.Replace("value: \"2\"", "value: \"3\"", StringComparison.Ordinal)
            .Replace("      - name: sidecar\n        image: side:1\n", "", StringComparison.Ordinal));
        Assert.Contains("deployment.apps/web configured", await s.OkAsync("apply", "-f", path), StringComparison.Ordinal);
        Assert.Equal("main A=1,B=3, 2", await s.OkAsync("get", "deploy", "web", "-o",
            "jsonpath={.spec.template.spec.containers[*].name} {range .spec.template.spec.containers[0].env[*]}{.name}={.value},{end} {.spec.replicas}"));

        var describe = await s.OkAsync("describe", "deployment", "web");
        Assert.Matches(@"Replicas:\s+2 desired", describe);
        Assert.Matches(@"Selector:\s+app=web", describe);
        Assert.Matches(@"StrategyType:\s+RollingUpdate", describe);

        var deleted = await s.OkAsync("delete", "-f", path);
        Assert.Contains("deployment.apps \"web\" deleted", deleted, StringComparison.Ordinal);
        Assert.Contains("No resources found", (await s.RunAsync("get", "deploy,svc")).All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_CrdAndResourceInOneFile_BehavesAsOnARealCluster()
    {
        await using var s = await Session.StartAsync(output);
        var path = s.Write("both.yaml", Crd + "\n---\n" + Graph("  model: llama"));

        // kubectl maps every object before creating any: the CRD goes in, its kind is not known yet (as on a real
        // cluster), and validating the resource does not fail on the server's OpenAPI.
        var first = await s.RunAsync("apply", "-f", path);
        var second = await s.OkAsync("apply", "-f", path);

        Assert.Contains("customresourcedefinition.apiextensions.k8s.io/graphs.test.dynamo.dev created", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("no matches for kind \"Graph\"", first.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("error validating", first.Stderr, StringComparison.Ordinal);
        Assert.Contains("graph.test.dynamo.dev/g created", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ShowsTheRealColumnsOfBuiltInKinds()
    {
        await using var s = await Session.StartAsync(output);
        await s.OkAsync("apply", "-f", s.Write("objects.yaml", """
            apiVersion: v1
            kind: Pod
            metadata: {name: p1}
            spec:
              nodeName: local
              containers: [{name: main, image: dynamo:1}]
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cfg}
            data: {a: "1", b: "2"}
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: sec}
            stringData: {pw: x}
            ---
            apiVersion: coordination.k8s.io/v1
            kind: Lease
            metadata: {name: op}
            spec: {holderIdentity: op-1}
            """));
        var uid = await s.OkAsync("get", "pod", "p1", "-o", "jsonpath={.metadata.uid}");
        await s.OkAsync("apply", "-f", s.Write("event.yaml", $$"""
            apiVersion: v1
            kind: Event
            metadata: {name: p1.1}
            involvedObject: {kind: Pod, name: p1, namespace: default, uid: {{uid}}}
            reason: Started
            message: process up
            type: Normal
            """));
        await s.OkAsync("patch", "pod", "p1", "--subresource=status", "--type=merge", "-p",
            """{"status":{"phase":"Running","podIP":"127.0.0.1","containerStatuses":[{"name":"main","ready":true,"restartCount":2,"image":"dynamo:1","imageID":"","state":{"running":{}}}]}}""");

        Assert.Matches(@"(?m)^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s*\np1\s+1/1\s+Running\s+2\s+\d+s\s+127\.0\.0\.1\s+local",
            await s.OkAsync("get", "pods", "-o", "wide"));
        Assert.Matches(@"cfg\s+2\s+\d+s", await s.OkAsync("get", "configmap", "cfg"));
        Assert.Matches(@"sec\s+Opaque\s+1\s+\d+s", await s.OkAsync("get", "secret", "sec"));
        Assert.Matches(@"op\s+op-1\s+\d+s", await s.OkAsync("get", "lease", "op"));
        Assert.Matches(@"\d+s\s+Normal\s+Started\s+pod/p1\s+process up", await s.OkAsync("get", "events"));
        Assert.Matches(@"Events:[\s\S]*Started", await s.OkAsync("describe", "pod", "p1"));
    }

    [Fact]
    public async Task VersionAndApiResources_ShowTheServer()
    {
        await using var s = await Session.StartAsync(output);
        await s.OkAsync("apply", "-f", s.Write("crd.yaml", Crd));

        Assert.Contains("Server Version: v1.35.0", await s.OkAsync("version"), StringComparison.Ordinal);
        var resources = await s.OkAsync("api-resources");
        Assert.Matches(@"graphs\s+gr\s+test\.dynamo\.dev/v1alpha1\s+true\s+Graph", resources);
        Assert.Matches(@"leases\s+coordination\.k8s\.io/v1\s+true\s+Lease", resources);
        Assert.Contains("default", await s.OkAsync("get", "namespaces"), StringComparison.Ordinal);
    }
}
