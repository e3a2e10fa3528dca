namespace Dynamo.Router;

/// <summary>Options bound from <c>Dynamo:Router</c> (see <see cref="RouterConfiguration"/>); defaults follow NVIDIA Dynamo's router.</summary>
public sealed class RouterOptions
{
    public const string SectionName = "Dynamo:Router";

    /// <summary>Selection policy. Default <see cref="RouterMode.Kv"/>, the KV-cache-aware router.</summary>
    public RouterMode Mode { get; set; } = RouterMode.Kv;

    /// <summary>Seed for the random choices (random policy, tie-breaks, temperature sampling); null seeds from the clock.</summary>
    public int? Seed { get; set; }

    /// <summary>Active-load entries older than this are dropped (a lost completion must not pin load forever). Default 10 min.</summary>
    public TimeSpan ActiveRequestTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// kv: weight of the prefill term of the cost against the decode term. Default 1.0. Larger values chase cache hits
    /// harder (better TTFT on shared prefixes); smaller ones balance decode load more (better ITL).
    /// </summary>
    public double PrefillLoadScale { get; set; } = 1.0;

    /// <summary>
    /// kv: how a candidate is priced. <see cref="KvCostModel.Predicted"/> (default): the request's predicted time to
    /// first token there, plus its decode load weighted by <see cref="DecodeImpactWeight"/> (<c>TtftPredictor</c>,
    /// timed by <see cref="Timing"/>), with the balance thresholds as hot-spot control. <see cref="KvCostModel.Blocks"/>: the design's cost in blocks (prefill blocks scaled by
    /// <see cref="PrefillLoadScale"/> plus every active request's blocks), the router before issue 19.
    /// </summary>
    public KvCostModel Cost { get; set; } = KvCostModel.Predicted;

    /// <summary>kv, predicted cost: the engine's step timing the prediction uses.</summary>
    public RouterTiming Timing { get; set; } = new();

    /// <summary>
    /// kv, predicted cost: weight of the decode term (the stall a request's prefill puts on the running decodes, the
    /// time its decode steps add to theirs and theirs to its own, in ms summed over the requests) against its time to
    /// first token. Default 0: route for TTFT alone, which on the shipped traces also gave the best ITL (better cache hits
    /// leave less prefill to interleave); raise it where decode latency matters more than time to first token.
    /// </summary>
    public double DecodeImpactWeight { get; set; }

    /// <summary>
    /// kv, predicted cost: output tokens a request is expected to generate, for the decode term (used only when
    /// <see cref="DecodeImpactWeight"/> is above 0). Default 256.
    /// </summary>
    public int ExpectedOutputTokens { get; set; } = 256;

    /// <summary>
    /// kv, predicted cost, hot-spot control: when the cheapest worker has more than this many requests in flight above the least busy
    /// candidate (and more than <see cref="BalanceRelativeThreshold"/> times its count), the request goes to the
    /// cheapest of the workers within the thresholds instead. Default 4; 0 turns the control off. In every mode, the
    /// same test says when a session's worker is overloaded, so that the session moves (0: sessions never move for load).
    /// </summary>
    public int BalanceAbsoluteThreshold { get; set; } = 4;

    /// <summary>kv, predicted cost, hot-spot control: the ratio of in-flight requests, cheapest over least busy, that must also be exceeded. Default 1.5.</summary>
    public double BalanceRelativeThreshold { get; set; } = 1.5;

    /// <summary>
    /// kv, predicted cost: milliseconds added to a candidate's cost per unit of its recent busy fraction (the share of
    /// the last <see cref="BusyWindow"/> it had a request in flight, as the router saw it), for a prompt of
    /// <see cref="BusyCostTokens"/> tokens or more; shorter prompts pay in proportion to their length. A worker that
    /// holds a prefix but has been busy loses a request whose cache saving there is worth less than the difference, so
    /// new sessions (a shared system prompt, nothing of their own cached yet) go to the idle workers, and long sessions
    /// stay where their context is. Applied only where some candidate holds part of the prompt. 0 turns it off.
    /// Default 600: on the replay grid (conversation and agentic sessions, 1x-3x load, 16 workers; bench/README.md,
    /// "The busy cost") it brought the agentic workload's busiest worker from 2.13 to 1.27 times the mean busy time at
    /// 2x load and kept every cell at 91 % or more of the oracle's TTFT gain over round-robin. With the length scaling a
    /// short prefix is safe on a lightly loaded cluster: a fully cached prompt under <see cref="BusyCostTokens"/> leaves
    /// its holder only when the holder has been busy some 40 % more of the window than another candidate (its saving,
    /// 0.03 ms a token at the default <see cref="Timing"/>, against 600 ÷ 8,192 = 0.073 ms a token per unit of busy
    /// fraction); the unscaled term (<see cref="BusyCostTokens"/> 0) moves a 512-token document off a holder 3 % busy.
    /// </summary>
    public double BusyCostMs { get; set; } = 600;

