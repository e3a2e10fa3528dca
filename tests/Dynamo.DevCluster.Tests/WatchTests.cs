using System.Text.Json;
using System.Threading.Channels;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>Watch streams through KubernetesClient's watcher and on the raw wire: resume, 410, bookmarks, selectors.</summary>
public sealed class WatchTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static V1ConfigMap ConfigMap(string name, string? app = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = app is null ? null : new Dictionary<string, string> { ["app"] = app } },
        Data = new Dictionary<string, string> { ["k"] = "1" },
    };

    /// <summary>Runs a KubernetesClient watch into a channel of (type, name, resourceVersion) and errors.</summary>
    private sealed class Watch : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _pump;

        public Watch(Func<Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType, V1ConfigMap)>> open)
        {
            _pump = Task.Run(async () =>
            {
                try
                {
                    await foreach (var (type, cm) in open(e => Errors.Writer.TryWrite(e), _cts.Token))
                    {
                        await Events.Writer.WriteAsync((type, cm.Metadata.Name, cm.Metadata.ResourceVersion, cm));
                    }
                }
                catch (OperationCanceledException)
                {
                    // Disposed.
                }
                finally
                {
                    Events.Writer.TryComplete();
                }
            });
        }

        public Channel<(WatchEventType Type, string? Name, string Rv, V1ConfigMap Obj)> Events { get; } = Channel.CreateUnbounded<(WatchEventType, string?, string, V1ConfigMap)>();
        public Channel<Exception> Errors { get; } = Channel.CreateUnbounded<Exception>();

        public async Task<(WatchEventType Type, string? Name, string Rv, V1ConfigMap Obj)> NextAsync(string what)
        {
            using var cts = new CancellationTokenSource(Wait);
            try
            {
                return await Events.Reader.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no watch event within {Wait.TotalSeconds} s while waiting for {what}");
            }
        }

        public async Task<(WatchEventType Type, string? Name, string Rv, V1ConfigMap Obj)> NextNonBookmarkAsync(string what)
        {
            while (true)
            {
                var e = await NextAsync(what);
                if (e.Type != WatchEventType.Bookmark) return e;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            await _pump;
            _cts.Dispose();
        }
    }

    [Fact]
    public async Task Watch_FromListVersion_SeesAddModifyDeleteInOrder()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var list = await t.Client.CoreV1.ListNamespacedConfigMapAsync("default");
        await using var w = new Watch((onError, ct) => t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: list.Metadata.ResourceVersion, onError: onError, cancellationToken: ct));

        var created = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        created.Data["k"] = "2";
        var updated = await t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "a", "default");
        await t.Client.CoreV1.DeleteNamespacedConfigMapAsync("a", "default");

        var e1 = await w.NextAsync("ADDED a");
        var e2 = await w.NextAsync("MODIFIED a");
        var e3 = await w.NextAsync("DELETED a");
        Assert.Equal((WatchEventType.Added, "a", created.Metadata.ResourceVersion), (e1.Type, e1.Name, e1.Rv));
        Assert.Equal((WatchEventType.Modified, "a", updated.Metadata.ResourceVersion), (e2.Type, e2.Name, e2.Rv));
        Assert.Equal(WatchEventType.Deleted, e3.Type);
        Assert.Equal("2", e2.Obj.Data["k"]);
        Assert.True(long.Parse(e3.Rv) > long.Parse(e2.Rv));
    }

    [Fact]
    public async Task Watch_ResumedFromAnOldVersion_ReplaysWhatWasMissed()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var a = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b"), "default");
        await t.Client.CoreV1.DeleteNamespacedConfigMapAsync("a", "default");

        // A client that last saw "a" created reconnects: it must get b's creation and a's deletion, in order.
        await using var w = new Watch((onError, ct) => t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: a.Metadata.ResourceVersion, onError: onError, cancellationToken: ct));

        var e1 = await w.NextAsync("replayed ADDED b");
        var e2 = await w.NextAsync("replayed DELETED a");
        Assert.Equal((WatchEventType.Added, "b"), (e1.Type, e1.Name));
        Assert.Equal((WatchEventType.Deleted, "a"), (e2.Type, e2.Name));
    }

    [Fact]
    public async Task Watch_FromAVersionOlderThanTheWindow_Answers410Gone()
    {
        await using var t = await TestApiServer.StartAsync(output, new DevApiServerOptions { WatchHistory = 3 });
        var first = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        foreach (var n in new[] { "b", "c", "d", "e" }) await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap(n), "default");

        await using var w = new Watch((onError, ct) => t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: first.Metadata.ResourceVersion, onError: onError, cancellationToken: ct));

        using var cts = new CancellationTokenSource(Wait);
        var error = await w.Errors.Reader.ReadAsync(cts.Token);
        var status = Assert.IsType<KubernetesException>(error).Status;
        Assert.Equal(410, status.Code);
        Assert.Equal("Expired", status.Reason);
        Assert.Contains("too old resource version", status.Message, StringComparison.Ordinal);
        // The client relists and watches from the list's version: nothing is lost.
        var list = await t.Client.CoreV1.ListNamespacedConfigMapAsync("default");
        Assert.Equal(5, list.Items.Count);
    }

    [Fact]
    public async Task Watch_FromAVersionOfAnEarlierServerRun_Is410_AndFromTheFutureIsTooLarge()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var list = await t.Client.CoreV1.ListNamespacedConfigMapAsync("default");
        var current = long.Parse(list.Metadata.ResourceVersion);

        // Versions start from the clock, so one a client kept from before a restart is older than the window.
        await using var stale = new Watch((onError, ct) => t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: "12", onError: onError, cancellationToken: ct));
        await using var future = new Watch((onError, ct) => t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: (current + 1000).ToString(), onError: onError, cancellationToken: ct));

        using var cts = new CancellationTokenSource(Wait);
        var gone = Assert.IsType<KubernetesException>(await stale.Errors.Reader.ReadAsync(cts.Token)).Status;
        var tooLarge = Assert.IsType<KubernetesException>(await future.Errors.Reader.ReadAsync(cts.Token)).Status;
        Assert.True(current > 1_000_000_000_000_000, $"resourceVersion {current} should start from the clock");
        Assert.Equal(410, gone.Code);
        Assert.Equal(504, tooLarge.Code);
        Assert.Equal("ResourceVersionTooLarge", tooLarge.Details.Causes[0].Reason);
    }

    [Fact]
    public async Task Watch_WithBookmarks_GetsPeriodicBookmarksAtTheCurrentVersion()
    {
        await using var t = await TestApiServer.StartAsync(output, new DevApiServerOptions { BookmarkInterval = TimeSpan.FromMilliseconds(200) });
        var created = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        await using var w = new Watch((onError, ct) => t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: created.Metadata.ResourceVersion, allowWatchBookmarks: true, onError: onError, cancellationToken: ct));

        var bookmark = await w.NextAsync("a BOOKMARK");
        var other = await t.Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "s" } }, "default");
        var next = await w.NextAsync("a BOOKMARK after an unrelated write");

        Assert.Equal(WatchEventType.Bookmark, bookmark.Type);
        Assert.Equal(created.Metadata.ResourceVersion, bookmark.Rv);
        Assert.Equal(WatchEventType.Bookmark, next.Type);
        // A write to another resource moves the bookmark on, so a resume skips it without a replay.
        Assert.Equal(other.Metadata.ResourceVersion, next.Rv);
    }

    [Fact]
    public async Task Watch_WithLabelSelector_TurnsMovesInAndOutIntoAddedAndDeleted()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var list = await t.Client.CoreV1.ListNamespacedConfigMapAsync("default");
        await using var w = new Watch((onError, ct) => t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: list.Metadata.ResourceVersion, labelSelector: "app=web", onError: onError, cancellationToken: ct));

        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("other", "db"), "default");
        var a = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a", "db"), "default");
        a.Metadata.Labels["app"] = "web";
        a = await t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(a, "a", "default");
        a.Metadata.Labels["app"] = "db";
        await t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(a, "a", "default");

        var moveIn = await w.NextAsync("a moving into the selector");
        var moveOut = await w.NextAsync("a moving out of the selector");
        Assert.Equal((WatchEventType.Added, "a"), (moveIn.Type, moveIn.Name));
        Assert.Equal((WatchEventType.Deleted, "a"), (moveOut.Type, moveOut.Name));
    }

    [Fact]
    public async Task Watch_WithFieldSelector_SeesOnlyThatObject_AndStartsWithCurrentStateWithoutVersion()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b"), "default");
        await using var w = new Watch((onError, ct) => t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", fieldSelector: "metadata.name=b", onError: onError, cancellationToken: ct));

        var initial = await w.NextAsync("the synthetic ADDED of b");
        var b = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("b", "default");
        b.Data["k"] = "2";
        await t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(b, "b", "default");
        var a = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("a", "default");
        a.Data["k"] = "2";
        await t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(a, "a", "default");
        await t.Client.CoreV1.DeleteNamespacedConfigMapAsync("b", "default");

        Assert.Equal((WatchEventType.Added, "b"), (initial.Type, initial.Name));
        var modified = await w.NextAsync("MODIFIED b");
        var deleted = await w.NextAsync("DELETED b");
        Assert.Equal((WatchEventType.Modified, "b"), (modified.Type, modified.Name));
        Assert.Equal((WatchEventType.Deleted, "b"), (deleted.Type, deleted.Name));
    }

    [Fact]
    public async Task Watch_WireFormat_IsNewlineDelimitedEvents_AndTimeoutSecondsEndsIt()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        using var http = t.Http();

        var started = DateTime.UtcNow;
        var body = await http.GetStringAsync("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1");

        var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var e = JsonDocument.Parse(Assert.Single(lines)).RootElement;
        Assert.Equal("ADDED", e.GetProperty("type").GetString());
        Assert.Equal("ConfigMap", e.GetProperty("object").GetProperty("kind").GetString());
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(8));
    }

    [Fact]
    public async Task Watch_SendInitialEvents_EndsTheInitialListWithAnAnnotatedBookmark()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        using var http = t.Http();

        var body = await http.GetStringAsync("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true");

        var events = body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal("ADDED,BOOKMARK", string.Join(",", events.Select(e => e.GetProperty("type").GetString())));
        Assert.Equal("true", events[1].GetProperty("object").GetProperty("metadata").GetProperty("annotations").GetProperty("k8s.io/initial-events-end").GetString());
    }

    [Fact]
    public async Task Request_WithoutTheToken_Is401()
    {
        await using var t = await TestApiServer.StartAsync(output);
        using var http = t.Http(authenticated: false);

        using var answer = await http.GetAsync("/api/v1/namespaces");
        using var version = await http.GetAsync("/version");

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, answer.StatusCode);
        Assert.Equal("Unauthorized", JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("reason").GetString());
        Assert.True(version.IsSuccessStatusCode);
    }
}
