using System.CommandLine;
using Dynamo.Bench.Workload;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>--workload conversation|agentic</c> and the flags that shape it, shared by <c>dynamo bench</c> and
/// <c>dynamo replay</c>. The commands' own <c>--rate</c> (new sessions per second), <c>--arrival</c> (of session
/// starts), <c>--requests</c>, <c>--osl</c> (each turn's output) and <c>--seed</c> apply too. A shaping flag without
/// <c>--workload</c>, or a flag the workload would ignore, is refused.
/// </summary>
internal sealed class WorkloadFlags
{
    private readonly Option<string?> _workload = new("--workload") { Description = "Multi-turn sessions instead of a trace: conversation (chat) or agentic (tool-call loops). --rate is then new sessions per second, --osl each turn's output." };
    private readonly Option<int?> _sessions = new("--sessions") { Description = "--workload: sessions to start (default 100 unless --requests ends the run)." };
    private readonly Option<int?> _systemPrompt = new("--system-prompt-tokens") { Description = "--workload: system prompt shared by every session, tokens (conversation 1000, agentic 6000)." };
    private readonly Option<int?> _documents = new("--documents") { Description = "--workload: shared documents a session may carry after the system prompt (conversation 32, agentic 0)." };
    private readonly Option<string?> _documentTokens = new("--document-tokens") { Description = "--workload: document length, drawn once per document (default lognormal:2000:0.6)." };
    private readonly Option<double?> _documentShare = new("--document-share") { Description = "--workload: fraction of sessions that carry a document (default 0.5)." };
    private readonly Option<double?> _documentZipf = new("--document-zipf") { Description = "--workload: Zipf exponent of document popularity, 0 uniform (default 1)." };
    private readonly Option<string?> _turnTokens = new("--turn-tokens") { Description = "--workload: new input per turn, a user message or a tool result (conversation lognormal:120:1, agentic lognormal:300:0.8)." };
    private readonly Option<string?> _turns = new("--turns") { Description = "--workload: turns per session, e.g. pareto:MIN:ALPHA (conversation pareto:1:1.1, agentic pareto:10:2)." };
    private readonly Option<int?> _maxTurns = new("--max-turns") { Description = "--workload: cap on turns per session (conversation 40, agentic 50)." };
    private readonly Option<string?> _thinkMs = new("--think-ms") { Description = "--workload: pause after a turn's estimated reply before the next turn, ms (conversation lognormal:15000:1, agentic lognormal:800:1)." };
    private readonly Option<double?> _nominalItl = new("--nominal-itl-ms") { Description = "--workload: a reply of n tokens is estimated to take n × this to schedule the next turn (default 10)." };

    private IEnumerable<Option> Shaping => [_sessions, _systemPrompt, _documents, _documentTokens, _documentShare, _documentZipf, _turnTokens, _turns, _maxTurns, _thinkMs, _nominalItl];

    public void AddTo(Command command)
    {
        command.Options.Add(_workload);
        foreach (Option option in Shaping)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Whether <c>--workload</c> was given.</summary>
    public bool Given(ParseResult parse) => parse.GetValue(_workload) is not null;

    /// <summary>
    /// The session workload the command line asks for (null without <c>--workload</c>), or the first problem.
    /// <paramref name="conflicts"/>: the command's flags that do not apply to a session workload, each with the
    /// message to refuse it with.
    /// </summary>
    public (SessionWorkloadOptions? Options, string? Error) Parse(ParseResult parse, double? rate, string? arrival, int? requests, string? osl, int seed, IEnumerable<(Option Option, string Message)> conflicts)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(conflicts);
        if (parse.GetValue(_workload) is not { } text)
        {
            Option? stray = Shaping.FirstOrDefault(o => Explicit(parse, o));
            return (null, stray is null ? null : $"{stray.Name} shapes a session workload: give --workload conversation|agentic with it.");
        }

        if (SessionWorkloadOptions.ParseKind(text) is not { } kind)
        {
            return (null, $"--workload must be conversation or agentic (got '{text}').");
        }

        foreach ((Option option, string message) in conflicts)
        {
            if (Explicit(parse, option))
            {
                return (null, message);
            }
        }

        SessionWorkloadOptions o = SessionWorkloadOptions.Defaults(kind);
        try
        {
            o = o with
            {
                Sessions = parse.GetValue(_sessions) ?? (requests is null ? 100 : null),
                Requests = requests,
                Rate = rate ?? o.Rate,
                Arrival = arrival is null ? ArrivalProcess.Poisson : Dynamo.Bench.Load.BenchArguments.ParseArrival(arrival) ?? throw new FormatException($"--arrival must be poisson or constant (got '{arrival}')."),
                SystemPromptTokens = parse.GetValue(_systemPrompt) ?? o.SystemPromptTokens,
                Documents = parse.GetValue(_documents) ?? o.Documents,
                DocumentTokens = Length(parse, _documentTokens) ?? o.DocumentTokens,
                DocumentShare = parse.GetValue(_documentShare) ?? o.DocumentShare,
                DocumentZipf = parse.GetValue(_documentZipf) ?? o.DocumentZipf,
                TurnTokens = Length(parse, _turnTokens) ?? o.TurnTokens,
                OutputTokens = osl is null ? o.OutputTokens : LengthDistribution.Parse(osl, "--osl"),
                Turns = Length(parse, _turns) ?? o.Turns,
                MaxTurns = parse.GetValue(_maxTurns) ?? o.MaxTurns,
                ThinkMs = Length(parse, _thinkMs) ?? o.ThinkMs,
                NominalItlMs = parse.GetValue(_nominalItl) ?? o.NominalItlMs,
                Seed = seed,
            };
        }
        catch (FormatException bad)
        {
            return (null, bad.Message);
        }

        if (o.Documents == 0 && new Option[] { _documentTokens, _documentShare, _documentZipf }.FirstOrDefault(f => Explicit(parse, f)) is { } unused)
        {
            return (null, $"{unused.Name} has no effect without documents: give --documents N (N > 0) with it{(kind == SessionKind.Agentic ? " (agentic has none by default)" : "")}.");
        }

        return (o, o.FirstError());
    }

    private static bool Explicit(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    private static LengthDistribution? Length(ParseResult parse, Option<string?> option) =>
        parse.GetValue(option) is { } text ? LengthDistribution.Parse(text, option.Name) : null;
}
