using System.Globalization;

namespace Dynamo.Bench.Workload;

/// <summary>The multi-turn workloads (<c>--workload</c>): chat conversations or agentic tool-call loops.</summary>
public enum SessionKind
{
    /// <summary>Chat sessions: a few turns of user messages and assistant replies, minutes of think time.</summary>
    Conversation,

    /// <summary>Tool-call loops: tens of turns, short outputs (tool calls), tool results as input, short pauses.</summary>
    Agentic,
}

/// <summary>
/// The shape of a <see cref="ConversationWorkload"/>: how sessions arrive, what they share, how their turns grow.
/// <see cref="Defaults"/> gives each kind's defaults (bench/README.md says where the numbers come from); the CLI
/// overrides what its flags give.
/// </summary>
public sealed record SessionWorkloadOptions
{
    public SessionKind Kind { get; init; }

    /// <summary>Sessions to start; null: as many as <see cref="Requests"/> needs.</summary>
    public int? Sessions { get; init; }

    /// <summary>Stop after this many requests (turns), in arrival order; null: every turn of every session.</summary>
    public int? Requests { get; init; }

    /// <summary>New sessions per second.</summary>
    public double Rate { get; init; } = 1;

    /// <summary>How session starts are spaced: Poisson (default) or constant.</summary>
    public ArrivalProcess Arrival { get; init; } = ArrivalProcess.Poisson;

    /// <summary>Tokens of the system prompt every session starts with (the same blocks in all sessions); 0: none.</summary>
    public int SystemPromptTokens { get; init; }

    /// <summary>Shared documents a session may put after the system prompt; 0: none.</summary>
    public int Documents { get; init; }

    /// <summary>Length of each document (drawn once per workload).</summary>
    public LengthDistribution DocumentTokens { get; init; } = LengthDistribution.Fixed(2000);

    /// <summary>Fraction of sessions that carry a document (the others carry none).</summary>
    public double DocumentShare { get; init; } = 0.5;

    /// <summary>Popularity of the documents: document d (from 0) is drawn with weight 1 ÷ (d + 1)^s; 0 is uniform.</summary>
    public double DocumentZipf { get; init; } = 1;

    /// <summary>Tokens a turn appends as new input: the user's message (conversation) or the tool's result (agentic).</summary>
    public LengthDistribution TurnTokens { get; init; } = LengthDistribution.Fixed(100);

    /// <summary>Tokens each turn generates (the reply, or the tool call); appended to the context of the next turn.</summary>
    public LengthDistribution OutputTokens { get; init; } = LengthDistribution.Fixed(100);

    /// <summary>Turns in a session (heavy-tailed, e.g. pareto:1:1.1), cut at <see cref="MaxTurns"/>.</summary>
    public LengthDistribution Turns { get; init; } = LengthDistribution.Fixed(1);

    public int MaxTurns { get; init; } = 1;

    /// <summary>Milliseconds between the estimated end of a turn's reply and the next turn (user think time, tool latency).</summary>
    public LengthDistribution ThinkMs { get; init; } = LengthDistribution.Fixed(1000);

    /// <summary>Nominal inter-token latency, ms: a reply of n tokens is estimated to take n × this (the schedule is open loop).</summary>
    public double NominalItlMs { get; init; } = 10;

    public int Seed { get; init; }

