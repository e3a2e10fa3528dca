using System.Collections.Concurrent;
using Dynamo.Contracts.Discovery;
using Microsoft.Extensions.Logging;

namespace Dynamo.Gateway.Models;

/// <summary>
/// Passive and active health of workers, as YARP's health checks do for clusters: a worker whose connection or
/// stream fails is taken out of routing at once; a probe of its <c>/health</c> brings it back when it answers.
/// Workers that leave discovery are forgotten.
/// </summary>
internal sealed partial class WorkerHealth : IDisposable
{
    private readonly ConcurrentDictionary<string, WorkerInstance> _unhealthy = new(StringComparer.Ordinal);
    private readonly HttpMessageInvoker _http;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly IDiscovery _discovery;
    private int _probing;

    public WorkerHealth(GatewayOptions options, HttpMessageInvoker http, IDiscovery discovery, TimeProvider time, ILogger<WorkerHealth> logger)
    {
        _http = http;
        _interval = options.HealthProbeInterval;
        _time = time;
        _logger = logger;
        _discovery = discovery;
        _discovery.Changed += OnDiscoveryChanged;
    }

    public int UnhealthyCount => _unhealthy.Count;

    public bool IsHealthy(string instanceId) => _unhealthy.IsEmpty || !_unhealthy.ContainsKey(instanceId);

    /// <summary>Passive check: the worker failed a request; route around it until a probe succeeds.</summary>
    public void MarkFailed(WorkerInstance worker)
    {
        if (_unhealthy.TryAdd(worker.InstanceId, worker))
        {
            LogUnhealthy(worker.InstanceId);
            if (Interlocked.Exchange(ref _probing, 1) == 0)
            {
                _ = ProbeLoopAsync();
            }
        }
    }

    public void Dispose()
    {
        _discovery.Changed -= OnDiscoveryChanged;
        _stop.Cancel();
        _stop.Dispose();
    }

    private void OnDiscoveryChanged(DiscoveryChange change)
    {
        if (change.Kind == DiscoveryChangeKind.Removed)
        {
            _unhealthy.TryRemove(change.Instance.InstanceId, out _);
        }
    }

    private async Task ProbeLoopAsync()
    {
        try
        {
            while (!_unhealthy.IsEmpty && !_stop.IsCancellationRequested)
            {
                await Task.Delay(_interval, _time, _stop.Token);
                foreach (var worker in _unhealthy.Values)
                {
                    if (await ProbeAsync(worker))
                    {
                        _unhealthy.TryRemove(worker.InstanceId, out _);
                        LogHealthy(worker.InstanceId);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
            if (!_unhealthy.IsEmpty && !_stop.IsCancellationRequested && Interlocked.Exchange(ref _probing, 1) == 0)
            {
                _ = ProbeLoopAsync();
            }
        }
    }

    private async Task<bool> ProbeAsync(WorkerInstance worker)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(worker.Address, "health"));
            using var response = await _http.SendAsync(request, timeout.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !_stop.IsCancellationRequested)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {Worker} taken out of routing after a failure; probing its /health")]
    private partial void LogUnhealthy(string worker);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Worker} answers /health again; back in routing")]
    private partial void LogHealthy(string worker);
}