    /// <summary>
    /// kv, predicted cost: the prompt length, in tokens, at which <see cref="BusyCostMs"/> applies in full; a shorter
    /// prompt's busy cost is scaled by its length over this. Default 8,192 (the grid's best of 4,096, 8,192 and
    /// 16,384); 0 applies the full cost to every prompt.
    /// </summary>
    public int BusyCostTokens { get; set; } = 8192;

    /// <summary>
    /// kv, predicted cost: the busy fraction at or below which <see cref="BusyCostMs"/> costs nothing; above it the cost
    /// rises linearly to the full <see cref="BusyCostMs"/> at a fraction of 1. Default 0: floors of 0.1-0.4 cost the grid
    /// TTFT and balance (bench/README.md, "The busy cost"), and the length scaling already keeps a lightly loaded
    /// cluster's short prefixes on their holders.
    /// </summary>
    public double BusyFloor { get; set; }

    /// <summary>kv, predicted cost: the time constant of each worker's busy fraction for <see cref="BusyCostMs"/>. Default 10 s.</summary>
    public TimeSpan BusyWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Busy threshold, every mode: a worker whose newest load report (<c>load_metrics</c>) shows this share of its KV
    /// blocks or more in use by live sequences takes no new requests while another candidate is not busy; when every
    /// candidate is busy the gateway holds the request (<c>Dynamo:Gateway:BusyWait</c>). Default 0.95: with its
    /// KV pool that full an engine queues or preempts what it is sent next, while a worker with room serves it at once;
    /// a lightly loaded cluster never comes near it. 0 turns it off; otherwise above 0 and at most 1.
    /// </summary>
    public double BusyKvUsage { get; set; } = 0.95;

    /// <summary>
    /// Busy threshold, every mode: a worker with this many requests waiting (admitted but not yet in its batch) or more
    /// is busy, as for <see cref="BusyKvUsage"/>. The count is the newest report's, moved by this router's own requests
    /// since: while the report shows a queue, each request sent there joins it and each one that ends there lets one
    /// in. Default 16: an engine queues only once its batch or KV pool is full, so a lightly loaded cluster never
    /// reaches it, and sixteen queued requests wait several steps that an idle worker would not. 0 turns it off.
    /// </summary>
    public int BusyWaitingRequests { get; set; } = 16;