    /// <summary>
    /// Defaults for a kind. Conversation: LMSYS-Chat-1M's user messages (mean 69.5 tokens) and replies (214.5), the
    /// Mooncake conversation trace's replies (343), a 1K-token system prompt and a RAG-like document in half of the
    /// sessions; turns pareto:1:1.1 capped at 40 (mean 3.6; LMSYS averages 2.0 turns, ShareGPT more, both with a long
    /// tail); 15 s median think time. Agentic: a 6K-token system prompt of tool definitions, 10-50 turns (pareto:10:2,
    /// mean 20), tool calls of about 60 tokens, tool results of a few hundred, 0.8 s median tool latency.
    /// </summary>
    public static SessionWorkloadOptions Defaults(SessionKind kind) => kind switch
    {
        SessionKind.Agentic => new SessionWorkloadOptions
        {
            Kind = kind,
            Rate = 0.2,
            SystemPromptTokens = 6000,
            Documents = 0,
            DocumentTokens = new LengthDistribution("lognormal", 2000, 0.6),
            DocumentShare = 0.5,
            TurnTokens = new LengthDistribution("lognormal", 300, 0.8),
            OutputTokens = new LengthDistribution("lognormal", 60, 0.5),
            Turns = new LengthDistribution("pareto", 10, 2),
            MaxTurns = 50,
            ThinkMs = new LengthDistribution("lognormal", 800, 1.0),
        },
        _ => new SessionWorkloadOptions
        {
            Kind = kind,
            Rate = 1,
            SystemPromptTokens = 1000,
            Documents = 32,
            DocumentTokens = new LengthDistribution("lognormal", 2000, 0.6),
            DocumentShare = 0.5,
            TurnTokens = new LengthDistribution("lognormal", 120, 1.0),
            OutputTokens = new LengthDistribution("lognormal", 250, 0.6),
            Turns = new LengthDistribution("pareto", 1, 1.1),
            MaxTurns = 40,
            ThinkMs = new LengthDistribution("lognormal", 15000, 1.0),
        },
    };

    /// <summary>Parses a <c>--workload</c> value (conversation or agentic, any case); null when it is neither.</summary>
    public static SessionKind? ParseKind(string text) => text?.Trim().ToLowerInvariant() switch
    {
        "conversation" => SessionKind.Conversation,
        "agentic" => SessionKind.Agentic,
        _ => null,
    };

    /// <summary>The first problem, phrased for the user (names the flag and the value), or null.</summary>
    public string? FirstError()
    {
        static string N(double x) => x.ToString(CultureInfo.InvariantCulture);
        if (Sessions is { } s && s < 1)
        {
            return $"--sessions must be at least 1 (got {s}).";
        }

        if (Requests is { } r && r < 1)
        {
            return $"--requests must be at least 1 (got {r}).";
        }

        if (Sessions is null && Requests is null)
        {
            return "--workload needs --sessions N or --requests N to end.";
        }

        if (!(Rate > 0 && double.IsFinite(Rate)))
        {
            return $"--rate must be a number > 0 new sessions/s (got {N(Rate)}).";
        }

        if (Arrival == ArrivalProcess.Trace)
        {
            return "--arrival trace needs --trace; sessions start by poisson or constant arrivals.";
        }

        if (SystemPromptTokens < 0)
        {
            return $"--system-prompt-tokens must be >= 0 (got {SystemPromptTokens}).";
        }

        if (Documents < 0)
        {
            return $"--documents must be >= 0 (got {Documents}).";
        }

        if (!(DocumentShare >= 0 && DocumentShare <= 1))
        {
            return $"--document-share must be a fraction from 0 to 1 (got {N(DocumentShare)}).";
        }

        if (!(DocumentZipf >= 0 && double.IsFinite(DocumentZipf)))
        {
            return $"--document-zipf must be a number >= 0 (got {N(DocumentZipf)}; 0 is uniform popularity).";
        }

        if (Documents > 0 && DocumentShare == 0)
        {
            return $"--document-share 0 gives no session a document: drop --documents {Documents} (or give --documents 0), or give a share > 0.";
        }

        if (MaxTurns < 1)
        {
            return $"--max-turns must be at least 1 (got {MaxTurns}).";
        }

        if (!(NominalItlMs >= 0 && double.IsFinite(NominalItlMs)))
        {
            return $"--nominal-itl-ms must be a number >= 0 (got {N(NominalItlMs)}).";
        }

        return null;
    }
}
