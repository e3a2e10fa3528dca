using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.Operator.Client;
using Microsoft.Extensions.Logging;

namespace Dynamo.Operator.Controller;

/// <summary>
/// Lease-based leader election (coordination.k8s.io/v1): of the replicas running it, one holds the Lease and acts;
/// the others wait and take over once it has not been renewed for the lease duration. Expiry is judged by when this
/// replica last saw the Lease change (not by the holder's clock), as client-go does. All writes carry the Lease's
/// resourceVersion, so two candidates never both win: the slower gets 409 and stays standby.
/// </summary>
public sealed partial class LeaderElector
{
    private readonly KubeApiClient _api;
    private readonly LeaderElectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private string? _observedRecord;
    private DateTimeOffset _observedAt;

    public LeaderElector(KubeApiClient api, LeaderElectionOptions options, ILogger logger, TimeProvider? time = null)
    {
        options.Validate();
        _api = api;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    public string Identity => _options.Identity;

    /// <summary>Whether this replica holds the Lease now.</summary>
    public bool IsLeader { get; private set; }

    /// <summary>
    /// Campaigns until <paramref name="cancellationToken"/> ends. While leading, <paramref name="lead"/> runs with a
    /// token cancelled when leadership is lost (then it campaigns again) or on stop (then the Lease is released).
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> lead, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!await TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!await DelayAsync(_options.RetryPeriod, cancellationToken).ConfigureAwait(false)) return;
                continue;
            }

            IsLeader = true;
            LogAcquired(_logger, _options.Identity, _options.Namespace, _options.LeaseName);
            using var leading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var work = Task.Run(() => lead(leading.Token), CancellationToken.None);
            var lastRenew = _time.GetUtcNow();
            while (!cancellationToken.IsCancellationRequested && !work.IsCompleted)
            {
                if (!await DelayAsync(_options.RetryPeriod, cancellationToken).ConfigureAwait(false)) break;
                if (await TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false))
                {
                    lastRenew = _time.GetUtcNow();
                }
                else if (_time.GetUtcNow() - lastRenew > _options.RenewDeadline)
                {
                    LogLost(_logger, _options.Identity, _options.RenewDeadline.TotalSeconds);
                    break;
                }
            }

            IsLeader = false;
            await leading.CancelAsync().ConfigureAwait(false);
            try
            {
                await work.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Leading ended.
            }

            if (cancellationToken.IsCancellationRequested && _options.ReleaseOnStop)
            {
                await ReleaseAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>One attempt: create the Lease, renew ours, or take over an expired one. True when this replica holds it.</summary>
    public async Task<bool> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        try
        {
            var lease = await _api.GetAsync(KubeResource.Leases, _options.Namespace, _options.LeaseName, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (lease is null)
            {
                await _api.CreateAsync(KubeResource.Leases, _options.Namespace, new JsonObject
                {
                    ["apiVersion"] = "coordination.k8s.io/v1",
                    ["kind"] = "Lease",
                    ["metadata"] = new JsonObject { ["name"] = _options.LeaseName, ["namespace"] = _options.Namespace },
                    ["spec"] = Spec(now, now, 0),
                }, cancellationToken).ConfigureAwait(false);
                return true;
            }

            var spec = lease["spec"] as JsonObject ?? [];
            var holder = spec["holderIdentity"]?.GetValue<string>();
            var record = $"{holder}|{spec["renewTime"]}|{spec["leaseTransitions"]}";
            if (record != _observedRecord)
            {
                _observedRecord = record;
                _observedAt = now;
            }

            var duration = spec["leaseDurationSeconds"]?.GetValue<int>() is { } seconds ? TimeSpan.FromSeconds(seconds) : _options.LeaseDuration;
            var ours = holder == _options.Identity;
            if (!ours && !string.IsNullOrEmpty(holder) && _observedAt + duration > now)
            {
                return false;
            }

            var transitions = spec["leaseTransitions"]?.GetValue<int>() ?? 0;
            var acquired = ours && spec["acquireTime"]?.GetValue<string>() is { } acquiredText
                ? DateTimeOffset.Parse(acquiredText, CultureInfo.InvariantCulture)
                : now;
            lease["spec"] = Spec(acquired, now, ours ? transitions : transitions + 1);
            var written = await _api.ReplaceAsync(KubeResource.Leases, _options.Namespace, _options.LeaseName, lease, cancellationToken: cancellationToken).ConfigureAwait(false);
            var writtenSpec = written["spec"];
            _observedRecord = $"{writtenSpec?["holderIdentity"]}|{writtenSpec?["renewTime"]}|{writtenSpec?["leaseTransitions"]}";
            _observedAt = now;
            if (!ours)
            {
                LogTookOver(_logger, _options.Identity, holder ?? "(none)");
            }

            return true;
        }
        catch (KubeApiException error) when (error.IsConflict)
        {
            // Another candidate wrote first.
            return false;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the callers' loops end on the same token.
            return false;
        }
        catch (Exception error) when (error is KubeApiException or HttpRequestException or IOException)
        {
            LogAttemptFailed(_logger, error.Message);
            return false;
        }
    }

    private async Task ReleaseAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var lease = await _api.GetAsync(KubeResource.Leases, _options.Namespace, _options.LeaseName, cancellationToken: timeout.Token).ConfigureAwait(false);
            if (lease?["spec"] is JsonObject spec && spec["holderIdentity"]?.GetValue<string>() == _options.Identity)
            {
                spec.Remove("holderIdentity");
                spec["leaseDurationSeconds"] = 1;
                await _api.ReplaceAsync(KubeResource.Leases, _options.Namespace, _options.LeaseName, lease, cancellationToken: timeout.Token).ConfigureAwait(false);
                LogReleased(_logger, _options.Identity);
            }
        }
        catch (Exception error) when (error is KubeApiException or HttpRequestException or IOException or OperationCanceledException)
        {
            // The standby takes over when the Lease expires instead.
            LogAttemptFailed(_logger, error.Message);
        }
    }

    private JsonObject Spec(DateTimeOffset acquired, DateTimeOffset renewed, int transitions) => new()
    {
        ["holderIdentity"] = _options.Identity,
        ["leaseDurationSeconds"] = (int)Math.Ceiling(_options.LeaseDuration.TotalSeconds),
        ["acquireTime"] = MicroTime(acquired),
        ["renewTime"] = MicroTime(renewed),
        ["leaseTransitions"] = transitions,
    };

    /// <summary>metav1.MicroTime: RFC 3339 with microseconds.</summary>
    public static string MicroTime(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} is the leader (Lease {Namespace}/{Lease})")]
    private static partial void LogAcquired(ILogger logger, string identity, string @namespace, string lease);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} took over the Lease from {Previous}, which stopped renewing it")]
    private static partial void LogTookOver(ILogger logger, string identity, string previous);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} lost the leadership: the Lease was not renewed for {Seconds} s; stopping work and campaigning again")]
    private static partial void LogLost(ILogger logger, string identity, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} released the Lease")]
    private static partial void LogReleased(ILogger logger, string identity);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Leader election attempt failed: {Message}")]
    private static partial void LogAttemptFailed(ILogger logger, string message);
}