    /// <summary>
    /// Busy thresholds: a load report older than this (since it arrived) is stale and never makes its worker busy.
    /// Default 3 s, three of the workers' default <c>Dynamo:Worker:LoadReportInterval</c> (1 s); keep it about three
    /// intervals where that is changed.
    /// </summary>
    public TimeSpan LoadReportMaxAge { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Whether either busy threshold is on.</summary>
    internal bool BusyThresholdsOn => BusyKvUsage > 0 || BusyWaitingRequests > 0;

    /// <summary>
    /// Session affinity (every mode): how long a session (<c>nvext.session_id</c>) is remembered on its worker after its
    /// last request. Default 30 min.
    /// </summary>
    public TimeSpan SessionTtl { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Session affinity (every mode): most sessions remembered; beyond it the least recently used is forgotten (its next
    /// request is placed afresh). Default 100,000 (some 10 MB).
    /// </summary>
    public int MaxSessions { get; set; } = 100_000;

    /// <summary>kv: softmax temperature over normalized costs; 0 (default) always takes the cheapest worker.</summary>
    public double Temperature { get; set; }

    /// <summary>
    /// kv: build the prefix index from the workers' KV events (default true). False is approximate mode: the router
    /// indexes its own decisions for <see cref="ApproximateTtl"/>, for engines that publish no events.
    /// </summary>
    public bool UseKvEvents { get; set; } = true;

    /// <summary>kv, approximate mode: how long a routed prompt counts as cached on its worker. Default 120 s.</summary>
    public TimeSpan ApproximateTtl { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>kv: share active load with other router replicas over the event plane. Default true.</summary>
    public bool ReplicaSync { get; set; } = true;

    public static bool TryParseMode(string value, out RouterMode mode)
    {
        ArgumentNullException.ThrowIfNull(value);
        switch (value.Trim().ToLowerInvariant())
        {
            case "round-robin" or "roundrobin" or "rr":
                mode = RouterMode.RoundRobin;
                return true;
            case "random":
                mode = RouterMode.Random;
                return true;
            case "least-loaded" or "leastloaded":
                mode = RouterMode.LeastLoaded;
                return true;
            case "kv":
                mode = RouterMode.Kv;
                return true;
            default:
                mode = default;
                return false;
        }
    }

    public static bool TryParseCost(string value, out KvCostModel cost)
    {
        ArgumentNullException.ThrowIfNull(value);
        switch (value.Trim().ToLowerInvariant())
        {
            case "predicted":
                cost = KvCostModel.Predicted;
                return true;
            case "blocks":
                cost = KvCostModel.Blocks;
                return true;
            default:
                cost = default;
                return false;
        }
    }

    /// <summary>Every bad setting, each naming its key and value; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        const string S = SectionName;
        if (!Enum.IsDefined(Mode))
        {
            errors.Add($"{S}:Mode = '{Mode}': expected round-robin, random, least-loaded or kv.");
        }

        if (ActiveRequestTtl <= TimeSpan.Zero)
        {
            errors.Add($"{S}:ActiveRequestTtl = '{ActiveRequestTtl}': expected a positive time span such as 00:10:00.");
        }

        if (!double.IsFinite(PrefillLoadScale) || PrefillLoadScale < 0)
        {
            errors.Add($"{S}:PrefillLoadScale = '{PrefillLoadScale}': must be a finite number >= 0.");
        }

        if (!double.IsFinite(Temperature) || Temperature < 0)
        {
            errors.Add($"{S}:Temperature = '{Temperature}': must be a finite number >= 0.");
        }

        if (!Enum.IsDefined(Cost))
        {
            errors.Add($"{S}:Cost = '{Cost}': expected predicted or blocks.");
        }

        if (!double.IsFinite(DecodeImpactWeight) || DecodeImpactWeight < 0)
        {
            errors.Add($"{S}:DecodeImpactWeight = '{DecodeImpactWeight}': must be a finite number >= 0.");
        }

        if (BalanceAbsoluteThreshold < 0)
        {
            errors.Add($"{S}:BalanceAbsoluteThreshold = '{BalanceAbsoluteThreshold}': must be 0 (off) or more.");
        }

        if (!double.IsFinite(BalanceRelativeThreshold) || BalanceRelativeThreshold < 1)
        {
            errors.Add($"{S}:BalanceRelativeThreshold = '{BalanceRelativeThreshold}': must be a finite number >= 1.");
        }

        if (!double.IsFinite(BusyCostMs) || BusyCostMs < 0)
        {
            errors.Add($"{S}:BusyCostMs = '{BusyCostMs}': must be a finite number >= 0 (milliseconds; 0 off).");
        }

        if (BusyCostTokens < 0)
        {
            errors.Add($"{S}:BusyCostTokens = '{BusyCostTokens}': must be 0 (the full busy cost for every prompt) or a number of tokens.");
        }

        if (!double.IsFinite(BusyFloor) || BusyFloor < 0 || BusyFloor >= 1)
        {
            errors.Add($"{S}:BusyFloor = '{BusyFloor}': must be a fraction >= 0 and < 1 (the busy fraction below which the busy cost is 0).");
        }

        if (BusyWindow <= TimeSpan.Zero)
        {
            errors.Add($"{S}:BusyWindow = '{BusyWindow}': expected a positive time span such as 00:00:10.");
        }

        if (!double.IsFinite(BusyKvUsage) || BusyKvUsage < 0 || BusyKvUsage > 1)
        {
            errors.Add($"{S}:BusyKvUsage = '{BusyKvUsage}': must be 0 (off) or a fraction of the KV pool above 0 and at most 1, such as 0.95.");
        }

        if (BusyWaitingRequests < 0)
        {
            errors.Add($"{S}:BusyWaitingRequests = '{BusyWaitingRequests}': must be 0 (off) or more.");
        }

        if (LoadReportMaxAge <= TimeSpan.Zero)
        {
            errors.Add($"{S}:LoadReportMaxAge = '{LoadReportMaxAge}': expected a positive time span such as 00:00:03.");
        }

        if (ExpectedOutputTokens < 0)
        {
            errors.Add($"{S}:ExpectedOutputTokens = '{ExpectedOutputTokens}': must be 0 or more.");
        }

        if (Cost == KvCostModel.Predicted && PrefillLoadScale != 1.0)
        {
            errors.Add($"{S}:PrefillLoadScale = '{PrefillLoadScale}': applies to Cost: blocks only; set {S}:Cost to blocks, or tune DecodeImpactWeight for the predicted cost.");
        }

        if (Timing is null)
        {
            errors.Add($"{S}:Timing: must not be empty.");
        }
        else
        {
            Timing.Validate(errors, $"{S}:Timing");
        }

        if (SessionTtl <= TimeSpan.Zero)
        {
            errors.Add($"{S}:SessionTtl = '{SessionTtl}': expected a positive time span such as 00:30:00.");
        }

        if (MaxSessions < 1)
        {
            errors.Add($"{S}:MaxSessions = '{MaxSessions}': must be 1 or more.");
        }

        if (ApproximateTtl <= TimeSpan.Zero)
        {
            errors.Add($"{S}:ApproximateTtl = '{ApproximateTtl}': expected a positive time span such as 00:02:00.");
        }

        return errors;
    }
}

/// <summary>How the KV router prices a candidate worker (<c>Dynamo:Router:Cost</c>).</summary>
public enum KvCostModel
{
    /// <summary>Predicted time to first token plus the weighted delay to running decodes, in ms.</summary>
    Predicted,

    /// <summary>The design's cost in blocks: scaled prefill blocks plus every active request's blocks.</summary>
    Blocks,
}
