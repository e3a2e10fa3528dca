using Dynamo.Contracts;
using Dynamo.Llm.Protocol;

namespace Dynamo.Worker;

/// <summary>
/// One worker's HTTP server and registration, bound from <c>Dynamo:Worker</c>. Validated by
/// <see cref="WorkerOptionsValidator"/> when the worker starts.
/// </summary>
public sealed class WorkerOptions
{
    public const string SectionName = "Dynamo:Worker";

    /// <summary>IP address to listen on. Default <c>127.0.0.1</c>; <c>0.0.0.0</c> or <c>::</c> listen on every interface.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port. Default 0: the system picks a free port and the bound one is advertised.</summary>
    public int Port { get; set; }

    /// <summary>
    /// Host name or address put in discovery. Default null: <see cref="Host"/>, or the machine's host name when
    /// <see cref="Host"/> listens on every interface.
    /// </summary>
    public string? AdvertisedHost { get; set; }

    /// <summary>What the worker does with requests. Default aggregated (prefill and decode).</summary>
    public WorkerRole Role { get; set; } = WorkerRole.Aggregated;

    /// <summary>Unique id in discovery and in KV events. Default: <c>worker-</c> and 12 random hex digits.</summary>
    public string InstanceId { get; set; } = "worker-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>The name clients put in <c>"model"</c>. Default null: the model card's name.</summary>
    public string? ServedModelName { get; set; }

    /// <summary>How long <see cref="WorkerHost.StopAsync"/> lets in-flight requests finish before cancelling them. Default 30 s.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often a worker run as its own process (<c>dynamo worker</c>) publishes its load on the event plane for
    /// routers and the planner. Default 1 s; zero turns the reports off.
    /// </summary>
    public TimeSpan LoadReportInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Parsing limits. <see cref="RequestLimits.VocabSize"/> defaults to the engine's vocabulary when unset.</summary>
    public RequestLimits RequestLimits { get; set; } = new();

    /// <summary>
    /// Log every request (and ASP.NET Core's per-request logs). Default false: the worker sits on the proxy
    /// benchmark path, where a log line per request costs more than the request.
    /// </summary>
    public bool LogRequests { get; set; }
}
