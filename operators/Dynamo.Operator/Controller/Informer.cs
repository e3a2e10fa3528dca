using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Dynamo.Operator.Client;
using Microsoft.Extensions.Logging;

namespace Dynamo.Operator.Controller;

/// <summary>
/// Keeps a cache of one resource's objects in step with the API server: a list, then a watch from the list's
/// resourceVersion (with bookmarks, which move the version on without an object). When the watch ends it resumes
/// from the last version seen; when the server answers 410 Gone (the version is older than it keeps) it lists again
/// and reports the differences (objects gone meanwhile as deletions). Each change goes to the handler.
/// </summary>
public sealed partial class Informer
{
    private readonly KubeApiClient _api;
    private readonly KubeResource _resource;
    private readonly string? _namespace;
    private readonly string? _labelSelector;
    private readonly Action<string, JsonObject> _handler;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, JsonObject> _cache = new();
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _relists;

    /// <param name="handler">Called with the event type (ADDED, MODIFIED, DELETED) and the object, on the informer's task.</param>
    public Informer(KubeApiClient api, KubeResource resource, string? ns, string? labelSelector, Action<string, JsonObject> handler, ILogger logger, TimeProvider? time = null)
    {
        _api = api;
        _resource = resource;
        _namespace = ns;
        _labelSelector = labelSelector;
        _handler = handler;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Completes after the first list has been delivered.</summary>
    public Task Synced => _synced.Task;

    /// <summary>Lists done (the first one included): more than one means a watch was resumed by a relist.</summary>
    public int Lists => Volatile.Read(ref _relists);

    /// <summary>The last resourceVersion seen (list, event or bookmark).</summary>
    public string? ResourceVersion { get; private set; }

    /// <summary>How long a watch request asks to stay open before it is renewed.</summary>
    public int WatchTimeoutSeconds { get; init; } = 300;

    public JsonObject? Get(string ns, string name) => _cache.TryGetValue(Key(ns, name), out var obj) ? obj : null;

    public IReadOnlyCollection<JsonObject> Items => [.. _cache.Values];

    public static string Key(string? ns, string name) => ns is null ? name : $"{ns}/{name}";

    public static string KeyOf(JsonObject obj) => Key(obj["metadata"]?["namespace"]?.GetValue<string>(), obj["metadata"]?["name"]?.GetValue<string>() ?? "");

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        var needList = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (needList)
                {
                    await ListAsync(cancellationToken).ConfigureAwait(false);
                    needList = false;
                }

                await foreach (var change in _api.WatchAsync(_resource, _namespace, ResourceVersion!, _labelSelector, WatchTimeoutSeconds, cancellationToken).ConfigureAwait(false))
                {
                    failures = 0;
                    ResourceVersion = change.ResourceVersion ?? ResourceVersion;
                    if (change.Type == WatchEvent.Bookmark)
                    {
                        continue;
                    }

                    var key = KeyOf(change.Object);
                    if (change.Type == WatchEvent.Deleted)
                    {
                        _cache.TryRemove(key, out _);
                    }
                    else
                    {
                        _cache[key] = change.Object;
                    }

                    Deliver(change.Type, change.Object);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (KubeApiException error) when (error.IsGone)
            {
                LogGone(_logger, _resource, ResourceVersion);
                needList = true;
            }
            catch (Exception error) when (error is KubeApiException or HttpRequestException or IOException or System.Text.Json.JsonException)
            {
                // The server is down or restarting: back off, then resume (a relist if the version is gone by then).
                failures++;
                var delay = TimeSpan.FromMilliseconds(Math.Min(30_000, 250 * Math.Pow(2, Math.Min(failures, 10))));
                LogWatchFailed(_logger, _resource, error.Message, delay.TotalSeconds);
                try
                {
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var (items, version) = await _api.ListAsync(_resource, _namespace, _labelSelector, cancellationToken).ConfigureAwait(false);
        var seen = new HashSet<string>();
        foreach (var item in items)
        {
            var key = KeyOf(item);
            seen.Add(key);
            var existed = _cache.TryGetValue(key, out var old);
            _cache[key] = item;
            if (!existed || ResourceVersionOf(old!) != ResourceVersionOf(item))
            {
                Deliver(existed ? WatchEvent.Modified : WatchEvent.Added, item);
            }
        }

        foreach (var (key, gone) in _cache.ToArray())
        {
            if (!seen.Contains(key) && _cache.TryRemove(key, out _))
            {
                Deliver(WatchEvent.Deleted, gone);
            }
        }

        ResourceVersion = version;
        Interlocked.Increment(ref _relists);
        LogListed(_logger, _resource, items.Count, version);
        _synced.TrySetResult();
    }

    private void Deliver(string type, JsonObject obj)
    {
        try
        {
            _handler(type, obj);
        }
        catch (Exception error)
        {
            // A handler bug must not stop the watch; the object is seen again at the next change or relist.
            LogHandlerFailed(_logger, error, _resource, KeyOf(obj));
        }
    }

    private static string? ResourceVersionOf(JsonObject obj) => obj["metadata"]?["resourceVersion"]?.GetValue<string>();

    [LoggerMessage(Level = LogLevel.Debug, Message = "Listed {Resource}: {Count} objects at resourceVersion {Version}")]
    private static partial void LogListed(ILogger logger, KubeResource resource, int count, string version);

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch of {Resource} from resourceVersion {Version}: 410 Gone, relisting")]
    private static partial void LogGone(ILogger logger, KubeResource resource, string? version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch of {Resource} failed ({Message}); retrying in {DelaySeconds:F1} s")]
    private static partial void LogWatchFailed(ILogger logger, KubeResource resource, string message, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handler of {Resource} failed for {Key}")]
    private static partial void LogHandlerFailed(ILogger logger, Exception error, KubeResource resource, string key);
}
