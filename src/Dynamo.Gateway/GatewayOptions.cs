namespace Dynamo.Gateway;

/// <summary>Options bound from <c>Dynamo:Gateway</c>. Every limit here is enforced and answered in OpenAI's error shape.</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Dynamo:Gateway";

    /// <summary>Address the OpenAI endpoint listens on. Default loopback only.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Port of the OpenAI endpoint; 0 picks a free one (tests). Default 8000.</summary>
    public int Port { get; set; } = 8000;

    /// <summary>
    /// Name the worker that served each request in the response headers <c>x-dynamo-worker</c> (and
    /// <c>x-dynamo-prefill-worker</c> when a prefill worker computed the prompt), as <c>dynamo bench</c> records per
    /// request. Default true; false keeps the workers' instance ids from clients.
    /// </summary>
    public bool WorkerHeaders { get; set; } = true;

    /// <summary>Largest request body accepted, in bytes; larger gets 413. Default 4 MiB.</summary>
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Sequences forwarded to workers at once; more wait in the queue. A request counts as the sequences it asks for
    /// (prompts × <c>n</c>), so this bounds the work handed to workers, not merely the connections. Default 1024.
    /// </summary>
    public int MaxConcurrentRequests { get; set; } = 1024;

    /// <summary>Requests allowed to wait for a concurrency slot; beyond it, 429 with Retry-After. Default 4096.</summary>
    public int MaxQueuedRequests { get; set; } = 4096;

    /// <summary>How long a request may wait in the queue before it gets 429. Default 30 s.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The waiting time one level of <c>nvext.priority</c> is worth in the queue: a request of priority p queues as if
    /// it had arrived p × this earlier (FIFO among equal priorities), so a lower-priority request is passed only by those
    /// arriving within that head start of it and cannot starve. Default 1 s; a day gives strict priority order.
    /// </summary>
    public TimeSpan PriorityAging { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a request is held in the gateway, unsent, while every worker that could serve it is busy (over
    /// <c>Dynamo:Router:BusyKvUsage</c> or <c>BusyWaitingRequests</c>); it is placed as soon as a load report or a
    /// completion frees one, and answered <see cref="BusyStatus"/> when none frees in time. Default 30 s, as
    /// <see cref="QueueTimeout"/>; 0 answers at once. A held request keeps its concurrency slot.
    /// </summary>
    public TimeSpan BusyWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The answer to a request no worker freed for within <see cref="BusyWait"/>: 429 (default: with Retry-After, as the
    /// admission queue's, which OpenAI clients back off and retry) or 503. The body is OpenAI's error, code <c>workers_busy</c>.
    /// </summary>
    public int BusyStatus { get; set; } = 429;

    /// <summary>Largest <c>n</c> accepted. Default 16.</summary>
    public int MaxN { get; set; } = 16;

    /// <summary>
    /// Most sequences one request may ask for: prompts × <c>n</c> (a chat request has one prompt); over it, 400.
    /// Default 256, a full batch of a typical engine (vLLM's <c>max_num_seqs</c>): one request may fill the workers'
    /// batches but not the whole cluster's, and 128 prompts × <c>n</c> 16 (2,048 sequences from 7 KB) is refused.
    /// </summary>
    public int MaxSequencesPerRequest { get; set; } = 256;

    /// <summary>
    /// Most characters of prompt text in one request (all text prompts, or all message contents, together), checked
    /// before the chat template, tokenization and admission; over it, 400. Default 524,288 (512 Ki): English runs about
    /// 4 characters a token, so this admits a 128K-token context and refuses a megabyte.
    /// </summary>
    public int MaxPromptChars { get; set; } = 512 * 1024;

    /// <summary>Cap on <c>max_tokens</c>, on top of the model's context length; null = context length only.</summary>
    public int? MaxTokensCap { get; set; }

    /// <summary>Longest prompt in tokens; null = the model's context length.</summary>
    public int? MaxPromptTokens { get; set; }

    /// <summary>Longest silence from a worker stream before the request fails. Default 10 minutes.</summary>
    public TimeSpan WorkerStreamTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Times a request may move to another worker when its worker fails (connection refused, stream cut);
    /// the client sees one stream. Default 3; 0 disables migration.
    /// </summary>
    public int MigrationLimit { get; set; } = 3;

    /// <summary>How often a worker taken out after a failure is probed on <c>/health</c>. Default 2 s.</summary>
    public TimeSpan HealthProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Port for <c>/metrics</c>, <c>/health</c> and <c>/live</c> on their own; when set, the public port serves only
    /// the OpenAI API and the admin port only those. Null (default) serves everything on <see cref="Port"/>.
    /// </summary>
    public int? AdminPort { get; set; }

    /// <summary>
    /// Port of the KServe v2 gRPC frontend (<c>inference.GRPCInferenceService</c>, HTTP/2 without TLS); off when unset.
    /// Serves only gRPC, and the other ports serve none.
    /// </summary>
    public int? GrpcPort { get; set; }

    /// <summary>Kestrel's socket transport and the connections to workers (see <see cref="GatewayTransportOptions"/>).</summary>
    public GatewayTransportOptions Transport { get; set; } = new();

    /// <summary>API keys and per-key limits; none configured means open access.</summary>
    public Security.AuthOptions Auth { get; set; } = new();

    /// <summary>Browser origins allowed to call the API (<c>Cors:AllowedOrigins</c>); none by default.</summary>
    public Security.CrossOriginOptions Cors { get; set; } = new();

    /// <summary>Thresholds of conditional disaggregation; used only when prefill workers are in discovery.</summary>
    public Disaggregation.DisaggregationOptions Disaggregation { get; set; } = new();

    /// <summary>The Responses API's response store (<c>previous_response_id</c>, <c>GET /v1/responses/{id}</c>).</summary>
    public Responses.ResponsesOptions Responses { get; set; } = new();

    /// <summary>OTLP endpoint for traces; tracing export is off when empty (OTEL_EXPORTER_OTLP_ENDPOINT also works).</summary>
    public string? OtlpEndpoint { get; set; }
}
