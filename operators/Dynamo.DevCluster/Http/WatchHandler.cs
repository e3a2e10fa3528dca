using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Observability;
using Dynamo.DevCluster.Selectors;
using Dynamo.DevCluster.Store;
using Dynamo.DevCluster.Tables;
using Dynamo.DevCluster.Watch;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Http;

/// <summary>
/// Watch streams: newline-delimited <c>{"type":...,"object":...}</c> events from a resourceVersion (replayed from the
/// store's window; a version older than the window answers an ERROR event with a 410 Status), label and field
/// selectors (an object moving out of a selector arrives as DELETED, into it as ADDED), periodic BOOKMARKs when
/// asked for, <c>sendInitialEvents</c> (watch-list) and <c>timeoutSeconds</c>.
/// </summary>
internal sealed partial class WatchHandler
{
    private readonly ObjectStore _store;
    private readonly TablePrinter _tables;
    private readonly DevApiServerOptions _options;
    private readonly ApiServerMetrics _metrics;
    private readonly ILogger _logger;

    public WatchHandler(ObjectStore store, TablePrinter tables, DevApiServerOptions options, ApiServerMetrics metrics, ILogger logger)
    {
        _store = store;
        _tables = tables;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    public async Task WatchAsync(HttpContext ctx, RequestInfo info)
    {
        var q = ctx.Request.Query;
        var labels = LabelSelector.Parse(q["labelSelector"]);
        var fields = FieldSelector.Parse(q["fieldSelector"]);
        if (info.Name is not null)
        {
            // A watch of one object (…/NAME?watch=true or /watch/…/NAME) is a field-selected watch of its collection.
            fields = FieldSelector.Parse(string.Join(",", new[] { q["fieldSelector"].ToString(), $"metadata.name={info.Name}" }.Where(s => s.Length > 0)));
        }
        var bookmarks = ResourceHandler.IsTrue(q["allowWatchBookmarks"]);
        var sendInitial = q["sendInitialEvents"].ToString() switch
        {
            "" => (bool?)null,
            "true" => true,
            "false" => false,
            var other => throw ApiException.BadRequest($"sendInitialEvents \"{other}\" is not true or false"),
        };
        if (sendInitial is null && q["resourceVersionMatch"].Count > 0)
            throw ApiException.Invalid(info.Type, "", [new StatusCause("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided", "FieldValueForbidden")]);
        if (sendInitial == true && (!bookmarks || q["resourceVersionMatch"] != "NotOlderThan"))
            throw ApiException.Invalid(info.Type, "", [new StatusCause("sendInitialEvents", "Forbidden: sendInitialEvents is allowed with watch=true, resourceVersionMatch=NotOlderThan and allowWatchBookmarks=true", "FieldValueForbidden")]);
        var table = Negotiation.WantsTable(ctx.Request);
        var timeout = _options.WatchTimeout;
        if (q["timeoutSeconds"].ToString() is { Length: > 0 } ts)
        {
            if (!int.TryParse(ts, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                throw ApiException.BadRequest($"timeoutSeconds \"{ts}\" is not a non-negative integer");
            timeout = TimeSpan.FromSeconds(seconds);
        }

        var rvText = q["resourceVersion"].ToString();
        long fromRv = 0;
        var replayCurrent = sendInitial ?? (rvText is "" or "0");
        if (!replayCurrent && !long.TryParse(rvText, NumberStyles.None, CultureInfo.InvariantCulture, out fromRv))
            throw ApiException.BadRequest($"resourceVersion \"{rvText}\" is not a number");

        bool Matches(JsonObject o) =>
            (info.Namespace is null || JsonPaths.GetString(o, "metadata.namespace") == info.Namespace)
            && labels.Matches(o["metadata"]?["labels"] as JsonObject) && fields.Matches(o);

        List<JsonObject> initial = [];
        long initialRv = 0;
        var sub = _store.Subscribe(info.Type, fromRv, replayCurrent ? (rv, objects) =>
        {
            initialRv = rv;
            initial = objects.Where(Matches).ToList();
        } : null);

        var response = ctx.Response;
        response.StatusCode = 200;
        response.ContentType = Negotiation.Json;
        response.Headers.CacheControl = "no-cache, private";
        var ct = ctx.RequestAborted;
        await response.StartAsync(ct);

        if (sub is not null && !replayCurrent && fromRv > _store.CurrentResourceVersion)
        {
            // A version this server has not reached (a client from before a restart, or a bad one): answer as the
            // real server does after waiting, so the client relists.
            _store.Unsubscribe(sub);
            var tooLarge = new ApiException(504, "Timeout", $"Too large resource version: {fromRv}, current: {_store.CurrentResourceVersion}",
                causes: [new StatusCause("", "Too large resource version", "ResourceVersionTooLarge")], retryAfterSeconds: 1).ToStatus();
            await WriteEventAsync(response, "ERROR", tooLarge, ct);
            return;
        }
        if (sub is null)
        {
            var gone = ApiException.Gone($"too old resource version: {fromRv} ({_store.Hub.CompactedResourceVersion + 1})").ToStatus();
            await WriteEventAsync(response, "ERROR", gone, ct);
            LogTooOld(_logger, info.Type.QualifiedResource, fromRv);
            return;
        }

        LogOpened(_logger, info.Type.QualifiedResource, info.Namespace ?? "*", replayCurrent ? "now" : rvText);
        var open = _metrics.OpenWatches.WithLabels(info.Type.QualifiedResource);
        open.Inc();
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout > TimeSpan.Zero) timeoutCts.CancelAfter(timeout);
        try
        {
            foreach (var o in initial) await WriteObjectEventAsync(response, info.Type, "ADDED", o, table, ct);
            if (sendInitial == true)
            {
                var marker = Bookmark(info.Type, initialRv);
                JsonPaths.Metadata(marker)["annotations"] = new JsonObject { ["k8s.io/initial-events-end"] = "true" };
                await WriteEventAsync(response, "BOOKMARK", marker, ct);
            }
            await response.Body.FlushAsync(ct);
            await StreamAsync(response, info, sub, Matches, bookmarks, table, timeoutCts.Token);
        }
        catch (OperationCanceledException)
        {
            // The client went away, the timeout ended the watch, or the server is stopping.
        }
        catch (Exception e) when (e is WatchOverflowException || e.InnerException is WatchOverflowException)
        {
            LogOverflow(_logger, info.Type.QualifiedResource);
        }
        finally
        {
            open.Dec();
            _store.Unsubscribe(sub);
        }
    }

    private async Task StreamAsync(HttpResponse response, RequestInfo info, WatchSubscription sub, Func<JsonObject, bool> matches,
        bool bookmarks, bool table, CancellationToken ct)
    {
        var reader = sub.Reader;
        var interval = _options.BookmarkInterval;
        while (!ct.IsCancellationRequested)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (bookmarks) wait.CancelAfter(interval);
            bool ready;
            try
            {
                ready = await reader.WaitToReadAsync(wait.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // The bookmark timer fired. Under the store lock an empty queue means every change up to the current
                // version has been written out, so that version is safe to resume from.
                long? rv = null;
                lock (_store.Gate)
                {
                    if (reader.Count == 0) rv = _store.CurrentResourceVersionUnlocked;
                }
                if (rv is { } bookmarkRv)
                {
                    await WriteEventAsync(response, "BOOKMARK", Bookmark(info.Type, bookmarkRv), ct);
                    await response.Body.FlushAsync(ct);
                }
                continue;
            }
            if (!ready)
            {
                await reader.Completion;
                return;
            }
            while (reader.TryRead(out var e))
            {
                var nowMatches = matches(e.Object);
                var wasMatching = e.Old is not null && matches(e.Old);
                var type = (e.Type, nowMatches, wasMatching) switch
                {
                    ("ADDED", true, _) => "ADDED",
                    ("MODIFIED", true, true) => "MODIFIED",
                    ("MODIFIED", true, false) => "ADDED",
                    ("MODIFIED", false, true) => "DELETED",
                    ("DELETED", _, true) or ("DELETED", true, _) => "DELETED",
                    _ => null,
                };
                if (type is null) continue;
                await WriteObjectEventAsync(response, info.Type, type, Stamp(info.Type, e.Object.DeepClone().AsObject()), table, ct);
            }
            await response.Body.FlushAsync(ct);
        }
    }

    private async Task WriteObjectEventAsync(HttpResponse response, ResourceType type, string eventType, JsonObject obj, bool table, CancellationToken ct)
    {
        JsonObject payload = table
            ? _tables.Print(type, [obj], JsonPaths.GetString(obj, "metadata.resourceVersion"), null, IncludeObject.Metadata)
            : obj;
        await WriteEventAsync(response, eventType, payload, ct);
    }

    private static async Task WriteEventAsync(HttpResponse response, string type, JsonObject obj, CancellationToken ct)
    {
        var line = new JsonObject { ["type"] = type, ["object"] = obj }.ToJsonString() + "\n";
        await response.WriteAsync(line, ct);
    }

    private static JsonObject Bookmark(ResourceType type, long rv) => new()
    {
        ["kind"] = type.Kind,
        ["apiVersion"] = type.ApiVersion,
        ["metadata"] = new JsonObject { ["resourceVersion"] = rv.ToString(CultureInfo.InvariantCulture) },
    };

    private static JsonObject Stamp(ResourceType type, JsonObject obj)
    {
        obj["apiVersion"] = type.ApiVersion;
        obj["kind"] = type.Kind;
        return obj;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Watch of {Resource} in {Namespace} opened from {ResourceVersion}")]
    private static partial void LogOpened(ILogger logger, string resource, string @namespace, string resourceVersion);

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch of {Resource} from resourceVersion {ResourceVersion} refused: older than the kept window (410)")]
    private static partial void LogTooOld(ILogger logger, string resource, long resourceVersion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch of {Resource} closed: the client read too slowly and its buffer filled")]
    private static partial void LogOverflow(ILogger logger, string resource);
}
