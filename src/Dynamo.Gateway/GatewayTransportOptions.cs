namespace Dynamo.Gateway;

/// <summary>
/// Options bound from <c>Dynamo:Gateway:Transport</c>: the gateway's sockets, toward clients (Kestrel's socket
/// transport) and toward workers (the HTTP client YARP forwards with). The defaults are the settings measured best on
/// a 2-core box (bench/README.md, "Gateway overhead"); the others are there to measure on other machines.
/// </summary>
public sealed class GatewayTransportOptions
{
    /// <summary>
    /// Kestrel's socket I/O queues (<c>SocketTransportOptions.IOQueueCount</c>): how many queues the client sockets'
    /// completions are spread over; 0 runs them on the thread pool directly. Null (default) = Kestrel's own default
    /// (the processor count, at most 16).
    /// </summary>
    public int? IOQueueCount { get; set; }

    /// <summary>
    /// Run request handling inline on the socket's I/O thread instead of dispatching it to the thread pool
    /// (<c>SocketTransportOptions.UnsafePreferInlineScheduling</c>): saves a thread hop per read, but a handler that
    /// blocks stalls every connection of that I/O queue. Default false.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    /// <summary>
    /// Connections the gateway keeps open to one worker (<c>SocketsHttpHandler.MaxConnectionsPerServer</c>); requests
    /// beyond them wait for a free connection in the gateway. Null (default) = no limit (one connection per request in
    /// flight, reused afterwards).
    /// </summary>
    public int? MaxConnectionsPerWorker { get; set; }
}
